"""Ward pseudo-attributes and domain-adaptive pre-training (DAP) on generated data with hidden attributes.

Fang et al.'s Table 1 and Table 2 ablations, CPU-sized. ``make_machine_sounds``
with the four machine types, one section each (60 source + 6 target
training clips of 2 s per type, 25 normal + 25 anomalous test clips per
domain). Two machine types (``--hidden``, gearbox and bearing) hide their
attributes, as DCASE 2024-2025's machines without attribute labels; the
other two keep their ``machine|attributes`` class.

One CPU-sized spectrogram ViT for every model: 64 mel bands, patches of
8 bands x 16 frames (8 x 12 = 96 patches per 2 s clip), width 64, 3
blocks, 4 heads. All models of a seed use ``random_state=seed``, so every
ViT starts from the *same* random weights (the estimators build the ViT
first thing under the same torch seed; checked to 4e-12): the random-init
encoder, the DAP run and every fine-tuning from random init differ only in
what they are trained on.

Encoders whose embeddings of the training clips are clustered into
pseudo-attributes (``WardPseudoAttributes``, ``--n-clusters`` per hidden
type, ``"auto"``: silhouette over 2-10; embeddings L2-normalised first, so
that Ward clusters directions, as the cosine k-NN back-end compares them):

- (b) the random-init encoder (the paper's GP, an AudioSet model, has no
  counterpart here: we have no pre-trained weights, so "general
  pre-training" is no pre-training): ``MaskedTeacherStudentPretrainer``
  fitted for one epoch at ``lr=1e-12`` (``lr`` must be positive), i.e. its
  initial weights unchanged; its eq. 8 embedding (mean patch output);
- (c) the model fine-tuned with the hidden types as one class each (the
  paper's FT, the DCASE 2024 winner's recipe: the labelled types keep
  their attributes): the variant (a) model below, its ArcFace (CLS)
  embedding;
- (d) the DAP encoder: ``MaskedTeacherStudentPretrainer`` fitted,
  self-supervised, on all training clips (``--dap-epochs``, mask ratio 0.8,
  2 x 2 kept blocks, 4 masks, EMA 0.99 -> 0.999 because EAT's 0.999 ->
  0.9999 would leave the teacher at its random start over a few hundred
  steps); its eq. 8 embedding.

Fine-tuning (``ViTArcFaceEmbedder``, ArcFace on the CLS output, mixup,
SpecAugment, AdamW at 1e-3 with a 10 % warm-up and cosine decay,
``--epochs``) on labels that keep the true attributes of the labelled types
and give the hidden types (a) their machine type only
(``"gearbox|noAttr"``), (b)/(c)/(d) the pseudo-attributes of encoder
(b)/(c)/(d), or their true attributes (upper bound). Table 1: every label
set fine-tuned from random init. Table 2: (a), (d) and the upper bound also
fine-tuned from the DAP encoder (``weights=`` the fitted pre-trainer).
References: ``LogMelStatistics`` (no training) and the encoders (b) and
(d) without fine-tuning.

Scoring: per machine type, ``KNNScorer`` (cosine, K = 1) fitted on that
type's training embeddings (source and target), the paper's k-NN back-end;
k-means (as bench_pseudo_labels.py) would add a number of centres tied to
the number of conditions that the pseudo-labels are meant to discover,
and with K = 1 the few target clips are their own references, without a
domain argument. Official DCASE 2023 score over the test clips of all four
types, and of the hidden types alone (where pseudo-labels matter). ARI:
Ward pseudo-attributes of the hidden types' source training clips against
their hidden true attributes (6 conditions), mean over the hidden types.
Mean ± std over ``--seeds``; the reading compares paired per-seed
differences with their spread.

    .venv/bin/python benchmarks/bench_ward_dap.py [--seeds 3] [--epochs 25] [--dap-epochs 40] [--quick]

``--quick`` runs 1 seed on tiny data (16 training clips per type, 2 epochs)
to check the script end to end, prints the estimated time of the full run
from its per-epoch timings, and writes no docs. Per-seed results go to
``$TMPDIR/ward_dap_results.csv`` (``ward_dap_results_quick.csv``).
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
import torch
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import normalize

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("skasd") is None:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section

from skasd import (
    KNNScorer,
    LogMelStatistics,
    MaskedTeacherStudentPretrainer,
    ViTArcFaceEmbedder,
    WardPseudoAttributes,
)
from skasd.datasets import make_machine_sounds
from skasd.metrics import dcase_scores

SECTION_TITLE = "## Ward pseudo-attributes and domain-adaptive pre-training"
FULL_DATA = {"n_source_train": 60, "n_target_train": 6, "n_test_normal": 25, "n_test_anomalous": 25, "duration": 2.0}
# 16 training clips per type: 64 in all, two whole batches, so that the timed epochs are whole ones.
QUICK_DATA = {"n_source_train": 14, "n_target_train": 2, "n_test_normal": 4, "n_test_anomalous": 4, "duration": 2.0}
MACHINE_TYPES = ("fan", "pump", "gearbox", "bearing")
# On the CPU whatever the machine has: the timings and the sizes are for 2 cores.
VIT = {
    "n_mels": 64, "patch_size": (8, 16), "embed_dim": 64, "depth": 3, "n_heads": 4, "batch_size": 32,
    "device": "cpu", "verbose": 0,
}
# EAT's EMA (0.999 -> 0.9999) would leave the teacher at its random start over a few hundred steps.
DAP = {
    "decoder_depth": 2, "mask_ratio": 0.8, "block_size": 2, "n_masks": 4, "ema_decay": 0.99, "ema_end_decay": 0.999,
    "lr": 5e-4,
}
FINE_TUNING = {"lr": 1e-3}
WARMUP_FRACTION = 0.1
# lr must be positive: at 1e-12, one epoch of AdamW moves no weight by more than 1e-11 (measured): the init, unchanged.
NO_LEARNING_RATE = 1e-12

VARIANTS = {
    "logmel": "LogMelStatistics, no training (reference)",
    "encoder_random": "encoder (b), random init, no fine-tuning",
    "encoder_dap": "encoder (d), DAP, no fine-tuning",
    "random_a": "random init + fine-tuning, (a) no pseudo-labels (= encoder (c))",
    "random_b": "random init + fine-tuning, (b) pseudo-labels from the random-init encoder",
    "random_c": "random init + fine-tuning, (c) pseudo-labels from the fine-tuned encoder",
    "random_d": "random init + fine-tuning, (d) pseudo-labels from the DAP encoder",
    "random_true": "random init + fine-tuning, true attributes (upper bound)",
    "dap_a": "DAP + fine-tuning, (a) no pseudo-labels",
    "dap_d": "DAP + fine-tuning, (d) DAP pseudo-labels (the paper's method)",
    "dap_true": "DAP + fine-tuning, true attributes (upper bound)",
}


def steps_per_epoch(n_clips):
    """Optimiser steps per epoch: the estimators drop the last incomplete batch."""
    return n_clips // min(VIT["batch_size"], n_clips)


def warmup_steps(n_clips, epochs):
    """10 % of the run's optimiser steps."""
    return max(1, round(WARMUP_FRACTION * steps_per_epoch(n_clips) * epochs))


