"""PseudoLabelIterator on the real valve split, with the other real machine types as the external pool.

The standard valve split of ``../shared/data/dcase2023t2_dev_valve_test``
(fit on 35 normal clips: source index 0-29 and target index 0-4; evaluate
on the other 165). A classifier needs more than one class, and the valve's
attributes are hidden from the model, so the training set is the 35 valve
clips plus generated clips of four other machine types
(``make_machine_sounds``: fan, pump, gearbox, bearing; 16 source + 4 target
clips each), all labelled by machine type only. The external pool
is what issue 6 names: the other real machine types' clips of
``../shared/data/dcase2023t2_dev_samples`` (ToyCar, ToyTrain, bearing, fan,
gearbox, slider: 24 clips), external class
``real_<machine type>`` (three of them share a name with a generated type).

Every clip is cut to its first ``--duration`` seconds (5 by default: triplet
training on 10 s clips takes about 7 min per stage on 2 CPU cores).
Variants (CPU-sized network of bench_pseudo_labels.py, ``--epochs`` epochs):

- Ba: ``MultiBranchEmbedder`` on machine-type labels;
- Ba+triplet+pseudo-labels+external, stages 1-3: ``PseudoLabelIterator()``
  (stage 1 is Ba+triplet);
- with ``--iterators 2``, also Ba+triplet+pseudo-labels, stages 1-3:
  ``PseudoLabelIterator(external=False)``;
- upper bound: ``MultiBranchEmbedder`` on the true attributes
  (``machine|attributes``, the valve's patterns included).

k-means pseudo-labels with 4 source and 2 target clusters per machine type
(the valve's 30 source clips hold two patterns, pat_00 and pat_01). Scored on the valve only
by ``KMeansCosineScorer(n_clusters=16)`` fitted on the 35 valve clips'
embeddings with their domain (the papers' inference, as in
bench_embedders_valve.py); official DCASE 2023 score on the 165 clips. ARI:
the valve's source pseudo-labels against its hidden true patterns.

    .venv/bin/python benchmarks/bench_pseudo_labels_valve.py [--seeds 1] [--epochs 10] [--duration 5] [--iterators 1] [--from-csv FILE]
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
import pandas as pd
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("skasd") is None:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402
from bench_pseudo_labels import NETWORK  # noqa: E402

from skasd import (  # noqa: E402
    KMeansCosineScorer,
    LogMelStatistics,
    MultiBranchEmbedder,
    PseudoLabelIterator,
)
from skasd.datasets import first_normals_split, load_dcase, make_machine_sounds  # noqa: E402
from skasd.metrics import dcase_scores  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SECTION_TITLE = "## PseudoLabelIterator on the valve split"
CLUSTERS = dict(n_clusters_source=4, n_clusters_target=2)


def valve_official(valve, fit, embeddings):
    domain = valve.frame["domain"].to_numpy()
    scorer = KMeansCosineScorer(n_clusters=16, random_state=0).fit(embeddings[fit], domain=domain[fit])
    table, score = dcase_scores(valve.target[~fit], scorer.anomaly_score(embeddings[~fit]), domain[~fit])
    return score, *table.iloc[0][["auc_source", "auc_target", "pauc"]]


ITERATORS = (("+pseudo-labels+external", True), ("+pseudo-labels", False))


def run(seed, epochs, valve, fit, pool, duration, n_iterators):
    generated = make_machine_sounds(
        n_source_train=16, n_target_train=4, n_test_normal=0, n_test_anomalous=0, duration=duration,
        random_state=seed, n_jobs=-1, verbose=0,
    )
    frame = pd.concat([generated.frame, valve.frame[fit]], ignore_index=True)
    X = np.concatenate([generated.data, valve.data[fit]])
    machine, domain = frame["machine"].to_numpy(), frame["domain"].to_numpy()
    is_valve_source = (machine == "valve") & (domain == "source")
    valve_patterns = frame["attributes"].to_numpy()[is_valve_source]
    network = {**NETWORK, "max_epochs": epochs}
    rows = []

    def record(name, embedder, labels=None, seconds=np.nan, n_external=np.nan):
        score, auc_source, auc_target, pauc = valve_official(valve, fit, embedder.transform(valve.data))
        ari = np.nan if labels is None else adjusted_rand_score(valve_patterns, np.asarray(labels)[is_valve_source])
        rows.append({"seed": seed, "variant": name, "official": score, "auc_source": auc_source,
                     "auc_target": auc_target, "pauc": pauc, "ari": ari, "seconds": seconds,
                     "n_external": n_external})
        print(f"seed {seed} {name}: {score:.4f} (ARI {ari:.3f}, {seconds:.0f} s)", flush=True)

    for name, labels in (("Ba", machine), ("upper bound: true attributes", frame["aux_label"].to_numpy())):
        started = time.perf_counter()
        model = MultiBranchEmbedder(**network, random_state=seed).fit(X, labels)
        record(name, model, seconds=time.perf_counter() - started)
    for suffix, external in ITERATORS[:n_iterators]:
        started = time.perf_counter()
        iterator = PseudoLabelIterator(
            MultiBranchEmbedder(**network, triplet=True), n_stages=3, external=external, random_state=seed,
            verbose=1, **CLUSTERS,
        ).fit(X, machine, domain=domain, X_external=pool.data, external_class=("real_" + pool.frame["machine"]).to_numpy())
        seconds = (time.perf_counter() - started) / 3
        for stage in iterator.stages_:
            valve_external = stage.external[stage.external["machine"] == "valve"] if len(stage.external) else []
            record(f"Ba+triplet{suffix}, stage {stage.stage}", stage.embedder,
                   stage.labels if stage.stage > 1 else None, seconds, len(valve_external) if external else np.nan)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds kept of every clip (the first)")
    parser.add_argument(
        "--iterators", type=int, choices=(1, 2), default=1,
        help="1: the full method only (pseudo-labels + external); 2: also pseudo-labels without external data",
    )
    parser.add_argument(
        "--from-csv", type=Path, default=None,
        help="write the section from the per-seed results a run saved, without training again",
    )
    args = parser.parse_args()
    valve = load_dcase(DATA / "dcase2023t2_dev_valve_test", duration=args.duration, verbose=0)
    fit = first_normals_split(valve.frame, n_source=30, n_target=5)
    samples = load_dcase(DATA / "dcase2023t2_dev_samples", duration=args.duration, verbose=0)
    keep = (samples.frame["machine"] != "valve").to_numpy()
    pool = samples
    pool.data, pool.frame = samples.data[keep], samples.frame[keep].reset_index(drop=True)
    logmel = LogMelStatistics(n_jobs=-1).fit_transform(valve.data)
    baseline = valve_official(valve, fit, logmel)
    print(f"log-mel statistics: {baseline[0]:.4f}", flush=True)
    if args.from_csv is not None:
        results = pd.read_csv(args.from_csv)
        args.seeds = results["seed"].nunique()
    else:
        results = pd.DataFrame([row for seed in range(args.seeds)
            for row in run(seed, args.epochs, valve, fit, pool, args.duration, args.iterators)])
    summary = results.groupby("variant", sort=False).mean(numeric_only=True)
    per_seed = results.groupby("variant", sort=False)["official"].agg(["std", list])
    lines = [
        SECTION_TITLE,
        "",
        f"`benchmarks/bench_pseudo_labels_valve.py --seeds {args.seeds} --epochs {args.epochs} --duration "
        f"{args.duration:g} --iterators {args.iterators}`, "
        f"{date.today().isoformat()}, {os.cpu_count()} CPU cores, {platform.machine()}. The standard valve split "
        "(fit on 35 normal clips, evaluate on 165; official DCASE 2023 score). Training set: the 35 valve clips "
        f"plus 80 generated clips (fan, pump, gearbox, bearing; 16 source + 4 target each), every clip cut to its "
        f"first {args.duration:g} s, labelled by "
        f"machine type only; external pool: the {len(pool.data)} clips of the other real machine types in "
        "dcase2023t2_dev_samples (ToyCar, ToyTrain, bearing, fan, gearbox, slider). CPU-sized "
        f"network (three branches, channels (8, 16, 32), 3 x 32-d, {args.epochs} epochs); k-means with 4 source / "
        "2 target clusters; valve scored by KMeansCosineScorer (16 source clusters + the target clips) on the 35 "
        f"valve clips' embeddings. Mean (± std of the official score) over {args.seeds} seed(s) of the generated "
        "clips and the models. ARI: the valve's source pseudo-labels against "
        "its two hidden source patterns.",
        "",
        "| variant | official | per seed | AUC source | AUC target | pAUC | ARI (valve) | valve external clips "
        "| training s (per model) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
        f"| log-mel statistics + KMeansCosineScorer (no training) | {baseline[0]:.4f} |  | {baseline[1]:.4f} | "
        f"{baseline[2]:.4f} | {baseline[3]:.4f} |  |  |  |",
    ]

    def cell(value, digits):
        return "" if np.isnan(value) else f"{value:.{digits}f}"

    for variant, row in summary.iterrows():
        spread = per_seed.loc[variant]
        official = f"{row.official:.4f}" + ("" if np.isnan(spread["std"]) else f" ± {spread['std']:.4f}")
        seeds = ", ".join(f"{value:.3f}" for value in spread["list"])
        lines.append(
            f"| {variant} | {official} | {seeds} | {row.auc_source:.4f} | {row.auc_target:.4f} | {row.pauc:.4f} | "
            f"{cell(row.ari, 3)} | {cell(row.n_external, 0)} | {row.seconds:.0f} |"
        )
    section = "\n".join(lines) + "\n"
    print(section)
    write_section(section)
    if args.from_csv is None:
        results.to_csv(Path(os.environ.get("TMPDIR", "/tmp")) / "pseudo_label_valve_results.csv", index=False)


if __name__ == "__main__":
    main()
