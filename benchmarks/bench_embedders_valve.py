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
  ``KMeansCosineScorer`` (the papers' inference);
- the same two ways, side by side: the network at the sizes of the
  ``multibranch-kmeans`` preset (channels (8, 16, 32), 3 x 32-d, batch 64,
  lr 0.002), and each size trained on the 35 valve clips alone (4 classes,
  what the preset does with this split): is it the network's size or the
  few classes that keeps the preset below log-mel statistics?

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
from skasd.pipelines import PRESETS  # noqa: E402

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


#: The network sizes compared: MultiBranchEmbedder's defaults, and those of the multibranch-kmeans preset.
NETWORKS = {
    "default sizes": {},
    "the preset's sizes": {
        name: value for name, value in PRESETS["multibranch-kmeans"]["steps"][0]["params"].items()
        if name != "max_epochs"
    },
}


def multibranch_embeddings(valve, fit, seed, epochs, network=None, generated_clips=True):
    X, y = valve.data[fit], valve.frame["aux_label"].to_numpy()[fit]
    if generated_clips:
        generated = make_machine_sounds(
            n_source_train=100, n_target_train=10, n_test_normal=0, n_test_anomalous=0, duration=10.0,
            random_state=seed, n_jobs=-1,
        )
        X = np.concatenate([generated.data, X])
        y = np.concatenate([generated.frame["aux_label"].to_numpy(), y])
    started = time.perf_counter()
    embedder = MultiBranchEmbedder(**(network or {}), max_epochs=epochs, random_state=seed, verbose=1).fit(X, y)
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
    scorers = {"local density k-NN": LocalDensityKNNScorer, "k-means cosine (16 source clusters)":
               lambda: KMeansCosineScorer(n_clusters=16)}
    train_seconds = {}
    for network_name, network in NETWORKS.items():
        for generated_clips in (True, False):
            variant = f"MultiBranchEmbedder, {network_name}, " + (
                "generated + valve clips" if generated_clips else "the 35 valve clips alone")
            per_seed = {scorer_name: [] for scorer_name in scorers}
            seconds = []
            for seed in range(args.seeds):
                embeddings, took, n_train = multibranch_embeddings(
                    valve, fit, seed, args.epochs, network, generated_clips)
                seconds.append(took)
                for scorer_name, make_scorer in scorers.items():
                    per_seed[scorer_name].append(official(valve, fit, embeddings, make_scorer()))
                print(f"{variant}, seed {seed}: {per_seed}", flush=True)
            train_seconds[variant] = (np.mean(seconds), n_train)
            for scorer_name, values in per_seed.items():
                values = np.array(values)
                mean = values.mean(axis=0)
                spread = values[:, 0].std()
                per_seed_text = ", ".join(f"{value:.3f}" for value in values[:, 0])
                rows.append((f"{variant} (mean of {args.seeds} seeds: {per_seed_text}; official std {spread:.4f})",
                             scorer_name, *mean))
    lines = [
        SECTION_TITLE,
        "",
        "The standard valve split of `../shared/data` (fit on 35 normal clips, evaluate on 165; official DCASE "
        "2023 metric). Log-mel statistics and SoundNet need no training; MultiBranchEmbedder (three branches: "
        "256 ms and 8 ms STFT and the full spectrum, subspace loss, mixup p = 0.5, AdamW, "
        f"{args.epochs} epochs) at its default sizes (channels (16, 32, 64, 128), 3 x 128-d, lr 1e-3, batch 100) "
        "and at the `multibranch-kmeans` preset's (channels (8, 16, 32), 3 x 32-d, lr 0.002, batch 64), each "
        "trained on 475 clips of 10 s, 440 generated (4 machine types, auxiliary label machine|attributes) and "
        "the 35 valve training clips (4 valve classes), and on the 35 valve clips alone (what the preset does "
        "with this split). Training time per seed on the CPU: "
        + "; ".join(f"{variant[len('MultiBranchEmbedder, '):]} {took:.0f} s ({n} clips)"
                    for variant, (took, n) in train_seconds.items()) + ".",
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
