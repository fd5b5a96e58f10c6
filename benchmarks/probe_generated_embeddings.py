"""What trained MultiBranchEmbedders keep of the generated anomalies: a probe beside log-mel statistics.

The data of bench_pseudo_labels.py (``make_machine_sounds``: 4 machine
types, section 00, 60 source + 6 target training clips of 1 s per type, 100
test clips per type: 25 normal and 25 anomalous per domain). For each
representation of the clips:

- log-mel statistics (no training);
- the CPU-sized ``MultiBranchEmbedder`` of bench_pseudo_labels.py at
  initialisation (one epoch at lr 1e-9), trained ``--epochs`` epochs on the
  machine type, on the true ``machine|attributes`` (with the branches'
  frequency axis flattened, the default, and averaged into 4 bands, the
  former design), on the true attributes for four times ``--epochs`` (does a
  network that fits its training set keep more?), and a spectrum-only
  network on the true attributes;

it measures the official DCASE 2023 score (per machine type,
``KMeansCosineScorer`` with 6 source clusters and ``LocalDensityKNNScorer``,
fitted on the training clips), whether the anomalies are present at all (a
linear probe: 5-fold cross-validated ROC AUC of a logistic regression that
sees the test clips' labels, pooled over machine types; not an upper bound:
an anomaly that lies in another direction for each machine type or
condition escapes it, and log-mel statistics' probe is below their
local-density score), and
whether the machine types are (1-NN cosine accuracy of the test clips
against the training clips), and what a classifier of the auxiliary labels
makes of the clips: its accuracy on the normal source-domain test clips, and
the AUC of its surprise, ``-log p(true label)``, as an anomaly score (the
test clips' attributes are known, as in DCASE). The classifier is a logistic
regression on the standardised log-mel statistics for the log-mel row, the
network's own softmax (its loss's ``predict_proba``) for the networks.

It does so on the generator's default anomaly kinds and on its order-locked
faults (``bearing_tones``, ``blade_damage``, ``looseness``, ``clicks``), and
writes mean +- standard deviation over ``--seeds`` seeds, then the AUCs by
anomaly kind.

``--sections 1 3`` runs the same on data with several sections per machine
type (each a different unit: its own resonances and characteristic order;
the clip counts above are per section), side by side with the same seeds.
Everything is then per unit, as in DCASE: the scorers are fitted and the
AUCs taken per machine type and section, and the auxiliary labels are
``machine|section_<ss>|attributes``, the section/machine-ID classes of the
DCASE 2020-2022 systems (the generator's sections share their attribute
values, so the frame's ``aux_label``, ``machine|attributes``, would merge
them); with one section they are the frame's ``aux_label``.
``--source-clips 60 240 960`` does the same with more training clips per
machine type and section (the target domain keeps a tenth as many, and
the test clips stay as they are): does the embedder carry the anomalies once
it has enough clips to learn the attributes rather than the clips?
``--kinds`` keeps one set of anomaly kinds, ``--representations`` some rows
only (all by default), and ``--no-write`` prints the tables without writing
docs/benchmarks.md.

    .venv/bin/python benchmarks/probe_generated_embeddings.py [--seeds 3] [--epochs 10] [--sections 1 3]
        [--source-clips 60 240] [--kinds default order-locked]
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
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
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
#: The rows ``--representations`` chooses from, in the tables' order.
REPRESENTATIONS = ("logmel", "init", "machine", "attributes", "bands4", "long", "spectrum")
KIND_SETS = {
    "default": None,
    "order-locked": ("bearing_tones", "blade_damage", "looseness", "clicks"),
}


#: How the section's text names each set of anomaly kinds.
KIND_TEXT = {
    "default": "the generator's default anomaly kinds (bearing_defect, imbalance, harmonic_change, friction)",
    "order-locked": "the generator's order-locked faults (bearing_tones, blade_damage, looseness, clicks)",
}


def units(frame):
    """Each clip's machine unit, ``machine|section_<ss>``: the groups the scorers are fitted and scored on."""
    return (frame["machine"] + "|section_" + frame["section"]).to_numpy()