def clips_seen(n_clips, epochs):
    """Clips through the network in training, the unit that the timings scale with."""
    return steps_per_epoch(n_clips) * min(VIT["batch_size"], n_clips) * epochs


def official_scores(embeddings, data, train, hidden):
    """Official DCASE 2023 score of per-machine-type cosine 1-NN, over all types and over the hidden types."""
    frame = data.frame
    machine, domain = frame["machine"].to_numpy(), frame["domain"].to_numpy()
    anomaly_scores = np.full(len(frame), np.nan)
    for machine_type in np.unique(machine):
        rows = machine == machine_type
        fit, test = rows & train, rows & ~train
        scorer = KNNScorer(metric="cosine", n_neighbors=1).fit(embeddings[fit])
        anomaly_scores[test] = scorer.anomaly_score(embeddings[test])
    scores = []
    for test in (~train, ~train & hidden):
        scores.append(dcase_scores(data.target[test], anomaly_scores[test], domain[test], machine[test])[1])
    return scores


def pseudo_attributes(embeddings, machine, visible_attributes, n_clusters):
    """Ward pseudo-attributes of the hidden types (true ones kept elsewhere) and the number of clusters chosen."""
    ward = WardPseudoAttributes(n_clusters=n_clusters)
    labels = ward.fit_predict(normalize(embeddings), machine=machine, attributes=visible_attributes)
    return np.asarray(labels, dtype=object), float(np.mean(list(ward.n_clusters_.values())))


