"""The autoencoder baseline on the valve split: its clip score from the window errors, by mean (the baseline) or not.

The ``dcase-ae`` preset (``DenseAutoencoderScorer`` at the baseline's
published size, 100 epochs) is fitted on the 35 normal clips of the
standard valve split and scores the other 165 (official DCASE 2023 score).
Its anomaly score of a clip is the mean squared reconstruction error over
all its windows of 5 log-mel frames (about 310 per 10 s clip). A valve's
faults are short events; log-mel statistics score 0.55 with the mean over
time and 0.85 with the maximum added (docs/features.md). Does the
autoencoder lose its faults the same way? The same fitted model's window
errors are pooled per clip by their mean (the baseline's score, checked
against ``score_samples``), their 95th percentile and their maximum.

Prints a markdown table and writes it as "## The autoencoder's window
errors on the valve split" of docs/benchmarks.md.

    .venv/bin/python benchmarks/probe_autoencoder_pooling.py [--seeds 1]
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

from skasd.datasets import first_normals_split, load_dcase  # noqa: E402
from skasd.metrics import dcase_scores  # noqa: E402
from skasd.pipelines import make_preset  # noqa: E402

VALVE = ROOT.parent / "shared" / "data" / "dcase2023t2_dev_valve_test"
SECTION_TITLE = "## The autoencoder's window errors on the valve split"
POOLING = {"mean (the baseline)": np.mean, "95th percentile": lambda e, axis: np.percentile(e, 95, axis=axis),
           "maximum": np.max}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    valve = load_dcase(VALVE)
    fit = first_normals_split(valve.frame, n_source=30, n_target=5)
    evaluate = ~fit
    domain = valve.frame["domain"].to_numpy()[evaluate]
    results = {name: [] for name in POOLING}
    for seed in range(args.seeds):
        model = make_preset("dcase-ae", sample_rate=valve.sample_rate, random_state=seed)
        scorer = model[-1].fit(valve.data[fit])
        windows = scorer._windows(valve.data[evaluate])
        errors = scorer._window_errors(windows).astype(np.float64)
        # (clips, windows * frames, mels) -> each window's mean squared error over its frames and mels.
        per_window = np.square(errors).reshape(len(windows), windows.shape[1], -1).mean(axis=2)
        np.testing.assert_allclose(per_window.mean(axis=1), -scorer.score_samples(valve.data[evaluate]), rtol=1e-6)
        for name, pool in POOLING.items():
            table, official = dcase_scores(valve.target[evaluate], pool(per_window, axis=1), domain)
            row = table.iloc[0]
            results[name].append((official, row["auc_source"], row["auc_target"], row["pauc"]))
            print(f"seed {seed}, {name}: {results[name][-1]}", flush=True)
    lines = [
        SECTION_TITLE,
        "",
        f"`benchmarks/probe_autoencoder_pooling.py --seeds {args.seeds}`, {date.today().isoformat()}, "
        f"{os.cpu_count()} CPU cores, {platform.machine()}. The `dcase-ae` preset (the official autoencoder "
        "baseline at its published size, 100 epochs) fitted on the 35 normal clips of the standard valve split; "
        "the 165 other clips scored by their windows' reconstruction errors (mean squared error of each window of "
        "5 log-mel frames), pooled per clip three ways; official DCASE 2023 score, mean over "
        f"{args.seeds} seed(s) (0 to {args.seeds - 1}).",
        "",
        "| clip score from the window errors | official | per seed | AUC source | AUC target | pAUC |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name, values in results.items():
        values = np.array(values)
        mean = values.mean(axis=0)
        per_seed = ", ".join(f"{value:.3f}" for value in values[:, 0])
        lines.append(f"| {name} | {mean[0]:.4f} | {per_seed} | {mean[1]:.4f} | {mean[2]:.4f} | {mean[3]:.4f} |")
    section = "\n".join(lines) + "\n"
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