def official(embeddings, frame, target, fit, test, make_scorer):
    domain = frame["domain"].to_numpy()
    unit = units(frame)
    scores = np.zeros(len(frame))
    for name in pd.unique(unit):
        rows = unit == name
        scorer = make_scorer()
        fit_params = {"domain": domain[rows & fit]} if isinstance(scorer, KMeansCosineScorer) else {}
        scorer.fit(embeddings[rows & fit], **fit_params)
        scores[rows & test] = scorer.anomaly_score(embeddings[rows & test])
    return dcase_scores(target[test], scores[test], domain[test], frame["machine"][test], frame["section"][test])[1]


def auc_by_kind(score, frame, target, test):
    """Mean over units of the ROC AUC of the normal test clips against all, then each kind's, anomalies."""
    unit = units(frame)
    kind = frame["anomaly_kind"].to_numpy()
    aucs = {}
    for name in ["all", *sorted(set(kind[test & (target == 1)]))]:
        values = []
        for unit_name in np.unique(unit[test]):
            rows = test & (unit == unit_name) & ((target == 0) | (name == "all") | (kind == name))
            values.append(roc_auc_score(target[rows], score[rows]))
        aucs[name] = float(np.mean(values))
    return aucs


def local_density_scores(embeddings, frame, fit, test):
    unit = units(frame)
    scores = np.zeros(len(frame))
    for name in np.unique(unit):
        rows = unit == name
        scorer = LocalDensityKNNScorer().fit(embeddings[rows & fit])
        scores[rows & test] = scorer.anomaly_score(embeddings[rows & test])
    return scores


def attribute_classifier(proba, classes, labels, frame, target, fit, test):
    """Accuracy on the training clips and the normal source test clips, and ``-log p(true label)`` as a score."""
    index = {label: i for i, label in enumerate(classes)}
    known = np.array([label in index for label in labels])
    true = np.array([index.get(label, 0) for label in labels])
    # A class never seen in training has probability 0: the most surprising.
    p_true = np.where(known, proba[np.arange(len(labels)), true], 0.0)
    normal_source = test & (target == 0) & (frame["domain"] == "source").to_numpy()
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    correct = (predicted == np.asarray(labels)) & known
    accuracies = {"train label accuracy": correct[fit].mean(), "label accuracy": correct[normal_source].mean()}
    # Which part of machine[|section_<ss>]|spd_<rpm>_load_<percent> it gets right, where its labels are those.
    guessed = pd.Series(predicted).astype(str).str.extract(r"\|spd_(\d+)_load_(\d+)$")
    for part, column, guess in (("speed", "attr_spd", guessed[0]), ("load", "attr_load", guessed[1])):
        hits = guess.to_numpy() == frame[column].to_numpy()
        accuracies[f"{part} accuracy"] = hits[normal_source].mean() if guess.notna().all() else np.nan
    # And the section (the unit), where its labels name one.
    guess = pd.Series(predicted).astype(str).str.extract(r"\|section_(\d+)\|")[0]
    hits = guess.to_numpy() == frame["section"].to_numpy()
    accuracies["section accuracy"] = hits[normal_source].mean() if guess.notna().all() else np.nan
    return {name: float(value) for name, value in accuracies.items()}, -np.log(np.maximum(p_true, 1e-300))


