"""Does a clip's score depend on the clips scored with it? Real valve clips alone and in one batch, and the cost.

- The valve split (``../shared/data/dcase2023t2_dev_valve_test``, 35 clips fitted, 165 scored): each preset
  fitted once (``random_state=0``), then ``score_samples`` of the 165 clips in one batch against one clip at a
  time: how many differ, and the largest relative difference.
- SoundNet's conv6 embedding of 48 valve clips with ``batch_size`` 1 (the default) and 4 (the former default):
  wall time, best of 3, and how many rows differ from one clip at a time.
- The trained networks at CPU test size on generated clips (2 machine types, 44 training clips of 1 s, 20 test
  clips): MultiBranchEmbedder embeddings and ConfidentPairSCAN scores in one batch against one at a time.

    .venv/bin/python benchmarks/bench_batch_invariance.py
"""

import importlib.util
import platform
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("skasd") is None:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_section  # noqa: E402

from skasd import ConfidentPairSCAN, MultiBranchEmbedder, SoundNetEmbedder  # noqa: E402
from skasd.datasets import first_normals_split, load_dcase, make_machine_sounds  # noqa: E402
from skasd.pipelines import fit_pipeline, make_preset  # noqa: E402

VALVE = ROOT.parent / "shared" / "data" / "dcase2023t2_dev_valve_test"
PRESETS = ["logmel-knn", "logmel-density", "logmel-max-density", "soundnet-density", "mean-ensemble"]


def alone_and_together(score, X):
    together = np.asarray(score(X))
    alone = np.concatenate([np.asarray(score(X[i : i + 1])) for i in range(len(X))])
    differ = (together != alone).reshape(len(X), -1).any(axis=1)
    relative = np.abs(together - alone) / np.maximum(np.abs(together), 1e-12)
    return int(differ.sum()), float(relative.max()), float(np.abs(together - alone).max())


def main():
    warnings.simplefilter("ignore")
    data = load_dcase(VALVE, verbose=0)
    fit = first_normals_split(data.frame, n_source=30, n_target=5)
    rows = []
    for name in PRESETS:
        model = fit_pipeline(make_preset(name, sample_rate=data.sample_rate, random_state=0), data.data[fit],
                             data.frame[fit])
        n, rel, _ = alone_and_together(model.score_samples, data.data[~fit])
        rows.append(f"| `{name}` | {n} of 165 | {rel:.1e} |")
        print(rows[-1], flush=True)
    X = data.data[:48]
    timing = []
    for batch_size in (1, 4):
        embedder = SoundNetEmbedder(layer="conv6", batch_size=batch_size, n_jobs=1).fit(X[:2])
        best = min(_timed(embedder.transform, X) for _ in range(3))
        n, rel, _ = alone_and_together(embedder.transform, X)
        timing.append(f"| {batch_size} | {best:.2f} | {n} of 48 | {rel:.1e} |")
        print(timing[-1], flush=True)
    generated = make_machine_sounds(machine_types=("fan", "pump"), n_source_train=20, n_target_train=2,
                                    n_test_normal=5, n_test_anomalous=5, duration=1.0, random_state=0)
    train = (generated.frame["split"] == "train").to_numpy()
    X_train, X_test = generated.data[train], generated.data[~train]
    multibranch = MultiBranchEmbedder(branches=["stft_16ms", "spectrum"], embedding_dim=8, channels=[4],
                                      n_subclusters=2, batch_size=16, max_epochs=1, device="cpu", random_state=0)
    multibranch.fit(X_train, generated.frame["aux_label"].to_numpy()[train])
    scan = ConfidentPairSCAN(widths=[4, 8], blocks=[1, 1], projection_dims=[8, 4], batch_size=16, max_epochs=2,
                             n_mels=32, n_fft=512, hop_length=256, device="cpu", random_state=0).fit(X_train)
    trained = []
    for what, function in (("MultiBranchEmbedder embeddings", multibranch.transform),
                           ("ConfidentPairSCAN scores", scan.score_samples)):
        n, rel, absolute = alone_and_together(function, X_test)
        trained.append(f"| {what} | {n} of {len(X_test)} | {absolute:.1e} | {rel:.1e} |")
        print(trained[-1], flush=True)
    section = "\n".join([
        "## Scores alone and in a batch",
        "",
        "Command: `.venv/bin/python benchmarks/bench_batch_invariance.py`. "
        f"Machine: {platform.machine()}, 2 shared CPU cores; date {date.today().isoformat()}.",
        "",
        "The valve split's 165 scored clips, `score_samples` in one batch against one clip at a time:",
        "",
        "| preset | clips whose score differs | largest relative difference |",
        "|---|---:|---:|",
        *rows,
        "",
        "SoundNet conv6 embeddings of 48 valve clips (`SoundNetEmbedder(batch_size=...)`, one thread):",
        "",
        "| batch_size | wall time, best of 3 (s) | rows differing from one clip at a time | largest relative difference |",
        "|---:|---:|---:|---:|",
        *timing,
        "",
        "The trained networks at test size on generated clips (they embed in batches; not made batch-invariant):",
        "",
        "| output | differing | largest absolute difference | largest relative difference |",
        "|---|---:|---:|---:|",
        *trained,
        "",
    ])
    write_section(section)


def _timed(function, X):
    started = time.perf_counter()
    function(X)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
