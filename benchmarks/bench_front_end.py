"""Front-end study: which log-mel statistics make a good plain detector, on real clips first.

Every variant is a log-mel front end (skasd's own spectrogram, the floor
and the statistics applied on top) followed by a scorer fitted per machine
type on normal clips. The factors:

- floor: ``eps`` (power floored at 2.2e-16, -156.5 dB: skasd's default and
  the DCASE baselines'), ``abs-80`` (power floored at 1e-8, -80 dB re full
  scale), ``top_db-80`` and ``top_db-60`` (the clip's own maximum minus 80 or
  60 dB, librosa's ``power_to_db(top_db=...)`` with the clip's spectrogram);
- log base: decibels or natural log (a constant factor 10 / ln 10: every
  scorer here is invariant to it; one row checks);
- mel scale: ``slaney`` (Slaney scale, area-normalised filters: librosa's
  and the DCASE baselines' default) or ``htk`` (HTK scale, peak-1 filters);
- n_fft / hop: 1024/512 (the baselines'), 2048/512, 512/256;
- statistics over time: mean; mean and std; mean, std and max;
- standardisation: none, or each feature z-scored with the mean and
  standard deviation of the training clips of its machine type;
- scorer: ``knn-cosine`` (cosine 1-NN, skasd's KNNScorer default),
  ``knn-euclidean`` (Euclidean 1-NN, as squared distances), ``density`` (LocalDensityKNNScorer's
  default: cosine, K = 1, density over the reference's own nearest
  neighbour).

Data, real first:

- ``valve``: the standard valve split of ../shared/data (fit on 35 normal
  clips, evaluate 165): official DCASE 2023 score;
- ``samples``: the 24 clips of the six other machine types in
  ../shared/data/dcase2023t2_dev_samples (per type 2 training normals and
  2 test clips; 4 of the 12 test clips are anomalous). Two leave-one-out
  measures: ``id``, the share of the 24 clips whose nearest other clip
  (the scorer's metric) is of the same machine type; ``auc``, each type's
  scorer fitted on its 2 training clips scores its 2 test clips, divided by
  the mean score of each training clip against the other one (the type's
  normal-to-normal scale), and the ROC AUC of the 12 pooled test clips;
- ``generated``: ``make_machine_sounds`` (fan, pump, gearbox, bearing; 60
  source + 6 target training normals and 100 test clips of 2 s per type),
  official score, mean over ``--seeds`` seeds.

The valve split is also scored with every clip zero-padded from 10 s to
12 s (``valve-padded``), as ``load_dcase`` pads clips read beside a longer
one (DCASE 2023's ToyCar and ToyTrain clips last 12 s): the case where the
floor could matter.

Prints and writes the "## Log-mel front end" section of docs/benchmarks.md:
every factor varied alone from skasd's default (``LogMelStatistics()``:
eps floor, decibels, Slaney, 1024/512, mean and std, no standardisation),
the mean over the whole grid of each factor's levels, and the best
variants.

    .venv/bin/python benchmarks/bench_front_end.py [--seeds 3]
"""

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.utils import Bunch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

from skasd import KNNScorer, LocalDensityKNNScorer, LogMelSpectrogram  # noqa: E402
from skasd.datasets import first_normals_split, load_dcase, make_machine_sounds  # noqa: E402
from skasd.metrics import dcase_scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TINY_POWER = 1e-30

FLOORS = ("eps", "abs-80", "top_db-80", "top_db-60")
BASES = ("dB", "ln")
MELS = ("slaney", "htk")
FFTS = ((1024, 512), (2048, 512), (512, 256))
STATISTICS = ("mean", "mean+std", "mean+std+max")
STANDARDISE = ("none", "z-score")
SCORERS = ("knn-cosine", "knn-euclidean", "density")

DEFAULT = {"floor": "eps", "base": "dB", "mel": "slaney", "fft": (1024, 512), "statistics": "mean+std",
          "standardise": "none"}


def raw_decibels(X, sample_rate, mel, fft):
    """Log-mel frames in dB with a floor far below any real sound: (n_clips, n_mels, n_frames), float64."""
    n_fft, hop = fft
    transformer = LogMelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, n_mels=128, mel_scale=mel,
        mel_norm="slaney" if mel == "slaney" else None, eps=TINY_POWER, batch_size=16,
    )
    return transformer.fit_transform(X).astype(np.float64)


def features(decibels, floor, base, statistics):
    if floor == "eps":
        frames = np.maximum(decibels, 10 * np.log10(np.finfo(np.float64).eps))
    elif floor == "abs-80":
        frames = np.maximum(decibels, -80.0)
    else:
        top_db = float(floor.split("-")[1])
        frames = np.maximum(decibels, decibels.max(axis=(1, 2), keepdims=True) - top_db)
    if base == "ln":
        frames = frames * (np.log(10) / 10)
    parts = [frames.mean(axis=-1)]
    if statistics != "mean":
        parts.append(frames.std(axis=-1))
    if statistics == "mean+std+max":
        parts.append(frames.max(axis=-1))
    return np.concatenate(parts, axis=1)


