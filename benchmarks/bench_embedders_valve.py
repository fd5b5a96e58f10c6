"""Embedders on the real valve split: SoundNet and MultiBranchEmbedder against log-mel statistics.

The standard valve split of ``../shared/data`` (fit on the 35 normal clips
with the lowest indices, evaluate on the other 165; official DCASE 2023
metric). Every embedding is scored by the same ``LocalDensityKNNScorer()``
(cosine distance, ratio normalisation, K = 1) fitted on the 35 clips'
embeddings:

- log-mel statistics (the demo's features, no training): the baseline;
- ``SoundNetEmbedder`` at layers pool5 (the default), conv6 and conv7 (pretrained on
  unlabelled video soundtracks, no training here);
- ``MultiBranchEmbedder`` (three branches, subspace loss, default sizes)
  trained on generated machine sounds (``make_machine_sounds``, 4 types x
  110 clips of 10 s, auxiliary labels machine|attributes) plus the 35 valve
  training clips (classes ``valve|pat_00`` ... ``valve|pat_03``), for
  ``--epochs`` epochs, one model per seed; also scored with
  ``KMeansCosineScorer`` (the papers' inference).

The script prints a markdown section and writes it as "## Embedders on the
valve split" of docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_embedders_valve.py [--seeds 3] [--epochs 20]
"""

import argparse
import importlib.util
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("skasd") is None:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

from skasd import (  # noqa: E402
    KMeansCosineScorer,
    LocalDensityKNNScorer,
    LogMelStatistics,
    MultiBranchEmbedder,
    SoundNetEmbedder,
)
from skasd.datasets import first_normals_split, load_dcase, make_machine_sounds  # noqa: E402
from skasd.metrics import dcase_scores  # noqa: E402

VALVE = ROOT.parent / "shared" / "data" / "dcase2023t2_dev_valve_test"
SECTION_TITLE = "## Embedders on the valve split"


def official(valve, fit, embeddings, scorer):
    frame = valve.frame
    domain = frame["domain"].to_numpy()
    if isinstance(scorer, KMeansCosineScorer):
        scorer.fit(embeddings[fit], domain=domain[fit])
    else:
        scorer.fit(embeddings[fit])
    evaluate = ~fit
    table, score = dcase_scores(
        valve.target[evaluate], scorer.anomaly_score(embeddings[evaluate]), domain[evaluate]
    )
    row = table.iloc[0]
    return score, row["auc_source"], row["auc_target"], row["pauc"]


def multibranch_embeddings(valve, fit, seed, epochs):
    generated = make_machine_sounds(
        n_source_train=100, n_target_train=10, n_test_normal=0, n_test_anomalous=0, duration=10.0,
        random_state=seed, n_jobs=-1,
    )
    X = np.concatenate([generated.data, valve.data[fit]])
    y = np.concatenate([generated.frame["aux_label"].to_numpy(), valve.frame["aux_label"].to_numpy()[fit]])
    started = time.perf_counter()
    embedder = MultiBranchEmbedder(max_epochs=epochs, random_state=seed, verbose=1).fit(X, y)
    seconds = time.perf_counter() - started
    return embedder.transform(valve.data), seconds, len(X)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    valve = load_dcase(VALVE, verbose=1)
    fit = first_normals_split(valve.frame, n_source=30, n_target=5)
    rows = []
    logmel = LogMelStatistics(n_jobs=-1).fit_transform(valve.data)
    rows.append(("log-mel statistics (baseline)", "local density k-NN", *official(valve, fit, logmel, LocalDensityKNNScorer())))
    for layer in ("pool5", "conv6", "conv7"):
        started = time.perf_counter()
        embeddings = SoundNetEmbedder(layer=layer, n_jobs=-1).fit_transform(valve.data)
        print(f"SoundNet {layer}: {time.perf_counter() - started:.1f} s for {len(embeddings)} clips", flush=True)
        rows.append((f"SoundNet {layer}, mean over time", "local density k-NN", *official(valve, fit, embeddings, LocalDensityKNNScorer())))
    per_seed = {"local density k-NN": [], "k-means cosine (16 source clusters)": []}
    train_seconds = []
    for seed in range(args.seeds):
        embeddings, seconds, n_train = multibranch_embeddings(valve, fit, seed, args.epochs)
        train_seconds.append(seconds)
        per_seed["local density k-NN"].append(official(valve, fit, embeddings, LocalDensityKNNScorer()))
        per_seed["k-means cosine (16 source clusters)"].append(
            official(valve, fit, embeddings, KMeansCosineScorer(n_clusters=16))
        )
        print(f"seed {seed}: {per_seed['local density k-NN'][-1]}", flush=True)
    for scorer_name, values in per_seed.items():
        values = np.array(values)
        mean = values.mean(axis=0)
        spread = values[:, 0].std()
        rows.append(
            (f"MultiBranchEmbedder (mean of {args.seeds} seeds, official std {spread:.4f})", scorer_name, *mean)
        )
    lines = [
        SECTION_TITLE,
        "",
        "The standard valve split of `../shared/data` (fit on 35 normal clips, evaluate on 165; official DCASE "
        "2023 metric). Log-mel statistics and SoundNet need no training; MultiBranchEmbedder (three branches: "
        "256 ms and 8 ms STFT and the full spectrum, channels (16, 32, 64, 128), 3 x 128-d, subspace loss, "
        f"mixup p = 0.5, AdamW lr 1e-3, batch 100, {args.epochs} epochs) is trained on {n_train} clips of 10 s: "
        "440 generated (4 machine types, auxiliary label machine|attributes) and the 35 valve training clips "
        f"(4 valve classes); {np.mean(train_seconds):.0f} s of training per seed on the CPU.",
        "",
        f"- Command: `.venv/bin/python benchmarks/bench_embedders_valve.py --seeds {args.seeds} --epochs {args.epochs}`",
        f"- Date: {date.today().isoformat()}; machine: {os.cpu_count()} CPU cores, {platform.machine()}",
        "",
        "| embedding | scorer | official | AUC source | AUC target | pAUC |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, scorer_name, score, auc_source, auc_target, pauc in rows:
        lines.append(f"| {name} | {scorer_name} | {score:.4f} | {auc_source:.4f} | {auc_target:.4f} | {pauc:.4f} |")
    section = "\n".join(lines) + "\n"
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