def hidden_ari(labels, machine, domain, attributes, hidden_types):
    """ARI of the pseudo-labels of each hidden type's source clips against its true attributes, mean over types."""
    values = []
    for machine_type in hidden_types:
        rows = (machine == machine_type) & (domain == "source")
        values.append(adjusted_rand_score(attributes[rows], labels[rows]))
    return float(np.mean(values))


def run(seed, args, data_sizes):
    """One seed: data, encoders (b) and (d), pseudo-attributes, every fine-tuning; rows and timings."""
    started_seed = time.perf_counter()
    data = make_machine_sounds(
        machine_types=MACHINE_TYPES, n_sections=1, **data_sizes, random_state=seed, n_jobs=-1,
    )
    frame = data.frame
    train = (frame["split"] == "train").to_numpy()
    hidden = frame["machine"].isin(args.hidden).to_numpy()
    X_train = data.data[train]
    machine = frame["machine"].to_numpy()[train]
    domain = frame["domain"].to_numpy()[train]
    attributes = frame["attributes"].to_numpy()[train]
    hidden_train = hidden[train]
    # What the fine-tuner may see: the labelled types' attributes; None marks a type to cluster.
    visible_attributes = np.where(hidden_train, None, attributes)
    true_labels = frame["aux_label"].to_numpy()[train]
    no_pseudo_labels = np.where(hidden_train, np.char.add(machine.astype(str), "|noAttr"), true_labels)
    n_train = len(X_train)
    rows, timings = [], []

    def record(variant, embeddings, seconds, ari=np.nan, n_clusters=np.nan, **extra):
        score_all, score_hidden = official_scores(embeddings, data, train, hidden)
        rows.append({
            "seed": seed, "variant": variant, "official": score_all, "official_hidden": score_hidden,
            "ari": ari, "n_clusters": n_clusters, "seconds": seconds, **extra,
        })
        ari_text = "" if np.isnan(ari) else f", ARI {ari:.3f} (k = {n_clusters:.1f})"
        print(f"seed {seed} {VARIANTS[variant]}: all {score_all:.4f}, hidden {score_hidden:.4f}{ari_text}, "
              f"{seconds:.1f} s", flush=True)

    def cluster(embeddings):
        labels, n_clusters = pseudo_attributes(embeddings, machine, visible_attributes, args.n_clusters)
        return labels, hidden_ari(labels, machine, domain, attributes, args.hidden), n_clusters

    def pretrainer(epochs, **params):
        return MaskedTeacherStudentPretrainer(
            **VIT, **{**DAP, **params}, max_epochs=epochs, warmup_steps=warmup_steps(n_train, epochs),
            random_state=seed,
        )

    def fine_tune(variant, labels, weights=None, ari=np.nan, n_clusters=np.nan):
        started = time.perf_counter()
        model = ViTArcFaceEmbedder(
            **VIT, **FINE_TUNING, weights=weights, max_epochs=args.epochs,
            warmup_steps=warmup_steps(n_train, args.epochs), random_state=seed,
        ).fit(X_train, labels)
        seconds = time.perf_counter() - started
        timings.append(("fine-tuning", seconds, clips_seen(n_train, args.epochs)))
        embeddings = model.transform(data.data)
        record(variant, embeddings, seconds, ari, n_clusters)
        return embeddings

    started = time.perf_counter()
    logmel = LogMelStatistics(sample_rate=data.sample_rate, n_jobs=-1).fit_transform(data.data)
    record("logmel", logmel, time.perf_counter() - started)

    # (b): the shared initial weights, unchanged (one epoch at a learning rate that moves nothing).
    started = time.perf_counter()
    random_encoder = pretrainer(1, lr=NO_LEARNING_RATE).fit(X_train)
    random_seconds = time.perf_counter() - started
    random_embeddings = random_encoder.transform(data.data)
    labels_b, ari_b, k_b = cluster(random_embeddings[train])
    record("encoder_random", random_embeddings, random_seconds, ari_b, k_b)

    # (d): domain-adaptive pre-training, self-supervised, on every training clip.
    started = time.perf_counter()
    dap = pretrainer(args.dap_epochs).fit(X_train)
    dap_seconds = time.perf_counter() - started
    timings.append(("DAP", dap_seconds, clips_seen(n_train, args.dap_epochs)))
    history = dap.net_.history
    losses = {
        f"{term}_{end}": history[index][term]
        for term in ("frame_loss", "utterance_loss") for end, index in (("first", 0), ("last", -1))
    }
    dap_embeddings = dap.transform(data.data)
    labels_d, ari_d, k_d = cluster(dap_embeddings[train])
    record("encoder_dap", dap_embeddings, dap_seconds, ari_d, k_d, **losses)
    print(f"seed {seed} DAP UFO loss: frame {losses['frame_loss_first']:.3f} -> {losses['frame_loss_last']:.3f}, "
          f"utterance {losses['utterance_loss_first']:.3f} -> {losses['utterance_loss_last']:.3f}", flush=True)

    # Table 1: every label set fine-tuned from random init. (a) is also encoder (c).
    embeddings_a = fine_tune("random_a", no_pseudo_labels)
    labels_c, ari_c, k_c = cluster(embeddings_a[train])
    fine_tune("random_b", labels_b, ari=ari_b, n_clusters=k_b)
    fine_tune("random_c", labels_c, ari=ari_c, n_clusters=k_c)
    fine_tune("random_d", labels_d, ari=ari_d, n_clusters=k_d)
    fine_tune("random_true", true_labels)
    # Table 2: the same fine-tuning from the DAP encoder.
    fine_tune("dap_a", no_pseudo_labels, weights=dap)
    fine_tune("dap_d", labels_d, weights=dap, ari=ari_d, n_clusters=k_d)
    fine_tune("dap_true", true_labels, weights=dap)
    seed_seconds = time.perf_counter() - started_seed
    print(f"seed {seed} done in {seed_seconds:.0f} s", flush=True)
    return rows, {"seed_seconds": seed_seconds, "timings": timings, "n_clips": len(frame)}


