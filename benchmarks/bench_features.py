"""Speed of log-mel extraction: skasd's LogMelSpectrogram against plain numpy / scipy.

All methods compute the same thing: 128-band log-mel spectrograms
(n_fft=1024, hop 512, Hann window, centred zero-padded frames, Slaney mel
filterbank, 10 * log10(max(mel power, eps))) of the same 200 clips of 10 s
at 16 kHz (Gaussian noise, seed 0), in batches of 4 clips, on the CPU
(``device="cpu"``, also on a machine with a GPU). Besides skasd and
the numpy / scipy baselines, one row is the design skasd did not take for
``n_jobs``: batches in sequence with torch's own threads inside each.

Each method runs in a fresh subprocess so that its peak memory is its own;
it is warmed up on a few clips, then timed over all clips, best of three.
Everything is measured twice: alone, and beside a busy-loop process that
occupies one core, as on a shared machine. The script prints a markdown
table and writes it as the section "## Log-mel feature extraction" of
docs/benchmarks.md, replacing only that section.

    .venv/bin/python benchmarks/bench_features.py
"""

import datetime
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.fft
import torch
import torchaudio

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("skasd") is None:
    # Run from a checkout where skasd is not installed.
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

from skasd import LogMelSpectrogram  # noqa: E402
from skasd.utils._torch import torch_threads  # noqa: E402

SECTION_TITLE = "## Log-mel feature extraction"

N_CLIPS = 200
CLIP_SECONDS = 10.0
SAMPLE_RATE = 16000
N_FFT = 1024
HOP_LENGTH = 512
N_MELS = 128
BATCH_SIZE = 4  # skasd's default
EPS = float(np.finfo(np.float64).eps)
REPEATS = 3
N_CPUS = os.cpu_count()


def make_clips():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N_CLIPS, int(CLIP_SECONDS * SAMPLE_RATE)), dtype=np.float32)


def mel_matrix():
    """The filterbank as a (n_freqs, n_mels) numpy matrix, built once outside the timing."""
    return torchaudio.functional.melscale_fbanks(
        N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE, norm="slaney", mel_scale="slaney"
    ).numpy()


def framed_log_mel(X, rfft, window, mel):
    """Log-mel of a batch with framing by strides, ``rfft`` over frames and a matrix product."""
    padded = np.pad(X, ((0, 0), (N_FFT // 2, N_FFT // 2)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=-1)[:, ::HOP_LENGTH]
    power = np.abs(rfft(frames * window, axis=-1)) ** 2
    mel_power = power @ mel  # (batch, n_frames, n_mels)
    return 10 * np.log10(np.maximum(mel_power, EPS)).transpose(0, 2, 1)


def numpy_baseline(fft_name):
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    mel = mel_matrix()
    if fft_name == "numpy":
        rfft = np.fft.rfft
    else:

        def rfft(frames, axis):
            return scipy.fft.rfft(frames, axis=axis, workers=N_CPUS)

    def extract(X):
        batches = [
            framed_log_mel(X[start : start + BATCH_SIZE], rfft, window, mel)
            for start in range(0, len(X), BATCH_SIZE)
        ]
        return np.concatenate(batches).astype(np.float32)

    return extract


def torch_threads_per_batch():
    """The alternative design for n_jobs: batches in sequence, torch's threads inside each."""
    mel_spectrogram = torchaudio.transforms.MelSpectrogram(
        SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        n_mels=N_MELS,
        pad_mode="constant",
        norm="slaney",
        mel_scale="slaney",
    )

    def extract(X):
        with torch_threads(N_CPUS), torch.inference_mode():
            mel_power = [
                mel_spectrogram(torch.from_numpy(X[start : start + BATCH_SIZE]))
                for start in range(0, len(X), BATCH_SIZE)
            ]
            batches = [10 * torch.log10(batch.clamp(min=EPS)) for batch in mel_power]
        return torch.cat(batches).numpy()

    return extract


METHODS = {
    "skasd LogMelSpectrogram, defaults (n_jobs=None: 1 thread)": (
        lambda: LogMelSpectrogram(device="cpu").transform
    ),
    f"skasd LogMelSpectrogram, n_jobs=-1 ({N_CPUS} joblib threads)": (
        lambda: LogMelSpectrogram(device="cpu", n_jobs=-1).transform
    ),
    f"alternative design: torch's {N_CPUS} intra-op threads, batches in sequence": (
        torch_threads_per_batch
    ),
    "numpy rfft + mel matrix": lambda: numpy_baseline("numpy"),
    f"scipy.fft rfft (workers={N_CPUS}) + mel matrix": lambda: numpy_baseline("scipy"),
}


def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_worker(name):
    """Time one method on the clips, in this process; print a JSON line."""
    X = make_clips()
    extract = METHODS[name]()
    extract(X[:BATCH_SIZE])  # warm-up: lazy initialisation, caches
    before_mib = resident_mib()
    seconds = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        log_mel = extract(X)
        seconds = min(seconds, time.perf_counter() - start)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reference = LogMelSpectrogram(device="cpu").transform(X[:BATCH_SIZE])
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_extra_mib": peak_mib - before_mib,
                "max_abs_db_difference": float(np.abs(log_mel[:BATCH_SIZE] - reference).max()),
                "shape": list(log_mel.shape),
            }
        )
    )