def probe(embeddings, classifier, frame, target, fit, test, seed):
    machine = frame["machine"].to_numpy()
    linear = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    probe_auc = cross_val_score(linear, embeddings[test], target[test], cv=folds, scoring="roc_auc").mean()
    knn = KNeighborsClassifier(1, metric="cosine").fit(embeddings[fit], machine[fit])
    accuracies, surprise = attribute_classifier(*classifier, frame, target, fit, test)
    row = {
        "k-means cosine": official(embeddings, frame, target, fit, test,
                                   lambda: KMeansCosineScorer(n_clusters=CLUSTERS["n_clusters_source"], random_state=0)),
        "local density": official(embeddings, frame, target, fit, test, LocalDensityKNNScorer),
        "probe AUC": probe_auc,
        "machine 1-NN": knn.score(embeddings[test], machine[test]),
        **accuracies,
        "classifier AUC": auc_by_kind(surprise, frame, target, test)["all"],
    }
    by_kind = {
        "local density": auc_by_kind(local_density_scores(embeddings, frame, fit, test), frame, target, test),
        "classifier": auc_by_kind(surprise, frame, target, test),
    }
    return row, by_kind


def network_classifier(embedder, embeddings, labels):
    """The network's softmax over its classes, from its loss's centres."""
    with torch.no_grad():
        proba = embedder.net_.criterion_.predict_proba(torch.as_tensor(embeddings)).numpy()
    return proba, embedder.classes_, labels


def log_mel_classifier(features, fit, labels):
    """A logistic regression of the auxiliary labels on the standardised log-mel statistics."""
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000)).fit(
        features[fit], labels[fit])
    return classifier.predict_proba(features), classifier.classes_, labels


def auxiliary_labels(frame, sections):
    """The frame's ``aux_label`` (``machine|attributes``) for one section, ``machine|section_<ss>|attributes`` else."""
    if sections == 1:
        return frame["aux_label"].to_numpy()
    return (units(frame) + "|" + frame["attributes"]).to_numpy()


