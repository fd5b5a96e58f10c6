"""Tests of KNNScorer and LocalDensityKNNScorer against independent computations."""

import numpy as np
import pytest
import sklearn
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.neighbors import NearestNeighbors

from skasd import KNNScorer, LocalDensityKNNScorer
from skasd.metrics import dcase_scores, make_dcase_scorer
from skasd.scoring._distances import augment_queries, augment_references, chunked_smallest


def _distances(a, b, metric):
    """Float64 distances between the rows of a and of b, from the definitions."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if metric == "cosine":
        cos = (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T
        return 0.5 * (1 - cos)
    squared = ((a[:, np.newaxis, :] - b[np.newaxis, :, :]) ** 2).sum(axis=2)
    return squared / a.shape[1] if metric == "mse" else squared


def _brute_force_scores(references, queries, *, metric="cosine", normalization="ratio", density="knn",
                        density_neighbors=1, density_decay=0.0, n_neighbors=1, eps=1e-6):
    """The paper's formulas, literally: sorted neighbour lists, weighted sums, a min."""
    between = _distances(references, references, metric)
    densities = []
    for i, row in enumerate(between):
        others = np.sort(np.delete(row, i))
        if density == "knn":
            densities.append(others[:density_neighbors].sum())
        else:
            densities.append(sum(others[k] * density_decay**k for k in range(len(others))))
    densities = np.maximum(np.array(densities), eps)
    distances = _distances(queries, references, metric)
    if normalization == "ratio":
        distances = distances / densities
    elif normalization == "difference":
        distances = distances - densities
    return np.sort(distances, axis=1)[:, :n_neighbors].mean(axis=1)


def _embeddings(seed, n, d=8, shift=0.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + shift


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "mse"])
@pytest.mark.parametrize(
    "params",
    [
        {"normalization": "ratio"},
        {"normalization": "difference"},
        {"normalization": "ratio", "density_neighbors": 3, "n_neighbors": 2},
        {"normalization": "ratio", "density": "gwrp", "density_decay": 0.7},
        {"normalization": "difference", "density": "gwrp", "density_decay": 0.3, "n_neighbors": 3},
    ],
)
def test_local_density_scores_match_the_formulas(metric, params):
    references = _embeddings(0, 60, shift=1.0)
    queries = _embeddings(1, 25, shift=1.0)
    scorer = LocalDensityKNNScorer(metric=metric, **params).fit(references)
    expected = _brute_force_scores(references, queries, metric=metric, **params)
    np.testing.assert_allclose(scorer.anomaly_score(queries), expected, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "mse"])