def estimate_full_run(measured, args):
    """Seconds of the full run (``--seeds`` seeds, FULL_DATA), scaled from the quick run's per-epoch timings.

    Training scales with the clips it runs through (the quick run's rate
    per clip and epoch, fixed costs included, so it errs long); everything else
    (generation, embedding, clustering, scoring) with the number of clips.
    """
    full_train = len(MACHINE_TYPES) * (FULL_DATA["n_source_train"] + FULL_DATA["n_target_train"])
    full_clips = full_train + len(MACHINE_TYPES) * 4 * FULL_DATA["n_test_normal"]
    rates = {}
    for kind, seconds, clip_epochs in measured["timings"]:
        rates.setdefault(kind, []).append(seconds / clip_epochs)
    rate = {kind: float(np.mean(values)) for kind, values in rates.items()}
    n_fine_tunings = sum(kind == "fine-tuning" for kind, _, _ in measured["timings"])
    training = sum(seconds for _, seconds, _ in measured["timings"])
    other = (measured["seed_seconds"] - training) * full_clips / measured["n_clips"]
    per_seed = (
        rate["DAP"] * clips_seen(full_train, args.full_dap_epochs)
        + rate["fine-tuning"] * clips_seen(full_train, args.full_epochs) * n_fine_tunings
        + other
    )
    return per_seed * args.full_seeds, rate


