"""Training throughput of MultiBranchEmbedder through skorch against a bare torch loop.

The same network (MultiBranchNet: 256 ms STFT, 8 ms STFT and full-spectrum
branches, channels (16, 32, 64, 128), 3 x 128-d), the same subspace loss,
AdamW (lr 1e-3, weight decay 0.01), batch size 100, mixup with probability
0.5, on the same 400 generated clips of 2 s at 16 kHz, on the CPU:

- skorch: ``MultiBranchEmbedder(...).fit(X, y)``, everything skasd does in
  ``fit`` (validation of the input, the skorch net with its data loader,
  callbacks and history);
- bare torch: a hand-written loop over shuffled index batches of one tensor
  holding all clips, with the same mixup, forward, backward and step.

Each side trains ``EPOCHS`` epochs in a fresh subprocess (after a warm-up
epoch on a quarter of the clips), round robin, best of ``REPEATS``; the throughput is clips per second of training (epochs x
clips / wall time of the training, network construction included). The
script prints a markdown section and writes it as "## Embedder training
throughput" of docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_training_overhead.py
"""

import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("skasd") is None:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

SECTION_TITLE = "## Embedder training throughput"
N_CLIPS = 400
EPOCHS = 2
REPEATS = 3
BATCH_SIZE = 100
PARAMS = dict(
    branches=("stft_256ms", "stft_8ms", "spectrum"),
    embedding_dim=128,
    channels=(16, 32, 64, 128),
    loss="subspace",
    n_subclusters=16,
    mixup_probability=0.5,
    lr=1e-3,
    weight_decay=0.01,
    batch_size=BATCH_SIZE,
    max_epochs=EPOCHS,
    device="cpu",
    verbose=0,
)


def _data():
    import numpy as np

    from skasd.datasets import make_machine_sounds

    data = make_machine_sounds(n_source_train=N_CLIPS // 4 - 10, n_test_normal=0, n_test_anomalous=0, random_state=0)
    X = data.data.astype(np.float32)
    return X, data.frame["aux_label"].to_numpy()


def _run_skorch(X, y, epochs=EPOCHS):
    from skasd import MultiBranchEmbedder

    start = time.perf_counter()
    MultiBranchEmbedder(**{**PARAMS, "max_epochs": epochs}, random_state=0).fit(X, y)
    return time.perf_counter() - start


def _run_bare(X, y, epochs=EPOCHS):
    import numpy as np
    import torch

    from skasd.embedding._losses import SubspaceLoss
    from skasd.embedding._multibranch import MultiBranchNet

    start = time.perf_counter()
    torch.manual_seed(0)
    classes, targets = np.unique(y, return_inverse=True)
    n_classes = len(classes)
    module = MultiBranchNet(PARAMS["branches"], 16000, PARAMS["channels"], PARAMS["embedding_dim"])
    criterion = SubspaceLoss(n_classes, [PARAMS["embedding_dim"]] * 3, n_subclusters=PARAMS["n_subclusters"])
    optimizer = torch.optim.AdamW(
        list(module.parameters()) + list(criterion.parameters()), lr=PARAMS["lr"], weight_decay=PARAMS["weight_decay"]
    )
    inputs = torch.from_numpy(X)
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(targets), n_classes).float()
    module.train()
    criterion.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs))
        for first in range(0, len(inputs) - BATCH_SIZE + 1, BATCH_SIZE):
            index = order[first : first + BATCH_SIZE]
            batch, batch_targets = inputs[index], one_hot[index]
            if torch.rand(()) < PARAMS["mixup_probability"]:
                partner = torch.randperm(BATCH_SIZE)
                lam = torch.rand(BATCH_SIZE, 1)
                batch = lam * batch + (1 - lam) * batch[partner]
                batch_targets = lam * batch_targets + (1 - lam) * batch_targets[partner]
            optimizer.zero_grad()
            loss = criterion(module(batch), batch_targets)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def _child(method):
    X, y = _data()
    run = {"skorch": _run_skorch, "bare": _run_bare}[method]
    # The first batches of a process are slower (memory allocation, oneDNN
    # kernel selection): warm up with one epoch on a quarter of the clips.
    run(X[::4], y[::4], epochs=1)
    seconds = run(X, y)
    print(json.dumps({"method": method, "seconds": seconds, "n_clips": len(X)}))


def main():
    results = {"skorch": [], "bare": []}
    for _ in range(REPEATS):
        for method in results:
            out = subprocess.run(
                [sys.executable, __file__, "--child", method], capture_output=True, text=True, check=True
            ).stdout
            record = json.loads(out.strip().splitlines()[-1])
            results[method].append(record["seconds"])
            print(method, f"{record['seconds']:.1f} s", flush=True)
    n_clips = record["n_clips"]
    # Full batches only in both loops (skorch drops the last, incomplete batch too).
    trained = EPOCHS * (n_clips // BATCH_SIZE) * BATCH_SIZE
    best = {method: min(times) for method, times in results.items()}
    overhead = best["skorch"] / best["bare"] - 1
    lines = [
        SECTION_TITLE,
        "",
        f"`benchmarks/bench_training_overhead.py`, {datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores, torch threads at their default. MultiBranchEmbedder's network (three branches: "
        "256 ms and 8 ms STFT and the full spectrum, channels (16, 32, 64, 128), 3 x 128-d) with the subspace "
        f"loss, AdamW, batch {BATCH_SIZE}, mixup p = 0.5, {EPOCHS} epochs on {n_clips} generated 2 s clips, on the "
        f"CPU; each run in a fresh process after a warm-up epoch on 100 clips, best of {REPEATS} each.",
        "",
        "| training loop | wall time (s) | clips / s |",
        "|---|---:|---:|",
        f"| skasd `MultiBranchEmbedder.fit` (skorch) | {best['skorch']:.1f} | {trained / best['skorch']:.1f} |",
        f"| bare torch loop, same module, loss and data | {best['bare']:.1f} | {trained / best['bare']:.1f} |",
        "",
        f"skorch's overhead: {100 * overhead:+.1f} % of the bare loop's time (target: under 10 %). All runs "
        f"(s): skorch {', '.join(f'{t:.1f}' for t in results['skorch'])}; bare "
        f"{', '.join(f'{t:.1f}' for t in results['bare'])}.",
    ]
    section = "\n".join(lines)
    print(section)
    write_section(section)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        main()
