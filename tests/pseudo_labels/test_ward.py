"""Tests of WardPseudoAttributes: Ward pseudo-attributes per machine type (Fang et al., Section 2.4)."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import dendrogram, fcluster, is_valid_linkage, linkage
from sklearn import config_context
from sklearn.cluster import AgglomerativeClustering
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skasd.pseudo_labels._ward import WardPseudoAttributes, _cut_tree


def _same_partition(a, b):
    """True when the two labelings group the clips identically (up to the names of the groups)."""
    a, b = np.asarray(a).astype(str), np.asarray(b).astype(str)
    pairs = set(zip(a, b, strict=True))
    return len(pairs) == len(set(a)) == len(set(b))


def _blobs(n_blobs, per_blob=8, n_features=6, seed=0):
    """Well-separated blobs (centres 20 apart along the axes, unit-scale noise), shuffled."""
    rng = np.random.default_rng(seed)
    centers = 20.0 * np.eye(n_blobs, n_features)
    truth = np.repeat(np.arange(n_blobs), per_blob)
    X = centers[truth] + rng.normal(size=(len(truth), n_features))
    order = rng.permutation(len(truth))
    return X[order], truth[order]


@pytest.fixture(scope="module")
def mixed():
    """fan and pump without attributes, valve with; clips interleaved."""
    rng = np.random.default_rng(1)
    machine = np.array(["fan"] * 30 + ["pump"] * 25 + ["valve"] * 20, dtype=object)
    attributes = np.array([None] * 30 + [np.nan] * 20 + ["noAttribute"] * 5 + ["pat_00"] * 10 + [" pat_01"] * 10,
                          dtype=object)
    X = rng.normal(size=(len(machine), 5))
    order = rng.permutation(len(machine))
    return X[order], machine[order], attributes[order]


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize("n_clusters", [1, 2, 4, 7])
def test_labels_are_agglomerative_clustering_per_machine(mixed, n_clusters):
    X, machine, attributes = mixed
    ward = WardPseudoAttributes(n_clusters=n_clusters)
    labels = ward.fit_predict(X, machine=machine, attributes=attributes)
    assert set(ward.clusterers_) == set(ward.n_clusters_) == {"fan", "pump"}
    for m in ("fan", "pump"):
        rows = machine == m
        reference = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward").fit(X[rows])
        assert _same_partition(labels[rows], reference.labels_)
        assert ward.n_clusters_[m] == n_clusters
        # k in "<machine>|pseudo_<k>" is the stored clusterer's label
        assert list(labels[rows]) == [f"{m}|pseudo_{k}" for k in ward.clusterers_[m].labels_]


@pytest.mark.parametrize("threshold", [2.0, 5.0, 12.0])
def test_distance_threshold_is_agglomerative_clustering(mixed, threshold):
    X, machine, attributes = mixed
    ward = WardPseudoAttributes(n_clusters=None, distance_threshold=threshold)
    labels = ward.fit_predict(X, machine=machine, attributes=attributes)
    for m in ("fan", "pump"):
        rows = machine == m
        reference = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold).fit(X[rows])
        assert _same_partition(labels[rows], reference.labels_)
        assert ward.n_clusters_[m] == reference.n_clusters_
    assert ward.selection_scores_ == {}


def test_cut_tree_is_agglomerative_clusterings_cut():
    X = np.random.default_rng(3).normal(size=(15, 4))
    tree = AgglomerativeClustering(n_clusters=1, compute_full_tree=True).fit(X)
    for k in range(1, 16):
        cut = _cut_tree(tree.children_, 15, k)
        assert len(set(cut)) == k
        assert _same_partition(cut, AgglomerativeClustering(n_clusters=k).fit(X).labels_)


def test_labelled_machines_keep_their_attributes(mixed):
    X, machine, attributes = mixed
    labels = WardPseudoAttributes(n_clusters=3).fit_predict(X, machine=machine, attributes=attributes)
    valve = machine == "valve"
    assert list(labels[valve]) == [f"valve|{str(a).strip()}" for a in attributes[valve]]
    assert set(labels[valve]) == {"valve|pat_00", "valve|pat_01"}
    # None, NaN and "noAttribute" all count as missing: pump (NaN and noAttribute) is clustered.
    assert all(label.startswith("pump|pseudo_") for label in labels[machine == "pump"])


def test_pseudo_labels_are_per_machine_type(mixed):
    X, machine, attributes = mixed
    ward = WardPseudoAttributes(n_clusters=4).fit(X, machine=machine, attributes=attributes)
    by_machine = {m: set(ward.labels_[machine == m]) for m in ("fan", "pump", "valve")}
    assert not by_machine["fan"] & by_machine["pump"]
    assert not (by_machine["fan"] | by_machine["pump"]) & by_machine["valve"]
    assert all(label.split("|")[0] == m for label, m in zip(ward.labels_, machine, strict=True))
    assert list(ward.machines_) == ["fan", "pump", "valve"]

    # fan's labels do not depend on the other machine types' clips
    fan = machine == "fan"
    alone = WardPseudoAttributes(n_clusters=4).fit_predict(X[fan], machine=machine[fan])
    assert list(alone) == list(ward.labels_[fan])
    moved = X.copy()
    moved[~fan] = np.random.default_rng(9).normal(scale=50.0, size=(int((~fan).sum()), X.shape[1]))
    again = WardPseudoAttributes(n_clusters=4).fit_predict(moved, machine=machine, attributes=attributes)
    assert list(again[fan]) == list(ward.labels_[fan])


def test_without_machine_all_clips_are_one_machine_type():
    X, truth = _blobs(3)
    ward = WardPseudoAttributes(n_clusters=3).fit(X)
    assert set(ward.labels_) == {"pseudo_0", "pseudo_1", "pseudo_2"}
    assert _same_partition(ward.labels_, truth)
    assert ward.n_clusters_ == {None: 3}
    assert list(ward.machines_) == [None]
    assert ward.linkage_matrix().shape == (len(X) - 1, 4)
    attributes = np.array(["spd_1"] * len(X), dtype=object)
    labelled = WardPseudoAttributes().fit(X, attributes=attributes)
    assert set(labelled.labels_) == {"spd_1"} and labelled.clusterers_ == {}


def test_pandas_metadata_and_ignored_y(mixed):
    X, machine, attributes = mixed
    frame = pd.DataFrame({"machine": machine, "attributes": attributes})
    expected = WardPseudoAttributes(n_clusters=3).fit_predict(X, machine=machine, attributes=attributes)
    got = WardPseudoAttributes(n_clusters=3).fit_predict(
        X, np.zeros(len(X)), machine=frame["machine"], attributes=frame["attributes"]
    )
    assert list(got) == list(expected)
    assert got.dtype == object and all(isinstance(label, str) for label in got)


# --------------------------------------------------------------------------- automatic number of clusters


@pytest.mark.parametrize("selection", ["silhouette", "gap"])
@pytest.mark.parametrize("n_blobs", [3, 5])
def test_auto_recovers_the_number_of_blobs(selection, n_blobs):
    X, truth = _blobs(n_blobs, seed=n_blobs)
    ward = WardPseudoAttributes(selection=selection).fit(X, machine=["fan"] * len(X))
    assert ward.n_clusters_ == {"fan": n_blobs}
    assert _same_partition(ward.labels_, truth)
    scores = ward.selection_scores_["fan"]
    assert list(scores) == list(range(2, 11))
    assert max(scores, key=scores.get) == n_blobs


@pytest.mark.parametrize("selection", ["silhouette", "gap"])
def test_auto_chooses_per_machine_type(selection):
    X3, truth3 = _blobs(3, seed=1)
    X5, truth5 = _blobs(5, seed=2)
    X = np.vstack([X5, X3 + 100.0])
    machine = np.array(["pump"] * len(X5) + ["fan"] * len(X3))
    ward = WardPseudoAttributes(selection=selection).fit(X, machine=machine)
    assert ward.n_clusters_ == {"fan": 3, "pump": 5}
    assert _same_partition(ward.labels_[machine == "fan"], truth3)
    assert _same_partition(ward.labels_[machine == "pump"], truth5)


def test_auto_range_is_capped_by_the_number_of_clips():
    X, _ = _blobs(3, per_blob=2)  # 6 clips: k from 2 to 5
    ward = WardPseudoAttributes(n_clusters_range=(2, 20)).fit(X)
    assert list(ward.selection_scores_[None]) == [2, 3, 4, 5]
    gap = WardPseudoAttributes(selection="gap", n_clusters_range=(3, 4)).fit(X)
    heights = gap.clusterers_[None].distances_
    assert gap.selection_scores_[None] == pytest.approx({k: heights[6 - k] - heights[5 - k] for k in (3, 4)})


# --------------------------------------------------------------------------- dendrogram


def test_linkage_matrix_is_scipys(mixed):
    X, machine, attributes = mixed
    ward = WardPseudoAttributes(n_clusters=4).fit(X, machine=machine, attributes=attributes)
    for m in ("fan", "pump"):
        rows = machine == m
        Z = ward.linkage_matrix(m)
        n = int(rows.sum())
        assert Z.shape == (n - 1, 4)
        assert is_valid_linkage(Z)
        assert Z[-1, 2] == ward.clusterers_[m].distances_[-1]
        assert Z[-1, 3] == n
        tree = dendrogram(Z, no_plot=True)
        assert sorted(tree["leaves"]) == list(range(n))
        # the same merge heights as scipy's own Ward linkage, and the same flat clusters
        np.testing.assert_allclose(np.sort(Z[:, 2]), np.sort(linkage(X[rows], "ward")[:, 2]))
        assert _same_partition(fcluster(Z, 4, criterion="maxclust"), ward.labels_[rows])


def test_linkage_matrix_errors(mixed):
    X, machine, attributes = mixed
    ward = WardPseudoAttributes(n_clusters=2)
    with pytest.raises(ValueError, match="not fitted"):
        ward.linkage_matrix("fan")
    ward.fit(X, machine=machine, attributes=attributes)
    with pytest.raises(ValueError, match=r"machine is required: 2 machine types were clustered: \['fan', 'pump'\]"):
        ward.linkage_matrix()
    with pytest.raises(ValueError, match="machine 'valve' has no dendrogram"):
        ward.linkage_matrix("valve")


# --------------------------------------------------------------------------- composition


def test_metadata_routing_in_a_pipeline(mixed):
    X, machine, attributes = mixed
    expected = WardPseudoAttributes(n_clusters=3).fit_predict(
        StandardScaler().fit_transform(X), machine=machine, attributes=attributes
    )
    with config_context(enable_metadata_routing=True):
        ward = WardPseudoAttributes(n_clusters=3).set_fit_request(machine=True, attributes=True)
        pipe = Pipeline([("scale", StandardScaler()), ("ward", ward)])
        assert list(pipe.fit_predict(X, machine=machine, attributes=attributes)) == list(expected)
    # without routing, the step-prefixed names
    pipe = Pipeline([("scale", StandardScaler()), ("ward", WardPseudoAttributes(n_clusters=3))])
    assert list(pipe.fit_predict(X, ward__machine=machine, ward__attributes=attributes)) == list(expected)


@settings(max_examples=25)
@given(
    n_fan=st.integers(3, 12),
    n_pump=st.integers(3, 12),
    n_clusters=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_property_clusters_per_machine(n_fan, n_pump, n_clusters, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_fan + n_pump, 3))
    machine = np.array(["fan"] * n_fan + ["pump"] * n_pump)
    order = rng.permutation(len(X))
    X, machine = X[order], machine[order]
    ward = WardPseudoAttributes(n_clusters=n_clusters).fit(X, machine=machine)
    for m in ("fan", "pump"):
        rows = machine == m
        assert len(set(ward.labels_[rows])) == ward.n_clusters_[m] == n_clusters
        assert set(ward.labels_[rows]) == {f"{m}|pseudo_{k}" for k in range(n_clusters)}
        reference = AgglomerativeClustering(n_clusters=n_clusters).fit(X[rows]).labels_
        assert _same_partition(ward.labels_[rows], reference)


# --------------------------------------------------------------------------- bad input


def _fit(X=None, machine=None, attributes=None, **params):
    X = np.random.default_rng(0).normal(size=(10, 3)) if X is None else X
    return WardPseudoAttributes(**params).fit(X, machine=machine, attributes=attributes)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"machine": ["fan"] * 7 + ["pump"] * 3, "n_clusters": 4},
            "machine type 'pump' has 3 clip(s) (n_samples=3), fewer than n_clusters=4.",
        ),
        (
            {"machine": ["fan"] * 8 + ["pump"] * 2},
            ("machine type 'pump' has 2 clip(s) (n_samples=2); n_clusters='auto' needs at least 3, one more "
             "than the smallest of n_clusters_range=(2, 10)."),
        ),
        (
            {"machine": ["fan"] * 9 + ["pump"], "n_clusters": None, "distance_threshold": 1.0},
            "machine type 'pump' has 1 clip(s) (n_samples=1); Ward clustering needs at least 2.",
        ),
        ({"machine": ["fan"] * 9}, "machine has 9 values but X has 10 clips."),
        ({"attributes": [None] * 11}, "attributes has 11 values but X has 10 clips."),
        ({"machine": ["fan"] * 10, "attributes": [None] * 9}, "attributes has 9 values but X has 10 clips."),
        ({"machine": [["fan"]] * 10}, "machine must be 1-D with one value per clip; got shape (10, 1)."),
        ({"machine": ["fan"] * 9 + [None]}, "machine is missing (None, NaN or empty) for 1 clip(s)."),
        (
            {"machine": ["fan"] * 10, "attributes": ["spd_1"] * 4 + [""] * 6},
            ("machine type 'fan' has attributes on 4 of its 10 clips: give attributes to all clips of a "
             "machine type (it keeps them) or to none (it gets pseudo-attributes)."),
        ),
        (
            {"n_clusters": 3, "distance_threshold": 1.0},
            ("n_clusters=3 and distance_threshold=1.0 are both given; pass n_clusters=None to cut the tree "
             "at distance_threshold."),
        ),
        (
            {"n_clusters": None},
            ("n_clusters=None and distance_threshold=None: give one of them, or n_clusters='auto' to choose "
             "the number of clusters per machine type."),
        ),
        (
            {"n_clusters_range": (1, 5)},
            ("n_clusters_range must be a pair of integers (smallest, largest) with 2 <= smallest <= largest; "
             "got (1, 5)."),
        ),
        ({"n_clusters_range": (4, 3)}, "n_clusters_range must be a pair of integers"),
        ({"n_clusters_range": (2, 3.5)}, "n_clusters_range must be a pair of integers"),
        ({"n_clusters": 0}, "The 'n_clusters' parameter of WardPseudoAttributes must be"),
        ({"selection": "elbow"}, "The 'selection' parameter of WardPseudoAttributes must be"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _fit(**kwargs)


def test_a_fully_labelled_machine_type_needs_no_clips_minimum():
    # n_clusters only applies to machine types that are clustered
    X = np.random.default_rng(0).normal(size=(10, 3))
    machine = ["fan"] * 8 + ["valve"] * 2
    ward = _fit(X, machine=machine, attributes=[None] * 8 + ["pat_0"] * 2, n_clusters=5)
    assert ward.n_clusters_ == {"fan": 5}


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_embeddings(bad):
    X = np.random.default_rng(0).normal(size=(10, 3))
    X[4, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        _fit(X, machine=["fan"] * 10)


def test_docs_example_runs():
    docs = Path(__file__).resolve().parents[2] / "docs" / "ward.md"
    block = re.search(r"## Example\n\n```python\n(.*?)```", docs.read_text(), re.DOTALL).group(1)
    namespace = {}
    exec(compile(block, str(docs), "exec"), namespace)  # noqa: S102
    assert namespace["ward"].n_clusters_ == {"fan": 3}
    assert sorted(set(namespace["labels"])) == [
        "fan|pseudo_0", "fan|pseudo_1", "fan|pseudo_2", "valve|pat_00", "valve|pat_01"
    ]
    assert len(namespace["tree"]["leaves"]) == 30


# --------------------------------------------------------------------------- scikit-learn's checks
