"""How hard is the task :func:`skasd.datasets.make_machine_sounds` sets?

A simple baseline: per-clip mean and standard deviation over time of the
log-mel spectrogram (n_fft=1024, hop 512, 128 mels), scored by the cosine
distance to the nearest normal training clip (source and target training
clips of the machine type). It prints the AUC per machine type and domain
at several anomaly strengths (mean over a few seeds), then the AUC per
anomaly kind at the default strength.

Two AUCs per domain: "official" is DCASE 2022-2025's (the domain's normal
test clips against all anomalous test clips of the section), "within" takes
the domain's anomalous clips only (DCASE 2021).

    .venv/bin/python benchmarks/generator_difficulty.py
    .venv/bin/python benchmarks/generator_difficulty.py --n-sections 3 --strengths 1

Section 00's target domain differs in speed, 01's in load, 02's in background.
"""

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchaudio
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

if importlib.util.find_spec("skasd") is None:
    # Run from a checkout where skasd is not installed.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skasd.datasets import make_machine_sounds  # noqa: E402



def log_mel_statistics(data, sample_rate):
    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=1024, hop_length=512, n_mels=128)
    with torch.no_grad():
        log_mel = torch.log(mel(torch.from_numpy(data)) + 1e-8)
    return torch.cat([log_mel.mean(dim=-1), log_mel.std(dim=-1)], dim=1).numpy()


def anomaly_scores(features, frame):
    """Cosine distance of every test clip to its nearest training clip, per machine type."""
    scores = np.empty(len(frame))
    for _, rows in frame.groupby(["machine", "section"]).groups.items():
        rows = np.asarray(rows)
        train = rows[frame["split"].to_numpy()[rows] == "train"]
        nearest = NearestNeighbors(n_neighbors=1, metric="cosine").fit(features[train])
        scores[rows] = nearest.kneighbors(features[rows])[0][:, 0]
    return scores


def domain_aucs(frame, scores):
    """AUC per machine type, section and domain, both definitions."""
    rows = []
    test = frame[frame["split"] == "test"].assign(score=scores[frame["split"] == "test"])
    for (machine, section), clips in test.groupby(["machine", "section"]):
        for domain in ("source", "target"):
            normal = clips[(clips["domain"] == domain) & (clips["label"] == 0)]
            anomalous = clips[clips["label"] == 1]
            within = anomalous[anomalous["domain"] == domain]
            rows.append(
                {
                    "machine": machine,
                    "section": section,
                    "domain": domain,
                    "official": _auc(normal, anomalous),
                    "within": _auc(normal, within),
                }
            )
    return rows


def kind_aucs(frame, scores):
    """AUC of each anomaly kind against the normal test clips of its domain."""
    rows = []
    test = frame[frame["split"] == "test"].assign(score=scores[frame["split"] == "test"])
    for (machine, domain), clips in test.groupby(["machine", "domain"]):
        normal = clips[clips["label"] == 0]
        for kind, anomalous in clips[clips["label"] == 1].groupby("anomaly_kind"):
            rows.append({"machine": machine, "domain": domain, "kind": kind, "auc": _auc(normal, anomalous)})
    return rows


def _auc(normal, anomalous):
    scores = np.concatenate([normal["score"], anomalous["score"]])
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    return roc_auc_score(labels, scores)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sections", type=int, default=1)
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(2)
    domain_rows, kind_rows = [], []
    start = time.perf_counter()
    for seed in args.seeds:
        for strength in args.strengths:
            sounds = make_machine_sounds(
                n_sections=args.n_sections, anomaly_strength=strength, random_state=seed, n_jobs=-1
            )
            features = log_mel_statistics(sounds.data, sounds.sample_rate)
            scores = anomaly_scores(features, sounds.frame)
            domain_rows += [{**row, "strength": strength, "seed": seed} for row in domain_aucs(sounds.frame, scores)]
            if strength == 1.0:
                kind_rows += kind_aucs(sounds.frame, scores)

    pd.set_option("display.width", 200)
    domains = pd.DataFrame(domain_rows)
    print(f"AUC by anomaly strength, mean over seeds {args.seeds} (default data set sizes)\n")
    values = ["official", "within"]
    table = domains.pivot_table(index=["machine", "section", "domain"], columns="strength", values=values)
    mean = domains.groupby(["section", "domain", "strength"])[values].mean().unstack("strength")
    mean.index = pd.MultiIndex.from_tuples([("(mean)", *key) for key in mean.index])
    print(pd.concat([table, mean]).round(3).to_string())
    if kind_rows:
        print("\nAUC by anomaly kind (within domain) at anomaly_strength=1.0, all sections\n")
        kinds = pd.DataFrame(kind_rows).pivot_table(index=["machine", "domain"], columns="kind", values="auc")
        print(kinds.round(3).to_string())
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
