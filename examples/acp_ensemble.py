"""Fuse several scorers with ACPEnsemble: fit on training normals, weigh on development clips, report on held-out clips.

The flow an ensemble needs three disjoint sets of clips for:

1. ``fit`` every member on the normal training clips (metadata such as
   ``domain`` routed to the members that request it);
2. ``search_weights`` on a labelled development split (normal and anomalous
   clips, with their domain);
3. report the official DCASE score on a held-out split that neither step saw.

Scoring the development clips again would warn (``DevelopmentOverlapWarning``):
the weights were chosen to score exactly those clips well.

    .venv/bin/python examples/acp_ensemble.py [--fast]
"""

import argparse

import numpy as np
import sklearn
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skasd import (
    KMeansCosineScorer,
    KNNScorer,
    LocalDensityKNNScorer,
    LogMelStatistics,
    MahalanobisScorer,
    SoundNetEmbedder,
)
from skasd.datasets import make_machine_sounds
from skasd.ensemble import ACPEnsemble
from skasd.metrics import official_score


def development_split(frame, test, random_state):
    """Split the test clips in halves, stratified by machine type, section, domain and label."""
    positions = np.flatnonzero(test)
    strata = frame.iloc[positions][["machine", "section", "domain", "label"]].astype(str).agg("|".join, axis=1)
    dev_positions, _ = train_test_split(positions, test_size=0.5, stratify=strata, random_state=random_state)
    development = np.zeros(len(frame), bool)
    development[dev_positions] = True
    return development, test & ~development


def members(sample_rate, fast, random_state):
    """(name, pipeline) pairs; every pipeline takes waveforms and ends in a scorer."""
    log_mel = LogMelStatistics(sample_rate=sample_rate)
    chosen = [
        ("logmel_knn", make_pipeline(log_mel, KNNScorer())),
        ("logmel_density", make_pipeline(log_mel, LocalDensityKNNScorer())),
        ("logmel_mahalanobis", make_pipeline(log_mel, StandardScaler(), MahalanobisScorer())),
        # KMeansCosineScorer keeps the target-domain clips as centres: it
        # needs their domain, which metadata routing brings to it.
        ("logmel_kmeans", make_pipeline(
            log_mel, KMeansCosineScorer(n_clusters=4 if fast else 16, random_state=random_state).set_fit_request(domain=True),
        )),
    ]
    if not fast:
        chosen.append(("soundnet_density", make_pipeline(
            SoundNetEmbedder(layer="conv6", sample_rate=sample_rate, device="cpu"), LocalDensityKNNScorer(),
        )))
    return chosen


def main(fast=False, random_state=0):
    sizes = dict(machine_types=["fan", "gearbox"], n_source_train=30, n_target_train=4, n_test_normal=10,
                 n_test_anomalous=10, duration=1.0) if fast else {}
    data = make_machine_sounds(**sizes, random_state=random_state)
    frame = data.frame
    domain, machine = frame["domain"].to_numpy(), frame["machine"].to_numpy()
    train = (frame["split"] == "train").to_numpy()
    development, held_out = development_split(frame, ~train, random_state)
    print(f"{train.sum()} training normals, {development.sum()} development clips, {held_out.sum()} held-out clips")

    with sklearn.config_context(enable_metadata_routing=True):
        ensemble = ACPEnsemble(
            members(data.sample_rate, fast, random_state), n_iter=50 if fast else 200, random_state=random_state
        )
        # 1. Members on the training normals; domain reaches KMeansCosineScorer.
        ensemble.fit(data.data[train], domain=domain[train])

    results = {"weights": {}, "dev": {}, "held_out": {}}
    for weighting in ("acp", "uniform", "best_single"):
        # 2. Weights on the development split (the members are not refitted).
        ensemble.set_params(weighting=weighting)
        ensemble.search_weights(
            data.data[development], data.target[development],
            domain=domain[development], machine=machine[development],
        )
        # 3. The report, on clips neither step saw.
        held_out_score = official_score(
            data.target[held_out], ensemble.anomaly_score(data.data[held_out]), domain[held_out], machine[held_out]
        )
        results["weights"][weighting] = dict(zip(ensemble.member_names_, ensemble.weights_.round(3).tolist()))
        results["dev"][weighting] = ensemble.dev_score_
        results["held_out"][weighting] = held_out_score
    member_scores = ensemble.member_anomaly_scores(data.data[held_out])
    results["members_held_out"] = {
        name: official_score(data.target[held_out], member_scores[:, m], domain[held_out], machine[held_out])
        for m, name in enumerate(ensemble.member_names_)
    }
    results["members_dev"] = dict(ensemble.member_dev_scores_)

    print(f"{'':22s} {'development':>11s} {'held-out':>9s}")
    for weighting in ("acp", "uniform", "best_single"):
        print(f"{weighting:22s} {results['dev'][weighting]:11.4f} {results['held_out'][weighting]:9.4f}")
    for name, score in results["members_held_out"].items():
        print(f"  {name:20s} {results['members_dev'][name]:11.4f} {score:9.4f}")
    print("ACP weights:", results["weights"]["acp"])
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny data and cheap members (a few seconds)")
    main(fast=parser.parse_args().fast)
