"""``skasd evaluate`` on a development set of the real size: wall time, clips per second, peak memory.

A folder in the DCASE 2023 layout is written with ``make_machine_sounds`` and
``save_dcase`` at the challenge's size (the generator's four sound models
stand in for the seven machine types): per machine type 990 source and 10
target training clips and 200 test clips (50 normal and 50 anomalous per
domain) of 10 s at 16 kHz, 1,200 clips; 7 machine types make the 8,400
clips of a development set (``--machine-types N`` for fewer; the folder is
kept in ``--data-dir`` and reused).

Each pipeline runs as a user runs it, ``python -m skasd evaluate --data DIR
--pipeline NAME --no-plots``, in a fresh process: wall time, peak resident
memory (``ru_maxrss`` from ``os.wait4``, which counts the pages of a
memory-mapped file the process has read) and peak anonymous memory
(``RssAnon``, polled: what the kernel cannot drop), side by side:

- skasd now: one machine type read, fitted and scored at a time, or, for
  an embedding shared by all machine types, each split a memory map on disk;
- skasd at commit d6ca6b3, which read every clip of every machine type into
  one array first, run from a ``git worktree`` of that commit (skipped
  outside a git checkout).

Pipelines: ``logmel-density`` on all machine types and on one;
``soundnet-density`` (about 20 ms per clip on 2 cores) and
``multibranch-kmeans`` with ``--epochs`` epochs (its full training takes
hours on 2 cores; memory does not depend on the epochs) on
``--slow-machine-types`` of them; the default ``mean-ensemble`` on one.
Writes the "## Full-size development set" section of docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_full_size.py [--machine-types 7] [--slow-machine-types 2] [--epochs 2]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "d6ca6b3"
MACHINES = ("bearing", "fan", "gearbox", "slider", "ToyCar", "ToyTrain", "valve")
# The generator models four machine sounds; the other names of the 2023 set
# reuse one of them (with their own seed) so that the folder has the real
# names and the real number of machine types.
SOUND_MODEL = {"bearing": "bearing", "fan": "fan", "gearbox": "gearbox", "slider": "pump", "ToyCar": "gearbox",
               "ToyTrain": "fan", "valve": "pump"}


def write_data(folder, machine_types):
    from skasd.datasets import make_machine_sounds, save_dcase

    for machine in machine_types:
        if (folder / machine / "test").is_dir():
            continue
        started = time.perf_counter()
        data = make_machine_sounds(
            machine_types=(SOUND_MODEL[machine],), n_sections=1, n_source_train=990, n_target_train=10, n_test_normal=50,
            n_test_anomalous=50, duration=10.0, random_state=MACHINES.index(machine), verbose=0,
        )
        data.frame["machine"] = machine
        staging = folder / f".{machine}"
        save_dcase(data, staging)
        os.replace(staging / machine, folder / machine)
        shutil.rmtree(staging)
        print(f"wrote {machine}: {len(data.frame)} clips ({time.perf_counter() - started:.0f} s)", flush=True)


def peak_anonymous(pid, peak, stop):
    """Poll the process's anonymous resident memory (RssAnon: what the kernel cannot drop) until ``stop``."""
    status = Path(f"/proc/{pid}/status")
    while not stop.is_set():
        try:
            found = re.search(r"RssAnon:\s+(\d+) kB", status.read_text())
        except OSError:
            return
        if found:
            peak[0] = max(peak[0], int(found.group(1)))
        stop.wait(0.05)


def run(pythonpath, data, pipeline, machine_types, out):
    """Wall time, peak RSS and peak anonymous memory (GB), official score and printed lines of one run."""
    command = [sys.executable, "-m", "skasd", "evaluate", "--data", str(data), "--pipeline", str(pipeline),
               "--machine-types", *machine_types, "--out", str(out), "--no-plots"]
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=pythonpath)
        peak, stop = [0], threading.Event()
        poller = threading.Thread(target=peak_anonymous, args=(process.pid, peak, stop))
        poller.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        poller.join()
        wall = time.perf_counter() - started
        log.seek(0)
        printed = log.read()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{printed[-3000:]}")
    official = float(re.search(r"Official score[^:]*: ([0-9.]+)", printed).group(1))
    # ru_maxrss is in kB on Linux.
    return wall, usage.ru_maxrss / 1024**2, peak[0] / 1024**2, official