@pytest.mark.parametrize("n_neighbors", [1, 4])
def test_knn_scores_match_the_formulas(metric, n_neighbors):
    references = _embeddings(2, 40, shift=0.5)
    queries = _embeddings(3, 30, shift=0.5)
    scorer = KNNScorer(metric=metric, n_neighbors=n_neighbors).fit(references)
    expected = _brute_force_scores(references, queries, metric=metric, normalization=None, n_neighbors=n_neighbors)
    np.testing.assert_allclose(scorer.anomaly_score(queries), expected, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_densities_match_the_formulas(metric):
    references = _embeddings(4, 30)
    scorer = LocalDensityKNNScorer(metric=metric, density="gwrp", density_decay=0.5).fit(references)
    between = _distances(references, references, metric)
    for i in (0, 7, 29):
        others = np.sort(np.delete(between[i], i))
        assert scorer.density_[i] == pytest.approx(sum(0.5**k * d for k, d in enumerate(others)), rel=1e-4)


reference_sets = st.integers(0, 2**31 - 1).map(lambda seed: _embeddings(seed, 12, d=4, shift=0.3))


@settings(max_examples=30)
@given(reference_sets, st.sampled_from(["ratio", "difference"]), st.permutations(range(12)))
def test_scores_do_not_depend_on_the_order_of_references(references, normalization, order):
    queries = references[:5] + 0.1
    scorer = LocalDensityKNNScorer(normalization=normalization, density_neighbors=2)
    first = scorer.fit(references).anomaly_score(queries)
    second = scorer.fit(references[list(order)]).anomaly_score(queries)
    np.testing.assert_allclose(first, second, rtol=1e-4, atol=1e-6)


@settings(max_examples=30)
@given(
    reference_sets,
    st.lists(st.floats(0.01, 100.0), min_size=12, max_size=12),
    st.lists(st.floats(0.01, 100.0), min_size=5, max_size=5),
)
def test_cosine_scores_ignore_positive_scaling(references, reference_scales, query_scales):
    queries = references[:5] + 0.2
    scorer = LocalDensityKNNScorer()
    plain = scorer.fit(references).anomaly_score(queries)
    scaled = scorer.fit(references * np.array(reference_scales)[:, None]).anomaly_score(
        queries * np.array(query_scales)[:, None]
    )
    np.testing.assert_allclose(plain, scaled, rtol=1e-3, atol=1e-5)


@settings(max_examples=30)
@given(reference_sets, st.floats(0.1, 10.0))
def test_ratio_ignores_a_scaling_of_all_distances(references, factor):
    queries = references[:5] + 0.2
    # mse is sqeuclidean / d, and scaling every embedding by c scales every
    # squared distance by c^2: ratios stay.
    base = LocalDensityKNNScorer(metric="sqeuclidean").fit(references).anomaly_score(queries)
    per_dimension = LocalDensityKNNScorer(metric="mse").fit(references).anomaly_score(queries)
    scaled = LocalDensityKNNScorer(metric="sqeuclidean").fit(references * factor).anomaly_score(queries * factor)
    np.testing.assert_allclose(per_dimension, base, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(scaled, base, rtol=1e-3, atol=1e-5)


@settings(max_examples=20)
@given(reference_sets, st.sampled_from(["ratio", "difference"]))
def test_knn_and_gwrp_agree_at_their_edges(references, normalization):
    queries = references[:5] + 0.2
    n = len(references)

    def scores(**params):
        scorer = LocalDensityKNNScorer(normalization=normalization, **params).fit(references)
        return scorer.density_, scorer.anomaly_score(queries)

    for knn, gwrp in [({"density_neighbors": n - 1}, {"density_decay": 1.0}), ({"density_neighbors": 1}, {"density_decay": 0.0})]:
        knn_density, knn_scores = scores(density="knn", **knn)
        gwrp_density, gwrp_scores = scores(density="gwrp", **gwrp)
        np.testing.assert_allclose(knn_density, gwrp_density, rtol=1e-5)
        np.testing.assert_allclose(knn_scores, gwrp_scores, rtol=1e-5, atol=1e-7)


@settings(max_examples=30)
@given(reference_sets, st.integers(0, 11))
def test_a_reference_gets_the_minimum_score(references, index):
    # Distances are >= 0, so 0 is the least plain or ratio score; a
    # reference is at distance 0 from itself.
    for scorer in (KNNScorer(), LocalDensityKNNScorer(), KNNScorer(metric="sqeuclidean")):
        scorer.fit(references)
        # A float32 distance of a clip to itself is 0 up to a few float32
        # epsilons; the ratio divides that by the nearest reference's density.
        density = getattr(scorer, "density_", None)
        tolerance = 1e-4 if density is None else max(1e-4, 4 * np.finfo(np.float32).eps / density.min())
        assert scorer.anomaly_score(references[[index]])[0] == pytest.approx(0.0, abs=tolerance)


@settings(max_examples=30)
@given(reference_sets, st.integers(1, 13), st.sampled_from(["ratio", "difference"]), st.integers(1, 3))
def test_chunked_equals_unchunked(references, chunk_size, normalization, n_neighbors):
    queries = np.vstack([references + 0.3, -references])
    whole = LocalDensityKNNScorer(normalization=normalization, n_neighbors=n_neighbors, density_neighbors=2)
    chunked = LocalDensityKNNScorer(
        normalization=normalization, n_neighbors=n_neighbors, density_neighbors=2, chunk_size=chunk_size
    )
    whole.fit(references)
    chunked.fit(references)
    np.testing.assert_allclose(chunked.density_, whole.density_, rtol=1e-5)
    np.testing.assert_allclose(chunked.anomaly_score(queries), whole.anomaly_score(queries), rtol=1e-4, atol=1e-6)
    assert chunked.offset_ == pytest.approx(whole.offset_, rel=1e-4, abs=1e-6)


@settings(max_examples=30)
@given(st.integers(0, 2**31 - 1))
def test_plain_knn_ranks_equal_nearest_neighbors(seed):
    references = _embeddings(seed, 30, d=5)
    queries = _embeddings(seed + 1, 20, d=5)
    scores = KNNScorer().fit(references).anomaly_score(queries)
    distances, _ = NearestNeighbors(n_neighbors=1, metric="cosine").fit(references).kneighbors(queries)
    # scikit-learn's cosine distance is 1 - cos: twice ours.
    np.testing.assert_allclose(scores, distances[:, 0] / 2, atol=1e-5)
    np.testing.assert_array_equal(rankdata(scores.round(5)), rankdata((distances[:, 0] / 2).round(5)))


def test_local_density_favours_the_sparse_domain():
    # Many tight source references and a few spread target references: a
    # target-domain normal clip far (in plain distance) from its few
    # references is still judged normal after normalisation.
    rng = np.random.default_rng(0)
    source = rng.normal([1.0, 0.0, 0.0], 0.02, size=(200, 3))
    target = rng.normal([0.0, 1.0, 0.0], 0.3, size=(6, 3))
    references = np.vstack([source, target])
    target_normals = rng.normal([0.0, 1.0, 0.0], 0.3, size=(50, 3))
    source_anomalies = rng.normal([1.0, 0.0, 0.15], 0.02, size=(50, 3))
    plain = KNNScorer().fit(references)
    normalized = LocalDensityKNNScorer().fit(references)
    # Plain distances call the target normals more anomalous than the anomalies.
    assert np.median(plain.anomaly_score(target_normals)) > np.median(plain.anomaly_score(source_anomalies))
    assert np.median(normalized.anomaly_score(target_normals)) < np.median(normalized.anomaly_score(source_anomalies))


def test_sign_contract_and_leave_one_out_labels():
    references = _embeddings(5, 200)
    queries = _embeddings(6, 50)
    for scorer in (KNNScorer(contamination=0.2), LocalDensityKNNScorer(contamination=0.2)):
        labels = clone(scorer).set_params(novelty=False).fit_predict(references)
        scorer.fit(references)
        np.testing.assert_array_equal(scorer.anomaly_score(queries), -scorer.score_samples(queries))
        np.testing.assert_allclose(scorer.decision_function(queries), scorer.score_samples(queries) - scorer.offset_)
        np.testing.assert_array_equal(scorer.predict(queries), np.where(scorer.decision_function(queries) < 0, -1, 1))
        # Leave-one-out labels flag the contamination fraction of the training clips.
        assert np.mean(labels == -1) == pytest.approx(0.2, abs=0.01)
        # Scored with itself among the references, every training clip is normal.
        assert (scorer.predict(references) == 1).all()


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_novelty_flag_offers_either_scoring_or_leave_one_out_labels(metric):
    references = _embeddings(11, 120)
    novelty = LocalDensityKNNScorer(metric=metric, contamination=0.25).fit(references)
    labeller = LocalDensityKNNScorer(metric=metric, contamination=0.25, novelty=False)
    # As LocalOutlierFactor: novelty=True scores new clips and has no fit_predict...
    assert not hasattr(novelty, "fit_predict")
    with pytest.raises(AttributeError, match="^This 'LocalDensityKNNScorer' has no attribute 'fit_predict'$") as error:
        novelty.fit_predict(references)
    # scikit-learn's available_if chains the reason, as for LocalOutlierFactor.
    assert str(error.value.__cause__) == (
        "fit_predict is not available when novelty=True: LocalDensityKNNScorer.fit(X).predict(X) would "
        "score each training clip against references that include it. Use novelty=False to label the "
        "training clips, each scored without itself."
    )
    # ... and novelty=False labels the training clips and scores nothing else.
    labels = labeller.fit_predict(references)
    for method in ("score_samples", "decision_function", "predict", "anomaly_score"):
        assert not hasattr(labeller, method)
        with pytest.raises(AttributeError, match=f"^This 'LocalDensityKNNScorer' has no attribute '{method}'$") as error:
            getattr(labeller, method)(references)
        assert str(error.value.__cause__) == (
            "LocalDensityKNNScorer scores new clips only with novelty=True; with novelty=False, use "
            "fit_predict to label the training clips."
        )
    # The labels: each clip's density-ratio score against the *other*
    # references (whose densities are those of the fit, on all references).
    between = _distances(references, references, metric)
    np.fill_diagonal(between, np.inf)
    loo = (between / between.min(axis=1)[np.newaxis, :]).min(axis=1)
    np.testing.assert_allclose(-novelty.offset_, np.percentile(loo, 75.0), rtol=1e-5)
    np.testing.assert_array_equal(labels, np.where(-loo - labeller.offset_ < 0, -1, 1))
    assert labeller.offset_ == novelty.offset_


def test_offset_from_a_subsample_of_many_references():
    references = _embeddings(7, 3000, d=6)
    labels = LocalDensityKNNScorer(novelty=False).fit_predict(references)
    assert np.mean(labels == -1) == pytest.approx(0.1, abs=0.02)


def test_duplicate_references_get_the_density_floor():
    references = np.vstack([_embeddings(8, 10), _embeddings(8, 10)[:2]])
    scorer = LocalDensityKNNScorer(eps=1e-3).fit(references)
    assert scorer.density_[0] == scorer.density_[10] == 1e-3
    assert np.all(scorer.density_[2:10] > 1e-3)
    assert np.isfinite(scorer.anomaly_score(_embeddings(9, 5))).all()


@pytest.mark.parametrize("k", [1, 3])
def test_chunked_smallest_settles_near_ties_in_float64_whatever_rows_are_beside(k):
    # Points far from the origin and close together: |x|^2 + |y|^2 - 2<x, y> cancels, so float32 products are off by
    # more than the distances between neighbours, and the float32 block alone would pick the wrong ones.
    rng = np.random.default_rng(0)
    centre = rng.normal(size=8) * 30
    queries = augment_queries((centre + rng.normal(size=(50, 8)) * 1e-2).astype(np.float32), "sqeuclidean")
    references = augment_references((centre + rng.normal(size=(300, 8)) * 1e-2).astype(np.float32), "sqeuclidean")
    exact = np.sort(np.einsum("ij,kj->ik", queries, references, dtype=np.float64), axis=1)[:, :k]
    got = chunked_smallest(queries, references, k, chunk_size=7)
    np.testing.assert_allclose(got, exact, rtol=1e-7)  # the float64 k smallest, rounded to float32
    assert not np.allclose(np.sort(queries @ references.T, axis=1)[:, :k], exact, rtol=1e-3)  # float32 alone: far off
    alone = np.concatenate([chunked_smallest(queries[i : i + 1], references, k) for i in range(len(queries))])
    np.testing.assert_array_equal(alone, got)
    np.testing.assert_array_equal(chunked_smallest(queries, references, k), got)


def test_chunked_smallest_excludes_the_given_columns():
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(7, 3)).astype(np.float32)
    references = rng.normal(size=(9, 3)).astype(np.float32)
    exclude = np.array([0, 1, 2, 3, 4, 5, 6])
    product = queries.astype(np.float64) @ references.T.astype(np.float64)
    product[np.arange(7), exclude] = np.inf
    expected = np.sort(product, axis=1)[:, :3]
    for chunk_size in (1, 2, 7, None):
        got = chunked_smallest(queries, references, 3, chunk_size=chunk_size, exclude=exclude)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "scorer, X, message",
    [
        (LocalDensityKNNScorer(density_neighbors=5), np.eye(5), r"needs at least 6 references \(density_neighbors=5 other references for each reference's density\); got 5 samples"),
        (LocalDensityKNNScorer(), np.ones((1, 3)), r"needs at least 2 references .*; got 1 sample\."),
        (KNNScorer(n_neighbors=3), np.eye(3), r"KNNScorer needs at least 4 references \(n_neighbors=3 plus the one left out"),
        (LocalDensityKNNScorer(density="gwrp"), np.ones((1, 3)), r"needs at least 2 references \(a reference's density needs another reference\)"),
        (KNNScorer(), np.vstack([np.eye(3), np.zeros((1, 3))]), r"X has 1 zero vector\(s\) \(rows \[3\]\): the cosine distance is undefined"),
        (KNNScorer(), np.array([[1.0, np.nan], [1.0, 2.0]]), r"Input X contains NaN"),
        (KNNScorer(), np.array([[1.0, np.inf], [1.0, 2.0]]), r"Input X contains infinity"),
    ],
)
def test_bad_input_in_fit(scorer, X, message):
    with pytest.raises(ValueError, match=message):
        scorer.fit(X)