def paired(results, column, better, worse):
    """Mean and spread of the per-seed difference better - worse, and whether it clears the spread."""
    table = results.pivot(index="seed", columns="variant", values=column)
    difference = (table[better] - table[worse]).to_numpy()
    mean = float(np.mean(difference))
    spread = float(np.std(difference, ddof=1)) if len(difference) > 1 else np.nan
    same_sign = bool(np.all(difference > 0) or np.all(difference < 0))
    clear = len(difference) > 1 and same_sign and abs(mean) > spread
    return mean, spread, clear


def claim(results, column, better, worse, label):
    """One sentence: the paper says ``better`` > ``worse``; do our numbers agree?"""
    mean, spread, clear = paired(results, column, better, worse)
    spread_text = "one seed, no spread" if np.isnan(spread) else f"± {spread:.3f} over seeds"
    if np.isnan(spread):
        verdict = "one seed cannot tell agreement from noise"
    elif not clear:
        verdict = "within the seed spread: neither agrees nor disagrees with the paper"
    elif mean > 0:
        verdict = "agrees with the paper"
    else:
        verdict = "disagrees with the paper"
    return f"{label}: {mean:+.3f} ({spread_text}), {verdict}.", clear and mean > 0


def reading(results, summary):
    """The automatically generated reading of the table, from the paired per-seed differences."""
    lines = [
        (
            "Reading (paired per-seed differences, mean ± std; \"clear\" needs the same sign on every seed and a "
            "mean larger than the spread):"
        ),
        "",
    ]
    agree = {}
    for worse, name in (("random_a", "(a)"), ("random_b", "(b)"), ("random_c", "(c)")):
        text, agree[worse] = claim(
            results, "official_hidden", "random_d", worse,
            f"Table 1, hidden types, (d) DAP pseudo-labels vs {name}, both fine-tuned from random init",
        )
        lines.append(f"- {text}")
        text, _ = claim(results, "official", "random_d", worse, "the same over all types")
        lines.append(f"  {text}")
    for worse, name in (("random_b", "(b) random-init encoder"), ("random_c", "(c) fine-tuned encoder")):
        text, _ = claim(results, "ari", "random_d", worse, f"Fig. 2, ARI of the DAP pseudo-labels vs {name}")
        lines.append(f"- {text}")
    for variant, name in (("a", "(a) no pseudo-labels"), ("d", "(d) DAP pseudo-labels"), ("true", "true attributes")):
        text, agree[f"dap_{variant}"] = claim(
            results, "official", f"dap_{variant}", f"random_{variant}",
            f"Table 2, fine-tuning from DAP vs from random init, {name}, all types",
        )
        lines.append(f"- {text}")
    text, agree["method"] = claim(
        results, "official", "dap_d", "random_a",
        "the paper's method (DAP + DAP pseudo-labels) vs plain fine-tuning ((a) from random init), all types",
    )
    lines.append(f"- {text}")
    dap_rows = results[results["variant"] == "encoder_dap"]
    value = summary.at
    lines += ["", (
        f"What DAP learned: the UFO loss went from frame {dap_rows['frame_loss_first'].mean():.3f} / utterance "
        f"{dap_rows['utterance_loss_first'].mean():.3f} (first epoch) to {dap_rows['frame_loss_last'].mean():.3f} / "
        f"{dap_rows['utterance_loss_last'].mean():.3f} (last); without fine-tuning, the DAP encoder scores "
        f"{value['encoder_dap', 'official']:.3f} (hidden types {value['encoder_dap', 'official_hidden']:.3f}) against "
        f"{value['encoder_random', 'official']:.3f} ({value['encoder_random', 'official_hidden']:.3f}) for the same "
        f"weights before DAP and {value['logmel', 'official']:.3f} ({value['logmel', 'official_hidden']:.3f}) for "
        f"LogMelStatistics, and its pseudo-attributes reach ARI {value['encoder_dap', 'ari']:.3f} against "
        f"{value['encoder_random', 'ari']:.3f} before DAP and {value['random_c', 'ari']:.3f} for the fine-tuned "
        "encoder."
    )]
    dap_helps = agree["method"] or agree["dap_a"] or agree["dap_d"]
    pseudo_helps = all(agree[key] for key in ("random_a", "random_b", "random_c"))
    if results["seed"].nunique() < 2:
        conclusion = "One seed: no conclusion (run with --seeds 3 or more)."
    elif dap_helps and pseudo_helps:
        conclusion = "At this scale DAP helps both ways, as in the paper."
    elif dap_helps:
        conclusion = (
            "At this scale DAP helps only as a starting point: fine-tuning from it beats fine-tuning from random "
            "init, but its pseudo-labels do not clearly beat (a), (b) and (c) on the hidden types."
        )
    elif pseudo_helps:
        conclusion = (
            "At this scale DAP helps only through its pseudo-labels: they beat (a), (b) and (c) on the hidden "
            "types, but fine-tuning from the DAP encoder does not clearly beat fine-tuning from random init."
        )
    else:
        conclusion = (
            "At this scale DAP does not clearly help: neither its pseudo-labels nor fine-tuning from it beat the "
            "alternatives beyond the seed spread; the measurements above say why (what the DAP encoder's "
            "embeddings score and how well they cluster the hidden attributes, compared with the same weights "
            "before DAP)."
        )
    lines += ["", conclusion]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=25, help="fine-tuning epochs")
    parser.add_argument("--dap-epochs", type=int, default=40, help="domain-adaptive pre-training epochs")
    parser.add_argument("--n-clusters", default="auto", help='pseudo-attributes per hidden type: "auto" or an int')
    parser.add_argument("--hidden", default="gearbox,bearing", help="machine types whose attributes are hidden")
    parser.add_argument("--quick", action="store_true", help="1 seed, tiny data, 2 epochs; no docs written")
    args = parser.parse_args()
    args.hidden = [name.strip() for name in args.hidden.split(",")]
    if args.n_clusters != "auto":
        args.n_clusters = int(args.n_clusters)
    args.full_seeds, args.full_epochs, args.full_dap_epochs = args.seeds, args.epochs, args.dap_epochs
    data_sizes = FULL_DATA
    if args.quick:
        args.seeds, args.epochs, args.dap_epochs = 1, 2, 2
        data_sizes = QUICK_DATA
    print(f"{args.seeds} seed(s), fine-tuning {args.epochs} epochs, DAP {args.dap_epochs} epochs, "
          f"hidden {args.hidden}, {torch.get_num_threads()} torch thread(s)", flush=True)
    started = time.perf_counter()
    rows, measured = [], []
    for seed in range(args.seeds):
        seed_rows, seed_measured = run(seed, args, data_sizes)
        rows += seed_rows
        measured.append(seed_measured)
        remaining = (time.perf_counter() - started) / (seed + 1) * (args.seeds - seed - 1)
        if remaining:
            print(f"about {remaining / 60:.1f} min left", flush=True)
    total_seconds = time.perf_counter() - started
    results = pd.DataFrame(rows)
    results["name"] = results["variant"].map(VARIANTS)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    csv_path = tmp / ("ward_dap_results_quick.csv" if args.quick else "ward_dap_results.csv")
    results.to_csv(csv_path, index=False)

    summary = results.groupby("variant", sort=False).agg(
        official=("official", "mean"), official_std=("official", "std"),
        official_hidden=("official_hidden", "mean"), official_hidden_std=("official_hidden", "std"),
        ari=("ari", "mean"), ari_std=("ari", "std"), n_clusters=("n_clusters", "mean"), seconds=("seconds", "mean"),
    )

    def cell(variant, column, digits=4):
        value, spread = summary.at[variant, column], summary.at[variant, f"{column}_std"]
        if np.isnan(value):
            return ""
        return f"{value:.{digits}f}" + ("" if np.isnan(spread) else f" ± {spread:.{digits}f}")

    command = (f"`benchmarks/bench_ward_dap.py --seeds {args.seeds} --epochs {args.epochs} "
               f"--dap-epochs {args.dap_epochs}`")
    if args.n_clusters != "auto":
        command = command[:-1] + f" --n-clusters {args.n_clusters}`"
    n_clusters = "; ".join(
        f"{name} {summary.at[variant, 'n_clusters']:.1f}"
        for variant, name in (("encoder_random", "(b)"), ("random_c", "(c)"), ("encoder_dap", "(d)"))
    )
    settings = (
        f"{command}, {date.today().isoformat()}, {os.cpu_count()} CPU cores, {platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, {total_seconds / 60:.0f} min. Fang et al.'s Table 1 / Table 2 "
        "ablation on generated data: 4 machine types, one section, "
        f"{data_sizes['n_source_train']} source + {data_sizes['n_target_train']} target training clips of "
        f"{data_sizes['duration']:g} s per type, {4 * data_sizes['n_test_normal']} test clips per type; "
        f"{' and '.join(args.hidden)} hide their attributes. One ViT for all models ({VIT['n_mels']} mel bands, "
        f"{VIT['patch_size'][0]} x {VIT['patch_size'][1]} patches, width {VIT['embed_dim']}, {VIT['depth']} blocks, "
        f"{VIT['n_heads']} heads, batch {VIT['batch_size']}), every model of a seed starting from the same random "
        f"weights; DAP: masked teacher-student, {args.dap_epochs} epochs, mask ratio {DAP['mask_ratio']}, "
        f"{DAP['block_size']} x {DAP['block_size']} kept blocks, {DAP['n_masks']} masks, EMA {DAP['ema_decay']} -> "
        f"{DAP['ema_end_decay']}, lr {DAP['lr']:g}; fine-tuning: ArcFace on the CLS output, mixup, SpecAugment, "
        f"{args.epochs} epochs, lr {FINE_TUNING['lr']:g}; both with a {WARMUP_FRACTION:.0%} warm-up and cosine decay. "
        "Pseudo-attributes: Ward on L2-normalised embeddings of the training clips, "
        f"n_clusters={args.n_clusters!r} per hidden type (chosen k, mean: {n_clusters}). (a) hidden types as one "
        "class; (b) the random-init encoder (no AudioSet model here: the paper's GP becomes no pre-training); "
        "(c) the fine-tuned (a) model; (d) the DAP encoder. Scored per machine type by KNNScorer (cosine, K = 1) on "
        f"the training clips' embeddings; official DCASE 2023 score, mean ± std over {args.seeds} "
        f"seed{'s' * (args.seeds > 1)}, over all four types and over the hidden types alone. ARI: the "
        "pseudo-attributes a row was trained on (or its encoder gives) for the hidden types' source clips, against "
        "their hidden true attributes (6 conditions). Seconds: training of the row's own model (the DAP run is "
        "shared by every DAP row)."
    )
    lines = [
        SECTION_TITLE,
        "",
        settings,
        "",
        "| variant | official all types | official hidden types | ARI | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant, name in VARIANTS.items():
        lines.append(
            f"| {name} | {cell(variant, 'official')} | {cell(variant, 'official_hidden')} | "
            f"{cell(variant, 'ari', 3)} | {summary.at[variant, 'seconds']:.0f} |"
        )
    lines += [""] + reading(results, summary)
    section = "\n".join(lines) + "\n"
    print(section)
    print(f"per-seed results: {csv_path}")
    print(f"total {total_seconds:.0f} s", flush=True)
    if args.quick:
        estimate, rate = estimate_full_run(measured[0], args)
        print(
            f"per clip-epoch: DAP {1000 * rate['DAP']:.2f} ms, fine-tuning {1000 * rate['fine-tuning']:.2f} ms; "
            f"estimated full run (--seeds {args.full_seeds} --epochs {args.full_epochs} --dap-epochs "
            f"{args.full_dap_epochs}): {estimate / 60:.1f} min at this machine's current speed",
            flush=True,
        )
    else:
        write_section(section)


if __name__ == "__main__":
    main()
