"""Tests of skasd.pseudo_labels: k-means pseudo-labels and the pseudo-anomalous external set."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from skasd import KMeansCosineScorer
from skasd.pseudo_labels import (
    check_external_pool,
    drop_external,
    kmeans_pseudo_labels,
    select_external,
)

N_SOURCE_BLOBS, N_TARGET_BLOBS = 16, 4
N_FEATURES = N_SOURCE_BLOBS + N_TARGET_BLOBS


def _blobs(machines=("fan", "valve"), per_source_blob=5, per_target_blob=3, seed=0):
    """Well-separated blobs in angle: source blob j along axis j, target blob j along axis 16 + j."""
    rng = np.random.default_rng(seed)
    X, machine, domain, truth = [], [], [], []
    for m in machines:
        for d, n_blobs, offset, per_blob in (
            ("source", N_SOURCE_BLOBS, 0, per_source_blob),
            ("target", N_TARGET_BLOBS, N_SOURCE_BLOBS, per_target_blob),
        ):
            for j in range(n_blobs):
                center = np.zeros(N_FEATURES)
                center[offset + j] = 10.0
                X.append(center + rng.normal(scale=0.3, size=(per_blob, N_FEATURES)))
                machine += [m] * per_blob
                domain += [d] * per_blob
                truth += [f"{m}{d}{j}"] * per_blob
    X = np.vstack(X)
    order = rng.permutation(len(X))  # interleave the groups
    return X[order], np.array(machine)[order], np.array(domain)[order], np.array(truth)[order]


@pytest.fixture(scope="module")
def blobs():
    return _blobs()


@pytest.fixture(scope="module")
def pseudo(blobs):
    X, machine, domain, _ = blobs
    return kmeans_pseudo_labels(X, machine, domain, random_state=0, return_centroids=True)


# --------------------------------------------------------------------------- k-means pseudo-labels


def test_counts_per_machine_and_domain(blobs, pseudo):
    _, machine, domain, truth = blobs
    labels, centroids = pseudo
    assert labels.shape == machine.shape
    assert set(centroids) == {(m, d) for m in ("fan", "valve") for d in ("source", "target")}
    for m in ("fan", "valve"):
        for d, k in (("source", 16), ("target", 4)):
            group = (machine == m) & (domain == d)
            assert len(set(labels[group])) == k
            assert centroids[(m, d)].shape == (k, N_FEATURES)
            # well-separated blobs: the clusters are the blobs
            assert adjusted_rand_score(truth[group], labels[group]) == 1.0
    assert len(set(labels)) == 2 * (16 + 4)


def test_each_clip_gets_its_nearest_centroid(blobs, pseudo):
    X, machine, domain, _ = blobs
    labels, centroids = pseudo
    units = X / np.linalg.norm(X, axis=1, keepdims=True)
    for (m, d), centers in centroids.items():
        group = np.flatnonzero((machine == m) & (domain == d))
        distances = ((units[group, None, :] - centers[None, :, :]) ** 2).sum(axis=-1)
        nearest = distances.argmin(axis=1)
        letter = d[0]
        expected = np.array([f"{m}_{letter}{j}" for j in nearest], dtype=object)
        np.testing.assert_array_equal(labels[group], expected)


def test_source_and_target_labels_are_distinct(blobs, pseudo):
    _, machine, domain, _ = blobs
    labels, _ = pseudo
    source, target = set(labels[domain == "source"]), set(labels[domain == "target"])
    assert not source & target
    assert all(re.fullmatch(r"(fan|valve)_s\d+", label) for label in source)
    assert all(re.fullmatch(r"(fan|valve)_t\d+", label) for label in target)
    # each label names its clip's machine type
    assert all(label.startswith(f"{m}_") for label, m in zip(labels, machine))


def test_attributes_compose_labels(blobs, pseudo):
    X, machine, domain, _ = blobs
    plain, _ = pseudo
    attributes = np.array(["spd_6", "", None, np.nan, "noAttributes", " car_A1 "] * 200, dtype=object)[
        : len(X)
    ]
    labels = kmeans_pseudo_labels(X, machine, domain, attributes=attributes, random_state=0)
    for label, base, attribute, m in zip(labels, plain, attributes, machine):
        suffix = base.rsplit("_", 1)[1]  # the same clustering, attributes or not
        if attribute in ("spd_6", " car_A1 "):
            assert label == f"{m}_{attribute.strip()}_{suffix}"
        else:
            assert label == base


def test_normalize_makes_labels_scale_invariant(blobs, pseudo):
    X, machine, domain, _ = blobs
    plain, centroids = pseudo
    scales = np.random.default_rng(1).uniform(0.01, 100, size=(len(X), 1))
    scaled = kmeans_pseudo_labels(X * scales, machine, domain, random_state=0)
    np.testing.assert_array_equal(scaled, plain)
    # centroids live on (means of) unit vectors
    assert all(np.linalg.norm(c, axis=1).max() <= 1 + 1e-12 for c in centroids.values())
    raw = kmeans_pseudo_labels(X * scales, machine, domain, normalize=False, random_state=0)
    assert adjusted_rand_score(raw, plain) < 1.0


def test_random_state_reproducible(blobs):
    X, machine, domain, _ = blobs
    rng = np.random.default_rng(2)
    noise = rng.normal(size=X.shape)  # no cluster structure: initialisation matters
    a = kmeans_pseudo_labels(noise, machine, domain, random_state=3, n_init=1)
    b = kmeans_pseudo_labels(noise, machine, domain, random_state=3, n_init=1)
    np.testing.assert_array_equal(a, b)


def test_too_few_source_clips_raises():
    X = np.random.default_rng(0).normal(size=(20, 4))
    machine = np.array(["fan"] * 10 + ["valve"] * 10)
    domain = np.array(["source"] * 20)
    with pytest.raises(
        ValueError,
        match=r"machine type 'fan' has 10 source-domain clip\(s\), fewer than n_clusters_source=16",
    ):
        kmeans_pseudo_labels(X, machine, domain)


def test_too_few_target_clips_warns_and_keeps_each():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(11, 4))
    machine = np.array(["fan"] * 11)
    domain = np.array(["source"] * 8 + ["target"] * 3)
    with pytest.warns(UserWarning, match=r"'fan' has 3 target-domain clip\(s\) for n_clusters_target=4"):
        labels, centroids = kmeans_pseudo_labels(
            X, machine, domain, n_clusters_source=2, random_state=0, return_centroids=True
        )
    assert sorted(labels[8:]) == ["fan_t0", "fan_t1", "fan_t2"]
    assert centroids[("fan", "target")].shape == (3, 4)
    # exactly k target clips: no warning
    domain4 = np.array(["source"] * 7 + ["target"] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = kmeans_pseudo_labels(X, machine, domain4, n_clusters_source=2, random_state=0)
    assert len(set(labels[7:])) == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"domain": ["source"] * 5 + ["unknown"] * 5}, r"domain must be 'source' or 'target'.*unknown"),
        ({"machine": ["fan"] * 9}, r"machine has 9 values but embeddings has 10 clips"),
        ({"attributes": [""] * 3}, r"attributes has 3 values but embeddings has 10 clips"),
        ({"n_clusters_source": 0}, r"n_clusters_source must be a positive integer"),
        ({"embeddings": np.zeros((10, 3))}, r"embeddings has 10 zero vector"),
        ({"embeddings": np.full((10, 3), np.nan)}, r"embeddings"),
    ],
)
def test_kmeans_bad_input(kwargs, match):
    args = {
        "embeddings": np.random.default_rng(0).normal(size=(10, 3)),
        "machine": ["fan"] * 10,
        "domain": ["source"] * 10,
        "n_clusters_source": 2,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kmeans_pseudo_labels(
            args.pop("embeddings"), args.pop("machine"), args.pop("domain"), **args
        )


# ------------------------------------------------------------------------ external selection

TRAIN_SCORES = [1.0, 3.0, 2.0, 0.5, 1.5]
TRAIN_MACHINE = ["fan", "fan", "fan", "valve", "valve"]  # thresholds: fan 3.0, valve 1.5
EXTERNAL_SCORES = {
    "fan": [2.9, 3.0, 0.1, 5.0, 1.0, 1.0],
    "valve": [1.4, 0.2, 1.5, 9.0, 0.3, 2.0],
}
EXTERNAL_CLASS = ["piano", "speech", "engine", "piano", "engine", None]


def test_select_external_rule():
    selection = select_external(
        TRAIN_SCORES, TRAIN_MACHINE, EXTERNAL_SCORES, external_class=EXTERNAL_CLASS, n_max=3
    )
    assert list(selection.columns) == ["external_index", "machine", "score", "threshold", "label"]
    fan = selection[selection.machine == "fan"]
    valve = selection[selection.machine == "valve"]
    # fan: candidates 0 (2.9), 2 (0.1), 4 (1.0), 5 (1.0); clip 1 at the threshold is out;
    # ascending, ties by index, capped at 3 (N_out = 4 > n_max)
    assert fan.external_index.tolist() == [2, 4, 5]
    assert fan.score.tolist() == [0.1, 1.0, 1.0]
    assert fan.threshold.tolist() == [3.0] * 3
    assert fan.label.tolist() == ["fan_engine", "fan_engine", "fan_external"]
    # valve: candidates 1, 4, 0 (N_out = 3 <= n_max); clip 2 scores exactly 1.5
    assert valve.external_index.tolist() == [1, 4, 0]
    assert valve.threshold.tolist() == [1.5] * 3
    assert valve.label.tolist() == ["valve_speech", "valve_engine", "valve_piano"]
    # the same class and even the same clip under two machine types: two classes
    assert {"fan_engine", "valve_engine"} <= set(selection.label)
    assert (selection.external_index == 4).sum() == 2
    assert selection.index.tolist() == list(range(6))


def test_select_external_cap_and_no_cap():
    by_cap = {
        n_max: select_external(TRAIN_SCORES, TRAIN_MACHINE, EXTERNAL_SCORES, n_max=n_max)
        for n_max in (1, 2, None)
    }
    assert by_cap[1].groupby("machine").size().to_dict() == {"fan": 1, "valve": 1}
    assert by_cap[2].external_index.tolist() == [2, 4, 1, 4]
    assert by_cap[None].groupby("machine").size().to_dict() == {"fan": 4, "valve": 3}
    assert by_cap[None][by_cap[None].machine == "fan"].external_index.tolist() == [2, 4, 5, 0]
    assert set(by_cap[None].label) == {"fan_external", "valve_external"}
    for frame in by_cap.values():
        for _, group in frame.groupby("machine"):
            assert group.score.is_monotonic_increasing
            assert (group.score < group.threshold).all()


def test_select_external_default_cap_is_1000_and_dataframe_input():
    rng = np.random.default_rng(0)
    pool = pd.DataFrame({"fan": rng.uniform(0, 1, 1500)})
    selection = select_external([2.0], ["fan"], pool)
    assert len(selection) == 1000
    np.testing.assert_array_equal(selection.score, np.sort(pool.fan)[:1000])


def test_select_external_nothing_below_threshold():
    selection = select_external([1.0], ["fan"], {"fan": [1.0, 2.0]})
    assert selection.empty
    assert list(selection.columns) == ["external_index", "machine", "score", "threshold", "label"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"external_scores": {"pump": [0.1]}}, r"machine type 'pump', which has no clip in train_machine"),
        (
            {"external_scores": {"fan": [0.1, 0.2], "valve": [0.1]}},
            r"external_scores\['valve'\] has 1 scores but the first machine type's has 2",
        ),
        ({"external_scores": {"fan": [np.nan]}}, r"external_scores\['fan'\] contains NaN"),
        ({"external_scores": [[0.1]]}, r"external_scores must be a mapping"),
        ({"train_machine": ["fan"]}, r"train_machine has 1 values but train_scores has 5"),
        ({"n_max": 0}, r"n_max must be a positive integer or None; got 0"),
        ({"external_class": ["a"]}, r"external_class has 1 values but external_scores\['fan'\] has 2"),
    ],
)
def test_select_external_bad_input(kwargs, match):
    args = {
        "train_scores": TRAIN_SCORES,
        "train_machine": TRAIN_MACHINE,
        "external_scores": {"fan": [0.1, 0.2]},
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        select_external(args.pop("train_scores"), args.pop("train_machine"), args.pop("external_scores"), **args)


# ----------------------------------------------------------------------------- external pool


def test_check_external_pool():
    pool = np.zeros((2, 100), dtype=np.float32)
    out = check_external_pool(pool, external_sample_rate=16000, n_samples=100)
    assert out.shape == (2, 100) and out.dtype == np.float32
    with pytest.raises(ValueError, match=r"external_sample_rate=22050 differs .* sample_rate=16000"):
        check_external_pool(pool, external_sample_rate=22050)
    with pytest.raises(ValueError, match=r"clips of 100 samples .* n_samples=160"):
        check_external_pool(pool, external_sample_rate=16000, n_samples=160)
    with pytest.raises(ValueError, match=r"X_external"):
        check_external_pool(np.full((2, 100), np.inf), external_sample_rate=16000)


# ------------------------------------------------------------------- representative vectors


def test_representatives_never_from_external_clips():
    rng = np.random.default_rng(0)
    original = rng.normal([5, 0, 0, 0], 1, size=(40, 4))
    original_domain = np.array(["source"] * 36 + ["target"] * 4)
    external = np.tile([0, 0, 0, 1e6], (10, 1)) + rng.normal(size=(10, 4))
    X = np.vstack([original[:20], external[:5], original[20:], external[5:]])
    domain = np.concatenate(
        [original_domain[:20], ["source"] * 5, original_domain[20:], ["target"] * 5]
    )
    is_external = np.r_[np.zeros(20, bool), np.ones(5, bool), np.zeros(20, bool), np.ones(5, bool)]

    X_kept, domain_kept = drop_external(is_external, X, domain)
    np.testing.assert_array_equal(X_kept, original)
    np.testing.assert_array_equal(domain_kept, original_domain)

    with_drop = KMeansCosineScorer(n_clusters=4, random_state=0).fit(X_kept, domain=domain_kept)
    reference = KMeansCosineScorer(n_clusters=4, random_state=0).fit(original, domain=original_domain)
    np.testing.assert_allclose(with_drop.cluster_centers_, reference.cluster_centers_)
    # no representative vector points towards the external clips
    assert np.abs(with_drop.cluster_centers_[:, 3]).max() < 0.9

    _, centroids = kmeans_pseudo_labels(
        X_kept, np.array(["fan"] * 40), domain_kept, n_clusters_source=4, random_state=0,
        return_centroids=True,
    )
    assert all(np.abs(c[:, 3]).max() < 0.9 for c in centroids.values())


def test_drop_external_bad_input():
    with pytest.raises(ValueError, match=r"is_external must be a 1-D boolean array"):
        drop_external([0, 1], np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"True for every clip"):
        drop_external([True, True], np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"array 1 has 3 rows but is_external has 2"):
        drop_external([True, False], np.zeros((2, 2)), np.zeros(3))
    frame = pd.DataFrame({"domain": ["source", "target"]})
    kept = drop_external([True, False], frame)
    assert kept.domain.tolist() == ["target"]