def measure(name):
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", name],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure_all():
    return {name: measure(name) for name in METHODS}


def measure_all_beside_a_busy_process():
    """As on a shared machine or CI runner: one core-hogging process runs alongside."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        return measure_all()
    finally:
        busy.kill()
        busy.wait()


def markdown_section(idle, contended, load_before, load_after):
    audio_seconds = N_CLIPS * CLIP_SECONDS
    output_shape = tuple(next(iter(idle.values()))["shape"])
    lines = [
        SECTION_TITLE,
        "",
        f"Log-mel spectrograms of {N_CLIPS} clips of {CLIP_SECONDS:g} s at {SAMPLE_RATE} Hz "
        f"(n_fft={N_FFT}, hop {HOP_LENGTH}, {N_MELS} Slaney mel bands, "
        f"10 log10(max(mel, eps)); output {output_shape} float32) in batches of {BATCH_SIZE} "
        f"clips; best of {REPEATS} runs, each method in its own process. \"alone\": no other "
        "process of the benchmark runs meanwhile (other users' work may: see the load "
        "average); \"beside a busy process\": a pure-Python busy loop occupies one core "
        "meanwhile, as on a shared machine or CI runner.",
        "",
        f"- Machine: {N_CPUS} CPU cores ({platform.processor() or platform.machine()}), "
        f"{platform.system()}, device=\"cpu\"; 1-minute load average {load_before:.2f} before "
        f"and {load_after:.2f} after the whole run",
        f"- Software: Python {platform.python_version()}, torch {torch.__version__}, "
        f"torchaudio {torchaudio.__version__}, numpy {np.__version__}, scipy {scipy.__version__}",
        f"- Date: {datetime.date.today().isoformat()}",
        "- Command: `.venv/bin/python benchmarks/bench_features.py`",
        "",
        "| method | clips/s alone | x real time alone | clips/s beside a busy process "
        "| x real time beside a busy process | peak memory above input (MiB) "
        "| max abs difference to skasd (dB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in idle.items():
        alone, beside = result["seconds"], contended[name]["seconds"]
        lines.append(
            f"| {name} | {N_CLIPS / alone:,.0f} | {audio_seconds / alone:,.0f} "
            f"| {N_CLIPS / beside:,.0f} | {audio_seconds / beside:,.0f} "
            f"| {result['peak_extra_mib']:,.0f} | {result['max_abs_db_difference']:.1e} |"
        )
    lines += [
        "",
        "Peak memory is the worker's peak resident memory minus its resident memory after "
        f"loading the {N_CLIPS * CLIP_SECONDS * SAMPLE_RATE * 4 / 2**20:.0f} MiB of input; "
        "it includes the output array. Timings on a shared machine vary from run to run; "
        "compare rows within one run.",
        "",
    ]
    return "\n".join(lines)


def main():
    load_before = os.getloadavg()[0]
    idle = measure_all()
    contended = measure_all_beside_a_busy_process()
    section = markdown_section(idle, contended, load_before, os.getloadavg()[0])
    print(section)
    write_section(section)
    print("Wrote the section to docs/benchmarks.md")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        run_worker(sys.argv[2])
    else:
        main()