def shared_config(folder, epochs):
    """The multibranch-kmeans preset (one embedder for all machine types) with ``epochs`` epochs, as a TOML file."""
    from skasd._config import dump_toml
    from skasd.pipelines import preset_config

    config = preset_config("multibranch-kmeans")
    config["steps"][0]["params"]["max_epochs"] = epochs
    path = Path(folder) / f"multibranch-kmeans-{epochs}-epochs.toml"
    path.write_text(dump_toml(config))
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--machine-types", type=int, default=7)
    parser.add_argument("--slow-machine-types", type=int, default=2,
                        help="machine types of the soundnet-density and multibranch-kmeans runs")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the multibranch-kmeans runs")
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "skasd_full_size"))
    args = parser.parse_args()
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    machines = list(MACHINES[: args.machine_types])
    slow = machines[: args.slow_machine_types]
    write_data(data, machines)

    baseline = None
    if (ROOT / ".git").exists():
        baseline = Path(tempfile.mkdtemp()) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), BASELINE_COMMIT],
                       check=True, capture_output=True)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as out:
            multibranch = shared_config(out, args.epochs)
            plan = [
                ("logmel-density", "logmel-density", machines, True),
                ("logmel-density", "logmel-density", machines[:1], False),
                ("soundnet-density", "soundnet-density", slow, True),
                (f"multibranch-kmeans, {args.epochs} epochs", multibranch, slow, True),
                ("mean-ensemble (default)", "mean-ensemble", machines[:1], False),
            ]
            for label, pipeline, chosen, compare in plan:
                n_clips = 1200 * len(chosen)
                paths = [("skasd now", ROOT)]
                if compare and baseline is not None:
                    paths.append((f"skasd at {BASELINE_COMMIT}", baseline))
                for path_label, path in paths:
                    wall, peak_rss, peak_anon, official = run(path, data, pipeline, chosen,
                                                              Path(out) / f"run-{len(rows)}")
                    rows.append((label, len(chosen), n_clips, path_label, wall, n_clips / wall, peak_rss, peak_anon,
                                 official))
                    print(rows[-1], flush=True)
    finally:
        if baseline is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=False)
    lines = [
        "## Full-size development set",
        "",
        f"`benchmarks/bench_full_size.py --machine-types {args.machine_types} --slow-machine-types "
        f"{args.slow_machine_types} --epochs {args.epochs}`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores: "
        "`skasd evaluate --no-plots` in a fresh process on a generated DCASE 2023-layout folder of the real size "
        "(per machine type 1,000 training and 200 test clips of 10 s at 16 kHz; 7 machine types are the 8,400 "
        "clips of a development set), reading the clips included. Peak RSS: the process's maximum resident set "
        "(`ru_maxrss`), which counts the pages of a memory-mapped file it has read; peak anonymous: its largest "
        "`RssAnon` (polled every 50 ms), the memory the kernel cannot drop. Side by side with the same command at "
        f"commit {BASELINE_COMMIT}, which read every clip of every machine type into one array first; with one "
        "machine type the two paths are one. multibranch-kmeans (one embedder for all machine types) runs from "
        "a copy of the preset with fewer epochs, since its full training takes hours on 2 cores; "
        "its memory does not depend on the number of epochs.",
        "",
        "| pipeline | machine types | clips | skasd | wall time (s) | clips/s | peak RSS (GB) | peak anonymous (GB) "
        "| official score |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for label, n_types, n_clips, path_label, wall, rate, peak_rss, peak_anon, official in rows:
        lines.append(f"| {label} | {n_types} | {n_clips:,} | {path_label} | {wall:.0f} | {rate:.0f} | {peak_rss:.2f} "
                     f"| {peak_anon:.2f} | {official:.4f} |")
    section = "\n".join(lines) + "\n"
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
