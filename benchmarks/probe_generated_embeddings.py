"""What trained MultiBranchEmbedders keep of the generated anomalies: a probe beside log-mel statistics.

The data of bench_pseudo_labels.py (``make_machine_sounds``: 4 machine
types, section 00, 60 source + 6 target training clips of 1 s per type, 50
test clips per type). For each representation of the clips:

- log-mel statistics (no training);
- the CPU-sized ``MultiBranchEmbedder`` of bench_pseudo_labels.py at
  initialisation (one epoch at lr 1e-9), trained ``--epochs`` epochs on the
  machine type, on the true ``machine|attributes`` (with the branches'
  frequency axis flattened, the default, and averaged into 4 bands, the
  former design), and a spectrum-only network on the true attributes;

it measures the official DCASE 2023 score (per machine type,
``KMeansCosineScorer`` with 6 source clusters and ``LocalDensityKNNScorer``,
fitted on the training clips), whether the anomalies are present at all (a
linear probe: 5-fold cross-validated ROC AUC of a logistic regression that
sees the test clips' labels, an upper bound no detector reaches), and
whether the machine types are (1-NN cosine accuracy of the test clips
against the training clips). Mean over ``--seeds`` seeds.

    .venv/bin/python benchmarks/probe_generated_embeddings.py [--seeds 3] [--epochs 10]
"""

import argparse
import importlib.util
import os
import platform
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("skasd") is None:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402
from bench_pseudo_labels import CLUSTERS, NETWORK  # noqa: E402

from skasd import (  # noqa: E402
    KMeansCosineScorer,
    LocalDensityKNNScorer,
    LogMelStatistics,
    MultiBranchEmbedder,
)
from skasd.datasets import make_machine_sounds  # noqa: E402
from skasd.metrics import dcase_scores  # noqa: E402

SECTION_TITLE = "## What trained embedders keep of the generated anomalies"


def official(embeddings, frame, target, fit, test, make_scorer):
    domain = frame["domain"].to_numpy()
    scores = np.zeros(len(frame))
    for machine in frame["machine"].unique():
        rows = (frame["machine"] == machine).to_numpy()
        scorer = make_scorer()
        fit_params = {"domain": domain[rows & fit]} if isinstance(scorer, KMeansCosineScorer) else {}
        scorer.fit(embeddings[rows & fit], **fit_params)
        scores[rows & test] = scorer.anomaly_score(embeddings[rows & test])
    return dcase_scores(target[test], scores[test], domain[test], frame["machine"][test])[1]


def probe(embeddings, frame, target, fit, test, seed):
    machine = frame["machine"].to_numpy()
    linear = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    probe_auc = cross_val_score(linear, embeddings[test], target[test], cv=folds, scoring="roc_auc").mean()
    knn = KNeighborsClassifier(1, metric="cosine").fit(embeddings[fit], machine[fit])
    return {
        "k-means cosine": official(embeddings, frame, target, fit, test,
                                   lambda: KMeansCosineScorer(n_clusters=CLUSTERS["n_clusters_source"], random_state=0)),
        "local density": official(embeddings, frame, target, fit, test, LocalDensityKNNScorer),
        "probe AUC": probe_auc,
        "machine 1-NN": knn.score(embeddings[test], machine[test]),
    }


def run(seed, epochs):
    data = make_machine_sounds(
        n_sections=1, n_source_train=60, n_target_train=6, n_test_normal=25, n_test_anomalous=25,
        duration=1.0, random_state=seed, n_jobs=-1, verbose=0,
    )
    frame = data.frame
    fit = (frame["split"] == "train").to_numpy()
    test = ~fit
    network = {**NETWORK, "max_epochs": epochs, "random_state": seed}
    representations = {
        "log-mel statistics (no training)": lambda: LogMelStatistics(sample_rate=data.sample_rate).fit(data.data[fit]),
        "MultiBranchEmbedder at initialisation": lambda: MultiBranchEmbedder(
            **{**network, "max_epochs": 1, "lr": 1e-9}).fit(data.data[fit], frame["aux_label"][fit]),
        "MultiBranchEmbedder, machine type": lambda: MultiBranchEmbedder(**network).fit(
            data.data[fit], frame["machine"][fit]),
        "MultiBranchEmbedder, true attributes": lambda: MultiBranchEmbedder(**network).fit(
            data.data[fit], frame["aux_label"][fit]),
        "MultiBranchEmbedder, true attributes, 4 frequency bands (former design)": lambda: MultiBranchEmbedder(
            **network, n_frequency_bands=4).fit(data.data[fit], frame["aux_label"][fit]),
        "MultiBranchEmbedder spectrum branch only, true attributes": lambda: MultiBranchEmbedder(
            **{**network, "branches": ("spectrum",)}).fit(data.data[fit], frame["aux_label"][fit]),
    }
    rows = []
    for name, build in representations.items():
        embeddings = build().transform(data.data)
        rows.append({"seed": seed, "representation": name, **probe(embeddings, frame, data.target, fit, test, seed)})
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    results = pd.DataFrame([row for seed in range(args.seeds) for row in run(seed, args.epochs)])
    summary = results.groupby("representation", sort=False).mean(numeric_only=True).drop(columns="seed")
    lines = [
        SECTION_TITLE,
        "",
        f"`benchmarks/probe_generated_embeddings.py --seeds {args.seeds} --epochs {args.epochs}`, "
        f"{date.today().isoformat()}, {os.cpu_count()} CPU cores, {platform.machine()}. The generated data of the "
        "PseudoLabelIterator ablation (4 machine types, 60 source + 6 target training clips of 1 s per type, 50 test "
        "clips per type), one section. Official DCASE 2023 score per scorer (fitted per machine type on the training "
        "clips); probe AUC: 5-fold cross-validated ROC AUC of a logistic regression trained on the test clips' own "
        "labels (is the anomaly linearly present at all?); machine 1-NN: cosine 1-NN accuracy of the test clips' "
        f"machine type against the training clips. CPU-sized network of that ablation, {args.epochs} epochs. Mean "
        f"over {args.seeds} seeds.",
        "",
        "| representation | official, k-means cosine | official, local density | probe AUC | machine 1-NN |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in summary.iterrows():
        lines.append(f"| {name} | {row['k-means cosine']:.4f} | {row['local density']:.4f} | "
                     f"{row['probe AUC']:.4f} | {row['machine 1-NN']:.3f} |")
    section = "\n".join(lines) + "\n"
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