def test_bad_input_when_scoring():
    scorer = LocalDensityKNNScorer().fit(_embeddings(10, 20, d=4))
    with pytest.raises(ValueError, match=r"X has 3 features, but LocalDensityKNNScorer is expecting 4 features"):
        scorer.score_samples(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"X has 1 zero vector\(s\)"):
        scorer.anomaly_score(np.zeros((1, 4)))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not available"):
            LocalDensityKNNScorer(device="cuda").fit(_embeddings(10, 20, d=4))


def test_gpu_matches_cpu_when_there_is_one():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    references, queries = _embeddings(11, 500), _embeddings(12, 100)
    cpu = LocalDensityKNNScorer(density_neighbors=3).fit(references).anomaly_score(queries)
    gpu = LocalDensityKNNScorer(density_neighbors=3, device="cuda").fit(references).anomaly_score(queries)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-6)


def test_inside_grid_search_with_the_dcase_scorer():
    rng = np.random.default_rng(0)
    source = rng.normal([3.0, 0.0, 0.0, 0.0], 0.3, size=(80, 4))
    target = rng.normal([0.0, 3.0, 0.0, 0.0], 0.6, size=(5, 4))
    test_normal = np.vstack([rng.normal([3.0, 0, 0, 0], 0.3, size=(20, 4)), rng.normal([0, 3.0, 0, 0], 0.6, size=(20, 4))])
    test_anomalous = test_normal + rng.normal(0, 0.8, size=test_normal.shape)
    X = np.vstack([source, target, test_normal, test_anomalous])
    y = np.r_[np.zeros(85 + 40, int), np.ones(40, int)]
    domain = np.array(["source"] * 80 + ["target"] * 5 + (["source"] * 20 + ["target"] * 20) * 2)
    test_fold = np.r_[-np.ones(85, int), np.zeros(80, int)]
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            LocalDensityKNNScorer(),
            {"normalization": ["ratio", "difference"], "density_neighbors": [1, 2]},
            scoring=make_dcase_scorer().set_score_request(domain=True),
            cv=PredefinedSplit(test_fold),
            refit=False,
        ).fit(X, y, domain=domain)
    test = test_fold == 0
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        scorer = LocalDensityKNNScorer(**params).fit(X[~test])
        assert score == pytest.approx(dcase_scores(y[test], scorer.anomaly_score(X[test]), domain[test])[1])


@pytest.mark.parametrize("cls", [KNNScorer, LocalDensityKNNScorer])
@pytest.mark.parametrize("metric", ["sqeuclidean", "mse"])
def test_euclidean_distances_that_would_overflow_float32_are_refused_not_nan(cls, metric):
    rng = np.random.default_rng(0)
    huge = rng.normal(size=(20, 4)) * 1e20
    message = r"^Embeddings too large for float32 squared Euclidean distances: the largest squared norm \(after centring on the references\) is .*, so the distances would overflow to inf and NaN\. Scale the embeddings \(e\.g\. StandardScaler before the scorer\) or use metric='cosine'\.$"
    with pytest.raises(ValueError, match=message):
        cls(metric=metric).fit(huge)
    scorer = cls(metric=metric).fit(rng.normal(size=(20, 4)))
    with pytest.raises(ValueError, match=message):
        scorer.score_samples(huge)
    # Large but representable (squared norms up to about 1e33): finite scores and threshold.
    large = cls(metric=metric).fit(huge / 1e4)
    scores = large.score_samples(huge[:5] / 1e4)
    assert np.isfinite(scores).all() and np.isfinite(large.offset_)
