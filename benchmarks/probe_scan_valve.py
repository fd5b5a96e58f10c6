"""ConfidentPairSCAN on the valve split: its embeddings scored by its own Mahalanobis distance and by k-NN.

The ``scan`` preset (CPU-sized ResNet, 30 epochs) is fitted on the 35
normal clips of the standard valve split and scores the other 165 (official
DCASE 2023 score). SCAN scores a clip by the squared Mahalanobis distance
of its embedding from the training clips' (geometric median and
covariance of 35 embeddings). Is it the embedding or that score that keeps
the preset below ``logmel-knn`` (0.534)? The same fitted model's
embeddings are also scored by cosine 1-NN (``KNNScorer``) and local
density (``LocalDensityKNNScorer``), fitted on the 35 clips' embeddings;
log-mel statistics with the same two k-NN scorers are the reference.

Prints a markdown table and writes it as "## ConfidentPairSCAN on the
valve split: embedding or score" of docs/benchmarks.md.

    .venv/bin/python benchmarks/probe_scan_valve.py [--seeds 2]
"""

import argparse
import importlib.util
import os
import platform
import sys
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("skasd") is None:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

from skasd import KNNScorer, LocalDensityKNNScorer, LogMelStatistics  # noqa: E402
from skasd.datasets import first_normals_split, load_dcase  # noqa: E402
from skasd.metrics import dcase_scores  # noqa: E402
from skasd.pipelines import make_preset  # noqa: E402

VALVE = ROOT.parent / "shared" / "data" / "dcase2023t2_dev_valve_test"
SECTION_TITLE = "## ConfidentPairSCAN on the valve split: embedding or score"
SCORERS = {"cosine 1-NN": KNNScorer, "local density": LocalDensityKNNScorer}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    valve = load_dcase(VALVE)
    fit = first_normals_split(valve.frame, n_source=30, n_target=5)
    evaluate = ~fit
    domain = valve.frame["domain"].to_numpy()[evaluate]

    def official(anomaly_score):
        return dcase_scores(valve.target[evaluate], anomaly_score, domain)[1]

    rows = {}
    logmel = LogMelStatistics().fit_transform(valve.data)
    for name, make_scorer in SCORERS.items():
        scorer = make_scorer().fit(logmel[fit])
        rows[f"log-mel statistics, {name}"] = [official(-scorer.score_samples(logmel[evaluate]))]
    for seed in range(args.seeds):
        scan = make_preset("scan", sample_rate=valve.sample_rate, random_state=seed)[-1].fit(valve.data[fit])
        embeddings = scan.transform(valve.data)
        rows.setdefault("SCAN embedding, its Mahalanobis score (the preset)", []).append(
            official(-scan.score_samples(valve.data[evaluate])))
        for name, make_scorer in SCORERS.items():
            scorer = make_scorer().fit(embeddings[fit])
            rows.setdefault(f"SCAN embedding, {name}", []).append(official(-scorer.score_samples(embeddings[evaluate])))
        print(f"seed {seed}: {rows}", flush=True)
    lines = [
        SECTION_TITLE,
        "",
        f"`benchmarks/probe_scan_valve.py --seeds {args.seeds}`, {date.today().isoformat()}, {os.cpu_count()} CPU "
        f"cores, {platform.machine()}. The `scan` preset fitted on the 35 normal clips of the standard valve split; "
        "the 165 other clips scored by its own Mahalanobis distance and, from the same fitted model's embeddings, by "
        "cosine 1-NN and local density fitted on the 35 clips' embeddings; log-mel statistics (no training) with "
        f"the same two scorers for reference. Official DCASE 2023 score, mean over {args.seeds} seed(s) "
        f"(0 to {args.seeds - 1}) of the network.",
        "",
        "| representation, score | official | per seed |",
        "|---|---:|---|",
    ]
    for name, values in rows.items():
        lines.append(f"| {name} | {np.mean(values):.4f} | {', '.join(f'{value:.3f}' for value in values)} |")
    section = "\n".join(lines) + "\n"
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
