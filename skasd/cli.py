"""The ``skasd`` command line (also ``python -m skasd``)."""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _demo_pipeline(sample_rate, n_jobs):
    from sklearn.pipeline import make_pipeline

    from skasd import LocalDensityKNNScorer, LogMelStatistics

    return make_pipeline(LogMelStatistics(sample_rate=sample_rate, n_jobs=n_jobs), LocalDensityKNNScorer())


def run_demo(out_dir, random_state=0, n_jobs=None, verbose=1):
    """Generate a DCASE-like data set, fit a baseline per machine type, score it.

    Returns the score table (one row per machine type and section, and the
    official score) and writes it, with the challenge's submission files, to
    ``out_dir``.
    """
    from skasd.datasets import make_machine_sounds, write_dcase_submission
    from skasd.metrics import dcase_scores

    def say(message):
        if verbose:
            print(message, flush=True)

    started = time.perf_counter()
    say("Generating a DCASE-like data set (make_machine_sounds)...")
    data = make_machine_sounds(random_state=random_state, n_jobs=n_jobs, verbose=verbose)
    frame = data.frame
    counts = frame.groupby(["split", "domain"]).size().to_dict()
    say(
        f"  {len(frame)} clips of {data.data.shape[1] / data.sample_rate:g} s, "
        f"machine types {sorted(frame['machine'].unique())}; "
        + ", ".join(f"{split}/{domain}: {n}" for (split, domain), n in sorted(counts.items()))
    )
    say("Fitting log-mel statistics + local-density k-NN on each machine type's normal training clips...")
    anomaly_score = np.zeros(len(frame))
    decision = np.zeros(len(frame), dtype=int)
    for machine in sorted(frame["machine"].unique()):
        train = ((frame["machine"] == machine) & (frame["split"] == "train")).to_numpy()
        test = ((frame["machine"] == machine) & (frame["split"] == "test")).to_numpy()
        model = _demo_pipeline(data.sample_rate, n_jobs).fit(data.data[train])
        anomaly_score[test] = -model.score_samples(data.data[test])
        decision[test] = model.predict(data.data[test]) == -1
        say(f"  {machine}: fitted on {train.sum()} clips, scored {test.sum()}")

    test = (frame["split"] == "test").to_numpy()
    table, official = dcase_scores(
        frame["label"][test], anomaly_score[test], frame["domain"][test], frame["machine"][test], frame["section"][test]
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "scores.csv", index=False)
    write_dcase_submission(out_dir / "submission", frame[test], anomaly_score[test], decision[test])
    say("")
    say(_format_table(table, official))
    say("")
    say(f"Score table and submission files written to {out_dir}/ ({time.perf_counter() - started:.0f} s in all).")
    return table, official


def _format_table(table, official):
    shown = table.rename(
        columns={"auc_source": "AUC (source)", "auc_target": "AUC (target)", "pauc": "pAUC", "hmean": "hmean"}
    )
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
    return f"{text}\nOfficial score (harmonic mean of all AUCs and pAUCs): {official:.4f}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skasd", description="Anomalous sound detection for machine condition monitoring.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="generate a DCASE-like data set, fit a baseline, print the official score table",
    )
    demo.add_argument("--out", default="skasd_demo_output", help="output folder (default: %(default)s)")
    demo.add_argument("--random-state", type=int, default=0, help="seed of the generated data (default: %(default)s)")
    demo.add_argument("--n-jobs", type=int, default=None, help="parallel jobs for generation and features")
    demo.add_argument("--quiet", action="store_true", help="print the score table only")
    args = parser.parse_args(argv)

    if args.command == "demo":
        with pd.option_context("display.width", 120):
            table, official = run_demo(
                args.out, random_state=args.random_state, n_jobs=args.n_jobs, verbose=0 if args.quiet else 1
            )
        if args.quiet:
            print(_format_table(table, official))
    return 0


if __name__ == "__main__":
    sys.exit(main())
