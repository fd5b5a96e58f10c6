"""Tests of the approximate (faiss HNSW) mode of KNNScorer and LocalDensityKNNScorer."""

import copy
import pickle
import sys

import numpy as np
import pytest
from sklearn.base import clone

from skasd import KNNScorer, LocalDensityKNNScorer

try:  # the ann / test extras install faiss-cpu; without it only the error-message tests run
    import faiss  # noqa: F401

    HAVE_FAISS = True
except ImportError:
    HAVE_FAISS = False
faiss_required = pytest.mark.skipif(not HAVE_FAISS, reason="faiss-cpu is not installed")


def _clustered(seed, n, d=16, n_clusters=12):
    """Embeddings around a few centres, as trained embedders give (HNSW's intended input)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1000).normal(size=(n_clusters, d)) * 3.0
    return centres[rng.integers(0, n_clusters, n)] + rng.normal(size=(n, d)) + 0.5


def _agreement(approximate, exact):
    return np.mean(np.abs(approximate - exact) <= 1e-4 * np.maximum(1.0, np.abs(exact)))


SCORERS = [
    (KNNScorer, {}),
    (KNNScorer, {"n_neighbors": 3}),
    (LocalDensityKNNScorer, {"normalization": "ratio"}),
    (LocalDensityKNNScorer, {"normalization": "difference"}),
    (LocalDensityKNNScorer, {"normalization": "ratio", "density_neighbors": 3, "n_neighbors": 2}),
    (LocalDensityKNNScorer, {"normalization": "difference", "density": "gwrp", "density_decay": 0.5}),
]


@faiss_required
@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "mse"])
@pytest.mark.parametrize("cls, params", SCORERS)
def test_approximate_scores_equal_exact_ones_for_most_queries(metric, cls, params):
    references, queries = _clustered(0, 2000), _clustered(1, 300)
    exact = cls(metric=metric, **params).fit(references)
    approximate = cls(metric=metric, algorithm="hnsw", n_jobs=1, **params).fit(references)
    if exact.density_ is not None:
        assert _agreement(approximate.density_, exact.density_) >= 0.99
    assert _agreement(approximate.anomaly_score(queries), exact.anomaly_score(queries)) >= 0.97
    assert approximate.offset_ == pytest.approx(exact.offset_, rel=0.02, abs=1e-3)


@faiss_required
def test_plain_scores_are_never_below_exact_ones():
    # The graph may miss the nearest reference, never invent a closer one:
    # candidates are re-scored exactly.
    references, queries = _clustered(2, 1500), _clustered(3, 300)
    exact = KNNScorer(metric="sqeuclidean").fit(references).anomaly_score(queries)
    approximate = KNNScorer(metric="sqeuclidean", algorithm="hnsw", hnsw_m=4, ef_search=1, ef_construction=4)
    scores = approximate.fit(references).anomaly_score(queries)
    assert np.all(scores >= exact - 1e-4 * np.maximum(1.0, exact))


@faiss_required
def test_duplicates_are_searched_beside_the_graph():
    # Duplicated references get the eps density floor: their ratio factors
    # are ~1e6 times larger than the others', too large for the graph's
    # float32 distances, and are compared with every query exhaustively.
    base = _clustered(4, 800)
    references = np.vstack([base, base[:20]])
    queries = np.vstack([_clustered(5, 200), base[:5] + 1e-3])
    exact = LocalDensityKNNScorer(metric="sqeuclidean").fit(references)
    approximate = LocalDensityKNNScorer(metric="sqeuclidean", algorithm="hnsw", n_jobs=1).fit(references)
    duplicated = np.r_[0:20, 800:820]
    # Float32 rounding leaves duplicates at distances of ~1e-6 or the floor.
    assert exact.density_[duplicated].max() < 1e-4 and approximate.density_[duplicated].max() < 1e-4
    assert len(approximate._index.exhaustive_ids) >= 40
    assert _agreement(approximate.anomaly_score(queries), exact.anomaly_score(queries)) >= 0.97


@faiss_required
def test_many_density_neighbors_are_computed_exactly():
    # density_decay=1 sums over all other references: no "nearest few" to search.
    references = _clustered(6, 400)
    exact = LocalDensityKNNScorer(density="gwrp", density_decay=1.0).fit(references)
    approximate = LocalDensityKNNScorer(density="gwrp", density_decay=1.0, algorithm="hnsw").fit(references)
    np.testing.assert_allclose(approximate.density_, exact.density_, rtol=1e-6)


@faiss_required
def test_leave_one_out_labels_and_tiny_reference_sets():
    references = _clustered(7, 500)
    labels = LocalDensityKNNScorer(algorithm="hnsw", contamination=0.2, novelty=False).fit_predict(references)
    assert np.mean(labels == -1) == pytest.approx(0.2, abs=0.02)
    scorer = LocalDensityKNNScorer(algorithm="hnsw", contamination=0.2).fit(references)
    assert (scorer.predict(references) == 1).all()
    # Fewer references than the graph's links: still every neighbour found.
    few = references[:5]
    for cls in (KNNScorer, LocalDensityKNNScorer):
        np.testing.assert_allclose(
            cls(algorithm="hnsw", n_neighbors=3).fit(few).anomaly_score(references[5:50]),
            cls(n_neighbors=3).fit(few).anomaly_score(references[5:50]),
            rtol=1e-5,
        )


@faiss_required
def test_pickle_clone_and_set_params():
    references, queries = _clustered(8, 600), _clustered(9, 50)
    scorer = LocalDensityKNNScorer(algorithm="hnsw", ef_search=32).fit(references)
    scores = scorer.anomaly_score(queries)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(scorer)).anomaly_score(queries), scores)
    np.testing.assert_array_equal(copy.deepcopy(scorer).anomaly_score(queries), scores)
    params = clone(scorer).get_params()
    assert (params["algorithm"], params["hnsw_m"], params["ef_construction"], params["ef_search"]) == ("hnsw", 32, 200, 32)
    exact = scorer.set_params(algorithm="exact").fit(references)
    assert exact._index is None


@pytest.mark.parametrize(
    "params, message",
    [
        ({"algorithm": "kd_tree"}, r"The 'algorithm' parameter .* must be a str among \{.*'exact'.*\}"),
        ({"algorithm": "hnsw", "hnsw_m": 1}, r"The 'hnsw_m' parameter .* must be an int in the range \[2, inf\)"),
        ({"algorithm": "hnsw", "ef_search": 0}, r"The 'ef_search' parameter .* must be an int in the range \[1, inf\)"),
        ({"algorithm": "hnsw", "ef_construction": 2.5}, r"The 'ef_construction' parameter .* must be an int"),
    ],
)
@pytest.mark.parametrize("cls", [KNNScorer, LocalDensityKNNScorer])
def test_bad_parameters(cls, params, message):
    with pytest.raises(ValueError, match=message):
        cls(**params).fit(_clustered(10, 20))


@faiss_required
def test_hnsw_refuses_a_gpu():
    with pytest.raises(ValueError, match=r"algorithm='hnsw' searches on the CPU \(faiss-cpu\); got device='cuda'"):
        KNNScorer(algorithm="hnsw", device="cuda").fit(_clustered(11, 20))


def test_without_faiss_the_error_says_how_to_install_it(monkeypatch):
    # A None entry in sys.modules makes `import faiss` raise ImportError.
    references = _clustered(12, 50)
    fitted = pickle.dumps(KNNScorer(algorithm="hnsw").fit(references)) if HAVE_FAISS else None
    monkeypatch.setitem(sys.modules, "faiss", None)
    for cls in (KNNScorer, LocalDensityKNNScorer):
        with pytest.raises(ImportError, match=r"algorithm='hnsw' needs faiss.*pip install faiss-cpu"):
            cls(algorithm="hnsw").fit(references)
        # The exact mode does not need faiss.
        assert np.isfinite(cls().fit(references).anomaly_score(references)).all()
    if fitted is not None:
        with pytest.raises(ImportError, match=r"pip install faiss-cpu"):
            pickle.loads(fitted)