def make_scorer(name):
    if name == "knn-cosine":
        return KNNScorer(metric="cosine", n_neighbors=1)
    if name == "knn-euclidean":
        return KNNScorer(metric="sqeuclidean", n_neighbors=1)  # the Euclidean 1-NN ranking
    return LocalDensityKNNScorer()


def standardised(train, other, how):
    if how == "none":
        return train, other
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (other - mean) / std


def official(frame, labels, scores):
    _, score = dcase_scores(labels, scores, frame["domain"], frame["machine"], frame["section"])
    return score


def score_split(E, frame, fit, scorer_name, standardise):
    """Anomaly scores of the ``~fit`` clips, each by a scorer fitted on its machine type's ``fit`` clips."""
    scores = np.zeros(len(frame))
    for machine in sorted(set(frame["machine"])):
        rows = (frame["machine"] == machine).to_numpy()
        train, test = standardised(E[rows & fit], E[rows & ~fit], standardise)
        scores[rows & ~fit] = -make_scorer(scorer_name).fit(train).score_samples(test)
    return scores[~fit]


def samples_measures(E, frame, scorer_name, standardise):
    """Leave-one-out machine identification and the pooled anomaly AUC of the 24 sample clips."""
    metric = "euclidean" if scorer_name == "knn-euclidean" else "cosine"
    if standardise == "z-score":  # over all 24 clips: no machine type is known when identifying
        mean, std = E.mean(axis=0), E.std(axis=0)
        Z = (E - mean) / np.where(std > 0, std, 1.0)
    else:
        Z = E
    if metric == "cosine":
        unit = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        distance = 1 - unit @ unit.T
    else:
        distance = np.linalg.norm(Z[:, None] - Z[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    machines = frame["machine"].to_numpy()
    identified = float(np.mean(machines[distance.argmin(axis=1)] == machines))
    pooled, labels = [], []
    for machine in sorted(set(machines)):
        rows = machines == machine
        train_rows = rows & (frame["split"] == "train").to_numpy()
        test_rows = rows & (frame["split"] == "test").to_numpy()
        train, test = standardised(E[train_rows], E[test_rows], standardise)
        # The 1-NN score of one training clip against the other: the distance between the two.
        if scorer_name == "knn-cosine":
            normal_scale = 1 - train[0] @ train[1] / (np.linalg.norm(train[0]) * np.linalg.norm(train[1]))
        elif scorer_name == "knn-euclidean":
            normal_scale = np.sum((train[0] - train[1]) ** 2)
        else:
            # The local density score is already a ratio to the reference's own neighbour distance.
            normal_scale = 1.0
        scores = -make_scorer(scorer_name).fit(train).score_samples(test)
        pooled.extend(scores / max(normal_scale, 1e-12))
        labels.extend(frame["label"].to_numpy()[test_rows])
    return identified, float(roc_auc_score(labels, pooled))


def load_sets(seeds):
    sets = {}
    valve_root = SHARED / "dcase2023t2_dev_valve_test"
    samples_root = SHARED / "dcase2023t2_dev_samples"
    if not valve_root.is_dir():
        sys.exit(f"{valve_root} not found: this study needs the real clips of ../shared/data.")
    valve = load_dcase(valve_root, verbose=0)
    sets["valve"] = (valve, first_normals_split(valve.frame, n_source=30, n_target=5))
    # The same clips zero-padded from 10 s to 12 s, as load_dcase pads them beside a 12 s ToyCar clip.
    padded = Bunch(**valve)
    padded.data = np.pad(valve.data, ((0, 0), (0, 2 * valve.sample_rate)))
    sets["valve-padded"] = (padded, sets["valve"][1])
    others = [m for m in sorted(p.name for p in samples_root.iterdir() if p.is_dir()) if m != "valve"]
    samples = load_dcase(samples_root, machine_types=others, duration=10.0, verbose=0)
    sets["samples"] = (samples, None)
    for seed in range(seeds):
        data = make_machine_sounds(
            machine_types=("fan", "pump", "gearbox", "bearing"), n_sections=1, n_source_train=60, n_target_train=6,
            n_test_normal=25, n_test_anomalous=25, duration=2.0, random_state=seed, verbose=0,
        )
        sets[f"generated-{seed}"] = (data, (data.frame["split"] == "train").to_numpy())
    return sets


def evaluate_grid(sets):
    """{(floor, base, mel, fft, statistics, standardise, scorer): {measure: value}}."""
    results = {}
    for (mel, fft), (name, (data, fit)) in itertools.product(itertools.product(MELS, FFTS), sets.items()):
        decibels = raw_decibels(data.data, data.sample_rate, mel, fft)
        for floor, base, statistics in itertools.product(FLOORS, BASES, STATISTICS):
            if base == "ln" and (floor, statistics) != (DEFAULT["floor"], DEFAULT["statistics"]):
                continue  # the log base only scales: one check suffices
            E = features(decibels, floor, base, statistics)
            for standardise, scorer in itertools.product(STANDARDISE, SCORERS):
                key = (floor, base, mel, fft, statistics, standardise, scorer)
                row = results.setdefault(key, {})
                if name == "samples":
                    row["samples id"], row["samples auc"] = samples_measures(E, data.frame, scorer, standardise)
                else:
                    scores = score_split(E, data.frame, fit, scorer, standardise)
                    evaluated = data.frame[~fit]
                    value = official(evaluated, evaluated["label"].to_numpy(), scores)
                    if name.startswith("valve"):
                        row[name] = value
                    else:
                        row.setdefault("generated", []).append(value)
    return results


FACTORS = ("floor", "base", "mel", "fft", "statistics", "standardise")
LEVELS = {"floor": FLOORS, "base": BASES, "mel": MELS, "fft": FFTS, "statistics": STATISTICS,
          "standardise": STANDARDISE}


def level_name(value):
    return f"{value[0]}/{value[1]}" if isinstance(value, tuple) else value


def cell(row, measure):
    value = row.get(measure)
    if value is None:
        return "-"
    if isinstance(value, list):
        return f"{np.mean(value):.3f} ± {np.std(value):.3f}"
    return f"{value:.3f}"


MEASURES = ("valve", "valve-padded", "samples id", "samples auc", "generated")


def one_at_a_time(results, centre, scorer):
    lines = ["| varied | value | valve official | valve padded to 12 s | samples: same-type 1-NN | samples: pooled AUC "
             "| generated official |",
             "|---|---|---:|---:|---:|---:|---:|"]
    key = tuple(centre[f] for f in FACTORS) + (scorer,)
    lines.append("| (centre) | | " + " | ".join(cell(results[key], m) for m in MEASURES) + " |")
    for factor in FACTORS:
        for level in LEVELS[factor]:
            if level == centre[factor]:
                continue
            varied = dict(centre, **{factor: level})
            key = tuple(varied[f] for f in FACTORS) + (scorer,)
            if key in results:
                lines.append(f"| {factor} | {level_name(level)} | "
                             + " | ".join(cell(results[key], m) for m in MEASURES) + " |")
    return lines


def marginal_means(results):
    lines = ["| factor | level | valve official | valve padded to 12 s | samples: same-type 1-NN | samples: pooled AUC "
             "| generated official |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for factor in FACTORS + ("scorer",):
        index = FACTORS.index(factor) if factor != "scorer" else len(FACTORS)
        levels = LEVELS[factor] if factor != "scorer" else SCORERS
        for level in levels:
            rows = [row for key, row in results.items() if key[index] == level and key[1] == "dB"]
            if factor == "base":
                continue
            values = []
            for measure in MEASURES:
                found = [np.mean(row[measure]) for row in rows if measure in row]
                values.append(f"{np.mean(found):.3f}" if found else "-")
            lines.append(f"| {factor} | {level_name(level)} | " + " | ".join(values) + " |")
    return lines


def best_rows(results, measure, n=5):
    decibels = [(key, row) for key, row in results.items() if key[1] == "dB"]  # ln rows repeat them
    ranked = sorted(decibels, key=lambda item: -np.mean(item[1].get(measure, [-1])))
    lines = [f"| rank | floor | mel | n_fft/hop | statistics | standardise | scorer | {measure} |",
             "|---:|---|---|---|---|---|---|---:|"]
    for rank, (key, row) in enumerate(ranked[:n], 1):
        floor, _, mel, fft, statistics, standardise, scorer = key
        lines.append(f"| {rank} | {floor} | {mel} | {level_name(fft)} | {statistics} | {standardise} | {scorer} | "
                     f"{cell(row, measure)} |")
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    sets = load_sets(args.seeds)
    results = evaluate_grid(sets)
    lines = [
        "## Log-mel front end",
        "",
        f"`benchmarks/bench_front_end.py --seeds {args.seeds}`, {time.strftime('%Y-%m-%d')}, "
        f"{time.perf_counter() - started:.0f} s. Log-mel statistics variants, each scored per machine type "
        "(the module docstring gives every factor and the protocols). Real clips: `valve`, the standard valve "
        "split (official DCASE 2023 score), and the same clips zero-padded to 12 s; `samples`, the 24 clips of the six other machine types in "
        "dcase2023t2_dev_samples: the share of clips whose nearest other clip is of the same machine type, and "
        "the ROC AUC of the 12 test clips (4 anomalous) pooled over the types, each scored against its type's "
        "2 training clips and divided by their normal-to-normal score. Generated: 4 machine types, 66 training "
        f"normals and 100 test clips of 2 s per type, official score, mean ± std over {args.seeds} seeds.",
        "",
        "The log base only scales the features: natural log and decibels give the same numbers with every "
        "scorer here (checked in the rows `base ln`).",
    ]
    for scorer in SCORERS:
        lines += ["", f"### Each factor varied alone from the default, scorer {scorer}", ""]
        lines += one_at_a_time(results, DEFAULT, scorer)
    lines += ["", "### Mean over the whole grid of each factor's levels", ""]
    lines += marginal_means(results)
    for measure in ("valve", "generated"):
        lines += ["", f"### The five best variants by {measure} (for reference, not for choosing)", ""]
        lines += best_rows(results, measure)
    section = "\n".join(lines) + "\n"
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