def run(seed, epochs, kind_set, sections=1, keep=None, source_clips=60):
    torch.set_num_threads(1)
    data = make_machine_sounds(
        n_sections=sections, n_source_train=source_clips, n_target_train=max(1, source_clips // 10), n_test_normal=25, n_test_anomalous=25,
        duration=1.0, anomaly_kinds=KIND_SETS[kind_set], random_state=seed, n_jobs=-1, verbose=0,
    )
    frame = data.frame
    fit = (frame["split"] == "train").to_numpy()
    test = ~fit
    aux = auxiliary_labels(frame, sections)
    machine = frame["machine"].to_numpy()
    network = {**NETWORK, "max_epochs": epochs, "random_state": seed}
    # Each representation: (its row's name, build the fitted transformer, the labels it is a classifier of).
    representations = {
        "logmel": ("log-mel statistics (no training)",
                   lambda: LogMelStatistics(sample_rate=data.sample_rate).fit(data.data[fit]), aux),
        "init": ("MultiBranchEmbedder at initialisation", lambda: MultiBranchEmbedder(
            **{**network, "max_epochs": 1, "lr": 1e-9}).fit(data.data[fit], aux[fit]), aux),
        "machine": ("MultiBranchEmbedder, machine type",
                    lambda: MultiBranchEmbedder(**network).fit(data.data[fit], machine[fit]), machine),
        "attributes": ("MultiBranchEmbedder, true attributes",
                       lambda: MultiBranchEmbedder(**network).fit(data.data[fit], aux[fit]), aux),
        "bands4": ("MultiBranchEmbedder, true attributes, 4 frequency bands (former design)",
                   lambda: MultiBranchEmbedder(**network, n_frequency_bands=4).fit(data.data[fit], aux[fit]), aux),
        "long": (f"MultiBranchEmbedder, true attributes, {4 * epochs} epochs", lambda: MultiBranchEmbedder(
            **{**network, "max_epochs": 4 * epochs}).fit(data.data[fit], aux[fit]), aux),
        "spectrum": ("MultiBranchEmbedder spectrum branch only, true attributes", lambda: MultiBranchEmbedder(
            **{**network, "branches": ("spectrum",)}).fit(data.data[fit], aux[fit]), aux),
    }
    rows, kinds = [], []
    for key, (name, build, labels) in representations.items():
        if keep is not None and key not in keep:
            continue
        transformer = build()
        embeddings = transformer.transform(data.data)
        if isinstance(transformer, MultiBranchEmbedder):
            classifier = network_classifier(transformer, embeddings, labels)
        else:
            classifier = log_mel_classifier(embeddings, fit, labels)
        row, by_kind = probe(embeddings, classifier, frame, data.target, fit, test, seed)
        setting = {"kinds": kind_set, "sections": sections, "source clips": source_clips, "seed": seed}
        rows.append({**setting, "representation": name, **row})
        for score, aucs in by_kind.items():
            kinds.extend({**setting, "representation": name, "score": score, "anomaly kind": kind, "AUC": auc}
                         for kind, auc in aucs.items())
        print(rows[-1], flush=True)
    return rows, kinds


def _cell(values, digits):
    if np.all(np.isnan(values)):
        return "-"
    return f"{values.mean():.{digits}f} +- {values.std(ddof=1) if len(values) > 1 else 0.0:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sections", type=int, nargs="+", default=[1],
                        help="sections (machine units) per machine type; several values run side by side")
    parser.add_argument("--source-clips", type=int, nargs="+", default=[60],
                        help="source-domain training clips per machine type and section; several run side by side")
    parser.add_argument("--kinds", nargs="+", choices=list(KIND_SETS), default=list(KIND_SETS),
                        help="the sets of anomaly kinds to generate (both by default)")
    parser.add_argument("--representations", nargs="+", choices=REPRESENTATIONS, default=list(REPRESENTATIONS),
                        help="the rows to measure (all by default)")
    parser.add_argument("--no-write", action="store_true", help="print the tables without writing docs/benchmarks.md")
    args = parser.parse_args()
    if min(args.sections) < 1:
        parser.error(f"--sections must be at least 1, got {min(args.sections)}")
    if min(args.source_clips) < 1:
        parser.error(f"--source-clips must be at least 1, got {min(args.source_clips)}")
    rows, kinds = [], []
    for kind_set in args.kinds:
        for sections in args.sections:
            for source_clips in args.source_clips:
                for seed in range(args.seeds):
                    seed_rows, seed_kinds = run(
                        seed, args.epochs, kind_set, sections, set(args.representations), source_clips)
                    rows += seed_rows
                    kinds += seed_kinds
    results = pd.DataFrame(rows)
    by_kind = pd.DataFrame(kinds)
    # With the default one section the tables are those of the one-section probe; else they name the sections.
    several = args.sections != [1]
    sizes = args.source_clips != [60]
    options = ""
    if several:
        options += " --sections " + " ".join(map(str, args.sections))
    if sizes:
        options += " --source-clips " + " ".join(map(str, args.source_clips))
    if args.kinds != list(KIND_SETS):
        options += " --kinds " + " ".join(args.kinds)
    if args.representations != list(REPRESENTATIONS):
        options += " --representations " + " ".join(args.representations)
    if args.no_write:
        options += " --no-write"
    columns = {"k-means cosine": 4, "local density": 4, "probe AUC": 4, "machine 1-NN": 3,
               "train label accuracy": 3, "label accuracy": 3, "speed accuracy": 3, "load accuracy": 3,
               "classifier AUC": 4}
    if several:
        columns = {**dict(list(columns.items())[:-1]), "section accuracy": 3, "classifier AUC": 4}
    lines = [
        SECTION_TITLE,
        "",
        f"`benchmarks/probe_generated_embeddings.py --seeds {args.seeds} --epochs {args.epochs}{options}`, "
        f"{date.today().isoformat()}, {os.cpu_count()} CPU cores, {platform.machine()}. The generated data of the "
        "PseudoLabelIterator ablation (4 machine types, "
        + ("60 source + 6 target" if not sizes else
           " or ".join(f"{n} source + {max(1, n // 10)} target" for n in args.source_clips))
        + " training clips of 1 s per type, 100 test "
        + ("clips per type), one section, " if not several else
           f"clips per type and section), {' and '.join(map(str, args.sections))} sections per machine type (each "
           "section a different unit; scorers fitted and AUCs taken per machine type and section; auxiliary labels "
           "machine|section|attributes), ")
        + "with " + " and with ".join(KIND_TEXT[kind_set] for kind_set in args.kinds)
        + " (docs/generator.md). Official DCASE 2023 score per scorer (fitted per machine type on the training clips); "
        "probe AUC: 5-fold cross-validated ROC AUC of a logistic regression trained on the test clips' own labels (is "
        "the anomaly linearly present at all?); machine 1-NN: cosine 1-NN accuracy of the test clips' machine type "
        "against the training clips; label accuracy and classifier AUC: the classifier of the labels the "
        "representation was trained on (for log-mel statistics: a logistic regression of machine|attributes on them; "
        "for a network: its own softmax), its accuracy on the training clips and on the normal source-domain test "
        "clips, of the speed and of the load it names for those clips (where its labels are machine|attributes; "
        "3 speeds and 2 loads per machine type in the source domain), "
        + ("and of the section (where its labels name one), " if several else "")
        + "and the ROC AUC of "
        "`-log p(true label)` as an anomaly score (normal test clips against anomalous ones, per machine type, "
        f"averaged). CPU-sized network of that ablation, {args.epochs} epochs. Mean +- standard deviation over "
        f"{args.seeds} seeds (0 to {args.seeds - 1}).",
        "",
        "| anomaly kinds | " + ("sections | " if several else "") + ("source clips | " if sizes else "")
        + "representation | " + " | ".join(columns) + " |",
        "|---|" + ("---:|" if several else "") + ("---:|" if sizes else "") + "---|" + "---:|" * len(columns),
    ]
    for (kind_set, sections, source_clips, name), group in results.groupby(
            ["kinds", "sections", "source clips", "representation"], sort=False):
        cells = " | ".join(_cell(group[column].to_numpy(), digits) for column, digits in columns.items())
        lines.append(f"| {kind_set} | " + (f"{sections} | " if several else "")
                     + (f"{source_clips} | " if sizes else "") + f"{name} | {cells} |")
    lines += [
        "",
        "By anomaly kind (ROC AUC of the normal test clips against that kind's anomalous ones, per machine type, "
        f"averaged; mean +- standard deviation over {args.seeds} seeds): local density on the representation, and "
        "the attribute classifier's `-log p(true label)`.",
        "",
        "| anomaly kind | " + ("sections | " if several else "") + ("source clips | " if sizes else "")
        + "log-mel statistics, local density | "
        "log-mel classifier | trained embedder (true attributes), local density | trained embedder's softmax |",
        "|---|" + ("---:|" if several else "") + ("---:|" if sizes else "") + "---:|---:|---:|---:|",
    ]
    shown = ["log-mel statistics (no training)", "MultiBranchEmbedder, true attributes"]
    for kind_set in args.kinds:
        observed = by_kind.loc[by_kind["kinds"] == kind_set, "anomaly kind"].unique()
        for kind in ["all", *sorted(set(observed) - {"all"})]:
            for sections in args.sections:
                for source_clips in args.source_clips:
                    cells = []
                    for name in shown:
                        for score in ("local density", "classifier"):
                            rows_ = by_kind[(by_kind["kinds"] == kind_set) & (by_kind["sections"] == sections)
                                            & (by_kind["source clips"] == source_clips)
                                            & (by_kind["representation"] == name) & (by_kind["score"] == score)
                                            & (by_kind["anomaly kind"] == kind)]
                            cells.append(_cell(rows_["AUC"].to_numpy(), 3))
                    label = f"all ({kind_set})" if kind == "all" else kind
                    lines.append(f"| {label} | " + (f"{sections} | " if several else "")
                                 + (f"{source_clips} | " if sizes else "") + " | ".join(cells) + " |")
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    main()
