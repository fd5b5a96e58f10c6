"""Tests of MahalanobisScorer, geometric_median, KMeansCosineScorer and
DomainStandardizedScorer against independent computations."""

import pickle
import re
import warnings

import numpy as np
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import minimize
from scipy.stats import rankdata
from scipy.spatial.distance import mahalanobis
from scipy.stats import special_ortho_group
from sklearn.base import clone
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, cross_validate
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skasd import DomainStandardizedScorer, KMeansCosineScorer, MahalanobisScorer
from skasd.metrics import make_dcase_scorer
from skasd.scoring import geometric_median

FAST = settings(max_examples=40)


def _sum_of_distances(X, y, weights=None):
    distances = np.linalg.norm(np.asarray(X) - y, axis=1)
    return distances.sum() if weights is None else distances @ weights


def _scipy_geometric_median(X):
    """Minimise the sum of distances with a generic optimiser, from the coordinate-wise median."""
    result = minimize(
        lambda y: _sum_of_distances(X, y),
        np.median(X, axis=0),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000},
    )
    return result.x


def _domain_data(seed=0, n_source=60, n_target=8, d=5):
    rng = np.random.default_rng(seed)
    source = rng.normal(0.0, 1.0, size=(n_source, d)) + 2.0
    target = rng.normal(0.0, 1.0, size=(n_target, d)) + np.r_[-2.0, np.full(d - 1, 2.0)]
    X = np.vstack([source, target])
    domain = np.array(["source"] * n_source + ["target"] * n_target)
    return X, domain


points = st.integers(2, 25).flatmap(
    lambda n: st.integers(1, 4).flatmap(
        lambda d: arrays(np.float64, (n, d), elements=st.floats(-100, 100, allow_nan=False, width=32))
    )
)


# --------------------------------------------------------------------------- geometric_median


@FAST
@given(points)
def test_geometric_median_minimises_the_sum_of_distances(X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        median = geometric_median(X)
    reference = _scipy_geometric_median(X)
    scale = 1.0 + np.abs(X).max()
    if not any(issubclass(warning.category, ConvergenceWarning) for warning in caught):
        assert _sum_of_distances(X, median) <= _sum_of_distances(X, reference) + 1e-7 * scale * len(X)
    else:  # slow convergence next to a heavy data point (rare): it says so, and still descends
        assert _sum_of_distances(X, median) <= _sum_of_distances(X, X.mean(axis=0)) + 1e-9 * scale


def test_geometric_median_matches_scipy_and_the_closed_form():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)) * [1.0, 3.0, 0.5]
    np.testing.assert_allclose(geometric_median(X), _scipy_geometric_median(X), atol=1e-6)
    # Four corners of a square and a far outlier: on the diagonal at 1 + 1/sqrt(3).
    X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0], [100.0, 100.0]])
    np.testing.assert_allclose(geometric_median(X), np.full(2, 1 + 1 / np.sqrt(3)), atol=1e-7)


@FAST
@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e3, 1e3, allow_nan=False, width=32)))
def test_geometric_median_in_one_dimension_is_a_median(values):
    median = geometric_median(values[:, np.newaxis])[0]
    ordered = np.sort(values)
    scale = 1.0 + np.abs(values).max()
    if len(values) % 2:
        assert median == pytest.approx(np.median(values), abs=1e-9 * scale)
    else:  # every point between the two middle values minimises the sum
        lower, upper = ordered[len(values) // 2 - 1], ordered[len(values) // 2]
        assert lower - 1e-9 * scale <= median <= upper + 1e-9 * scale


@FAST
@given(points, st.randoms(use_true_random=False))
def test_geometric_median_is_invariant_to_permutations(X, random):
    order = list(range(len(X)))
    random.shuffle(order)
    scale = 1.0 + np.abs(X).max()
    permuted, median = geometric_median(X[order]), geometric_median(X)
    assert _sum_of_distances(X, permuted) == pytest.approx(_sum_of_distances(X, median), rel=1e-9, abs=1e-9)
    if np.linalg.matrix_rank(X - X.mean(axis=0)) >= 2:  # not collinear: a unique minimiser
        np.testing.assert_allclose(permuted, median, atol=1e-6 * scale)


@FAST
@given(
    st.integers(3, 20).flatmap(
        lambda n: arrays(np.float64, (n, 3), elements=st.floats(-10, 10, allow_nan=False, width=32))
    ),
    st.integers(0, 2**32 - 1),
)
def test_geometric_median_is_equivariant_under_rotation_and_translation(X, seed):
    rotation = special_ortho_group.rvs(3, random_state=seed)
    shift = np.random.default_rng(seed).normal(0.0, 20.0, size=3)
    moved = geometric_median(X @ rotation.T + shift)
    expected = rotation @ geometric_median(X) + shift
    # The minimiser may be non-unique (collinear points): compare the objective.
    assert _sum_of_distances(X @ rotation.T + shift, moved) == pytest.approx(
        _sum_of_distances(X @ rotation.T + shift, expected), rel=1e-9, abs=1e-9
    )
    if np.linalg.matrix_rank(X - X.mean(axis=0)) >= 2:  # unique minimiser
        np.testing.assert_allclose(moved, expected, atol=1e-5 * (1 + np.abs(X).max()))


def test_geometric_median_on_a_data_point():
    # The mean (the start) is the centre point, which is optimal: returned exactly.
    cross = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    median, n_iter = geometric_median(cross, return_n_iter=True)
    np.testing.assert_array_equal(median, [0.0, 0.0])
    assert n_iter == 1
    # The start is a data point that is *not* optimal (plain Weiszfeld would
    # divide by zero there): the iteration moves away, to the true median.
    X = np.array([[0.0, 0.0], [4.0, 0.0], [-1.0, 0.5], [-1.0, -0.5], [-1.0, 0.5], [-1.0, -0.5]])
    assert np.all(X.mean(axis=0) == X[0])
    median = geometric_median(X)
    assert np.all(np.isfinite(median))
    assert _sum_of_distances(X, median) <= _sum_of_distances(X, _scipy_geometric_median(X)) + 1e-9
    assert _sum_of_distances(X, median) < _sum_of_distances(X, X[0]) - 0.1
    # A heavy (repeated) point that is the median, not the start: returned exactly.
    X = np.array([[0.0, 0.0]] * 3 + [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [5.0, 5.0]])
    np.testing.assert_array_equal(geometric_median(X), [0.0, 0.0])


def test_geometric_median_weights_equal_repetitions():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(7, 2))
    counts = np.array([1, 3, 1, 2, 1, 1, 4])
    np.testing.assert_allclose(
        geometric_median(X, weights=counts), geometric_median(np.repeat(X, counts, axis=0)), atol=1e-8
    )
    # Zero weights drop points.
    weights = np.r_[np.ones(6), 0.0]
    np.testing.assert_allclose(geometric_median(X, weights=weights), geometric_median(X[:6]), atol=1e-8)
    with pytest.raises(ValueError, match="at least one non-zero"):
        geometric_median(X, weights=np.zeros(7))
    with pytest.raises(ValueError, match="[Nn]egative"):
        geometric_median(X, weights=-np.ones(7))


def test_geometric_median_edge_cases():
    np.testing.assert_array_equal(geometric_median(np.ones((4, 3))), np.ones(3))
    np.testing.assert_array_equal(geometric_median([[1.0, 2.0]]), [1.0, 2.0])
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        geometric_median(np.random.default_rng(0).normal(size=(20, 2)), max_iter=1)
    with pytest.raises(ValueError, match="NaN"):
        geometric_median([[0.0, np.nan], [1.0, 1.0]])
    assert geometric_median(np.float32([[0, 0], [1, 1], [3, 0]])).dtype == np.float64


# --------------------------------------------------------------------------- MahalanobisScorer


@pytest.mark.parametrize(
    ("covariance", "estimator"),
    [("ledoit_wolf", LedoitWolf), ("oas", OAS), ("empirical", EmpiricalCovariance)],
)
@pytest.mark.parametrize("center", ["geometric_median", "mean"])
def test_mahalanobis_distances_match_scipy(center, covariance, estimator):
    rng = np.random.default_rng(3)
    X_train = rng.normal(size=(80, 4)) @ rng.normal(size=(4, 4)) + 5.0
    X_test = rng.normal(size=(10, 4)) * 3 + 5.0
    scorer = MahalanobisScorer(center=center, covariance=covariance).fit(X_train)

    mu = geometric_median(X_train) if center == "geometric_median" else X_train.mean(axis=0)
    precision = np.linalg.inv(estimator(assume_centered=True).fit(X_train - mu).covariance_)
    expected = np.array([mahalanobis(x, mu, precision) ** 2 for x in X_test])
    np.testing.assert_allclose(scorer.location_, mu, atol=1e-9)
    np.testing.assert_allclose(scorer.anomaly_score(X_test), expected, rtol=1e-9)
    np.testing.assert_allclose(scorer.score_samples(X_test), -expected, rtol=1e-9)


def test_mahalanobis_mean_center_is_the_classical_estimate():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 3)) + 1.0
    scorer = MahalanobisScorer(center="mean").fit(X)
    reference = LedoitWolf().fit(X)  # centres on the mean itself
    np.testing.assert_allclose(scorer.covariance_, reference.covariance_, rtol=1e-12)
    np.testing.assert_allclose(scorer.anomaly_score(X), reference.mahalanobis(X), rtol=1e-9)
    assert scorer.n_iter_ is None


def test_mahalanobis_geometric_median_resists_contamination():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(90, 2)), rng.normal(30.0, 1.0, size=(10, 2))])
    robust = MahalanobisScorer().fit(X)
    classical = MahalanobisScorer(center="mean").fit(X)
    assert np.linalg.norm(robust.location_) < 1.0 < np.linalg.norm(classical.location_)


def test_mahalanobis_more_dimensions_than_clips():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(10, 40))
    for covariance in ("ledoit_wolf", "oas", "empirical"):
        scores = MahalanobisScorer(covariance=covariance).fit(X).score_samples(rng.normal(size=(5, 40)))
        assert np.all(np.isfinite(scores))


def test_mahalanobis_errors():
    X = np.random.default_rng(7).normal(size=(20, 3))
    scorer = MahalanobisScorer().fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but MahalanobisScorer is expecting 3"):
        scorer.score_samples(X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        scorer.score_samples([[0.0, np.nan, 1.0]])
    with pytest.raises(ValueError, match="infinity|infinite"):
        MahalanobisScorer().fit(np.r_[X, [[np.inf, 0, 0]]])
    with pytest.raises(ValueError, match="1 sample"):
        MahalanobisScorer().fit(X[:1])
    with pytest.raises(ValueError, match="center"):
        MahalanobisScorer(center="median").fit(X)
    with pytest.raises(ValueError, match="contamination"):
        MahalanobisScorer(contamination=0.7).fit(X)


# --------------------------------------------------------------------------- KMeansCosineScorer


def _unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_kmeans_scores_are_max_cosine_similarities_to_the_centres():
    X, domain = _domain_data(seed=8)
    scorer = KMeansCosineScorer(n_clusters=5, random_state=0).fit(X, domain=domain)
    kmeans_centres = scorer.kmeans_.cluster_centers_
    centres = np.vstack([_unit(kmeans_centres), _unit(X[domain == "target"])])
    np.testing.assert_allclose(scorer.cluster_centers_, centres, rtol=1e-12)
    assert scorer.n_source_centers_ == 5

    X_test = np.random.default_rng(9).normal(size=(15, 5))
    expected = np.max(_unit(X_test) @ centres.T, axis=1)
    np.testing.assert_allclose(scorer.score_samples(X_test), expected, rtol=1e-12)
    np.testing.assert_allclose(scorer.anomaly_score(X_test), -expected, rtol=1e-12)


def test_kmeans_each_target_reference_scores_perfectly_on_itself():
    X, domain = _domain_data(seed=10)
    scorer = KMeansCosineScorer(n_clusters=4, random_state=0).fit(X, domain=domain)
    np.testing.assert_allclose(scorer.score_samples(X[domain == "target"]), 1.0, atol=1e-12)
    assert np.all(scorer.score_samples(X) <= 1.0)


@FAST
@given(st.lists(st.floats(0.01, 100.0), min_size=68, max_size=68))
def test_kmeans_is_invariant_to_positive_scaling(factors):
    X, domain = _domain_data(seed=11)
    factors = np.asarray(factors)[:, np.newaxis]
    scorer = KMeansCosineScorer(n_clusters=4, random_state=0, n_init=1).fit(X, domain=domain)
    scaled = KMeansCosineScorer(n_clusters=4, random_state=0, n_init=1).fit(X * factors, domain=domain)
    np.testing.assert_allclose(scaled.cluster_centers_, scorer.cluster_centers_, atol=1e-9)
    np.testing.assert_allclose(scaled.score_samples(X * factors[::-1]), scorer.score_samples(X), atol=1e-9)
    assert scaled.offset_ == pytest.approx(scorer.offset_, abs=1e-9)


def test_kmeans_without_domain_clusters_every_reference():
    X, _ = _domain_data(seed=12)
    scorer = KMeansCosineScorer(n_clusters=6, random_state=0).fit(X)
    assert scorer.cluster_centers_.shape == (6, X.shape[1]) and scorer.n_source_centers_ == 6


def test_kmeans_too_few_source_references_are_their_own_centres():
    X, domain = _domain_data(seed=13, n_source=5, n_target=3)
    with pytest.warns(UserWarning, match="5 source-domain reference.*n_clusters=16.*own centre"):
        scorer = KMeansCosineScorer().fit(X, domain=domain)
    assert scorer.kmeans_ is None and scorer.n_source_centers_ == 5
    np.testing.assert_allclose(scorer.cluster_centers_, _unit(X), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KMeansCosineScorer(n_clusters=5).fit(X, domain=domain)  # exactly n_clusters: silent


def test_kmeans_offset_leaves_each_reference_out_of_its_own_centre():
    X, domain = _domain_data(seed=14, n_source=40, n_target=6)
    scorer = KMeansCosineScorer(n_clusters=4, random_state=0, contamination=0.2).fit(X, domain=domain)
    similarities = _unit(X) @ scorer.cluster_centers_.T
    for i, index in enumerate(np.flatnonzero(domain == "target")):
        similarities[index, scorer.n_source_centers_ + i] = -np.inf
    expected_offset = np.percentile(similarities.max(axis=1), 20.0)
    assert scorer.offset_ == pytest.approx(expected_offset, rel=1e-12)
    # fit_predict labels the training clips with these leave-own-out scores.
    labels = clone(scorer).set_params(novelty=False).fit_predict(X, domain=domain)
    np.testing.assert_array_equal(labels, np.where(similarities.max(axis=1) < expected_offset, -1, 1))
    # A far-off target reference is an outlier among the others, not a perfect match.
    X_far = X.copy()
    X_far[-1] = -X_far[-1]
    assert clone(scorer).set_params(novelty=False).fit_predict(X_far, domain=domain)[-1] == -1
    assert clone(scorer).fit(X_far, domain=domain).predict(X_far[-1:])[0] == 1


def test_kmeans_errors():
    X, domain = _domain_data(seed=15)
    with pytest.raises(ValueError, match=r"X has 1 zero vector\(s\) \(rows \[3\]\): the cosine distance is undefined for them\.$"):
        KMeansCosineScorer(n_clusters=2).fit(np.r_[X[:3], np.zeros((1, 5)), X[3:]])
    scorer = KMeansCosineScorer(n_clusters=2, random_state=0).fit(X, domain=domain)
    with pytest.raises(ValueError, match="zero vector"):
        scorer.score_samples(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="X has 4 features, but KMeansCosineScorer is expecting 5"):
        scorer.score_samples(X[:, :4])
    with pytest.raises(ValueError, match="domain must hold 'source' or 'target'.*'tgt'"):
        KMeansCosineScorer().fit(X, domain=np.where(domain == "target", "tgt", domain))
    with pytest.raises(ValueError, match="domain has 3 values but X has 68 clips"):
        KMeansCosineScorer().fit(X, domain=domain[:3])
    with pytest.raises(ValueError, match="NaN"):
        scorer.predict(np.full((1, 5), np.nan))


def test_kmeans_domain_through_metadata_routing():
    X, domain = _domain_data(seed=16)
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = KMeansCosineScorer(n_clusters=3, random_state=0).set_fit_request(domain=True)
        pipe = make_pipeline(StandardScaler(), scorer).fit(X, domain=domain)
    assert pipe[-1].n_source_centers_ == 3
    assert len(pipe[-1].cluster_centers_) == 3 + np.sum(domain == "target")


# --------------------------------------------------------------------------- DomainStandardizedScorer


def test_domain_standardized_scores_equal_a_hand_computation():
    X, domain = _domain_data(seed=17)
    X_test, test_domain = _domain_data(seed=18, n_source=12, n_target=7)
    model = DomainStandardizedScorer(LocalOutlierFactor(n_neighbors=5, novelty=True)).fit(X, domain=domain)
    raw = -LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X).score_samples(X_test)
    expected = np.empty_like(raw)
    for name in ("source", "target"):
        part = raw[test_domain == name]
        expected[test_domain == name] = (part - part.mean()) / part.std()
    z = model.anomaly_score(X_test, domain=test_domain)
    np.testing.assert_allclose(z, expected, rtol=1e-10)
    for name in ("source", "target"):
        assert z[test_domain == name].mean() == pytest.approx(0.0, abs=1e-12)
        assert z[test_domain == name].std() == pytest.approx(1.0, rel=1e-12)
    # The sign contract, with domain.
    np.testing.assert_allclose(model.score_samples(X_test, domain=test_domain), -z)
    np.testing.assert_allclose(model.decision_function(X_test, test_domain), -z - model.offset_)
    np.testing.assert_array_equal(model.predict(X_test, test_domain), np.where(-z - model.offset_ < 0, -1, 1))


def test_domain_standardized_offset_from_training_statistics():
    X, domain = _domain_data(seed=19)
    model = DomainStandardizedScorer(contamination=0.25).fit(X, domain=domain)
    raw = -MahalanobisScorer().fit(X).score_samples(X)
    z = np.empty_like(raw)
    for name in ("source", "target"):
        part = raw[domain == name]
        z[domain == name] = (part - part.mean()) / part.std()
    assert model.offset_ == pytest.approx(np.percentile(-z, 25.0), rel=1e-10)
    # Scoring the training set with its domains reproduces the training z-scores.
    assert np.mean(model.predict(X, domain) == -1) == pytest.approx(0.25, abs=1.5 / len(X))
    np.testing.assert_array_equal(clone(model).fit_predict(X, domain=domain), model.predict(X, domain))


def test_domain_standardized_clips_are_not_scored_independently():
    X, domain = _domain_data(seed=20)
    model = DomainStandardizedScorer().fit(X, domain=domain)
    X_test, test_domain = _domain_data(seed=21, n_source=10, n_target=4)
    full = model.score_samples(X_test, test_domain)
    # Same clip, other companions: another score (documented behaviour).
    assert model.score_samples(X_test[:5], test_domain[:5])[0] != pytest.approx(full[0])
    # ...but the order of the clips does not matter.
    order = np.random.default_rng(0).permutation(len(X_test))
    np.testing.assert_allclose(model.score_samples(X_test[order], test_domain[order]), full[order], rtol=1e-12)


def test_domain_standardized_meta_estimator_protocol():
    X, domain = _domain_data(seed=22)
    X_test, test_domain = _domain_data(seed=23, n_source=10, n_target=4)
    model = DomainStandardizedScorer(MahalanobisScorer(covariance="oas"))
    assert model.get_params()["estimator__covariance"] == "oas"
    model.set_params(estimator__center="mean").fit(X, domain=domain)
    assert model.estimator_ is not model.estimator and model.estimator_.center == "mean"
    assert not hasattr(model.estimator, "location_")  # cloned, not fitted in place
    assert isinstance(DomainStandardizedScorer().fit(X).estimator_, MahalanobisScorer)
    assert model.n_features_in_ == 5
    scores = model.score_samples(X_test, test_domain)
    # What the xfailed estimator checks test, with domain: pickling, idempotence, dtypes.
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).score_samples(X_test, test_domain), scores)
    np.testing.assert_allclose(clone(model).fit(X, domain=domain).score_samples(X_test, test_domain), scores)
    for dtype in (np.float32, np.int64):
        result = clone(model).fit(X.astype(dtype), domain=domain).predict(X_test.astype(dtype), test_domain)
        assert set(np.unique(result)) <= {-1, 1}
    np.testing.assert_allclose(model.score_samples(X_test.tolist(), list(test_domain)), scores)


def test_domain_standardized_passes_domain_to_the_wrapped_fit():
    X, domain = _domain_data(seed=24)
    model = DomainStandardizedScorer(KMeansCosineScorer(n_clusters=3, random_state=0)).fit(X, domain=domain)
    assert model.estimator_.n_source_centers_ == 3  # without routing: the wrapped fit takes domain
    assert len(model.estimator_.cluster_centers_) == 3 + np.sum(domain == "target")
    with sklearn.config_context(enable_metadata_routing=True):
        inner = KMeansCosineScorer(n_clusters=3, random_state=0).set_fit_request(domain=True)
        model = (
            DomainStandardizedScorer(inner)
            .set_fit_request(domain=True)
            .set_decision_function_request(domain=True)
            .set_predict_request(domain=True)
        )
        pipe = make_pipeline(StandardScaler(), model).fit(X, domain=domain)
        decision = pipe.decision_function(X, domain=domain)
        assert pipe.predict(X, domain=domain).shape == (len(X),)
    assert len(pipe[-1].estimator_.cluster_centers_) == 3 + np.sum(domain == "target")
    np.testing.assert_allclose(decision, pipe[-1].decision_function(pipe[0].transform(X), domain))


def test_domain_standardized_constant_domain_scores_zero():
    X, domain = _domain_data(seed=25)
    model = DomainStandardizedScorer().fit(X, domain=domain)
    X_test = np.vstack([X[:3], np.repeat(X[-1:], 3, axis=0)])
    z = model.anomaly_score(X_test, ["source"] * 3 + ["target"] * 3)
    np.testing.assert_array_equal(z[3:], 0.0)


_NO_DOMAIN_STANDARDIZED = (
    "No domain was given to DomainStandardizedScorer.{method}: all clips of X are taken as one domain and "
    "standardised together. That is one increasing affine map of the wrapped estimator's anomaly scores, so "
    "without domains the standardisation does not change the ranking (every AUC is the wrapped estimator's). "
    "Pass the domain of each clip as {method}(X, domain=domain) to standardise each domain with its own "
    "statistics (for predict and decision_function also through metadata routing, with "
    "set_predict_request(domain=True) / set_decision_function_request(domain=True))."
)


def _warns_once_without_domain(method):
    """pytest.warns for the one UserWarning of ``method`` called without domain."""
    return pytest.warns(UserWarning, match=re.escape(_NO_DOMAIN_STANDARDIZED.format(method=method)))


def test_domain_standardized_without_domain_standardises_all_clips_together():
    X, domain = _domain_data(seed=29)
    X_test, _ = _domain_data(seed=30, n_source=12, n_target=7)
    model = DomainStandardizedScorer(LocalOutlierFactor(n_neighbors=5, novelty=True)).fit(X, domain=domain)
    raw = -LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X).score_samples(X_test)
    z = (raw - raw.mean()) / raw.std()
    expected = {"anomaly_score": z, "score_samples": -z, "decision_function": -z - model.offset_}
    expected["predict"] = np.where(expected["decision_function"] < 0, -1, 1)
    for method, values in expected.items():
        with _warns_once_without_domain(method) as record:
            result = getattr(model, method)(X_test)
        assert len(record) == 1
        np.testing.assert_allclose(result, values, rtol=1e-10)
        # As one label for every clip.
        np.testing.assert_array_equal(result, getattr(model, method)(X_test, ["all"] * len(X_test)))
    # An increasing map: the wrapped estimator's ranking.
    with _warns_once_without_domain("anomaly_score"):
        np.testing.assert_array_equal(rankdata(model.anomaly_score(X_test)), rankdata(raw))
    with _warns_once_without_domain("score_samples"), pytest.raises(
        ValueError, match=r"X has a single clip \(n_samples=1\) and no domain: all clips form one domain"
    ):
        model.score_samples(X_test[:1])


def test_domain_standardized_fit_without_domain():
    X, _ = _domain_data(seed=31)
    # fit takes no domain silently: offset_ from all training clips as one domain.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = DomainStandardizedScorer(contamination=0.2).fit(X)
    raw = -MahalanobisScorer().fit(X).score_samples(X)
    assert model.offset_ == pytest.approx(np.percentile(-(raw - raw.mean()) / raw.std(), 20.0), rel=1e-10)
    # fit_predict warns once (its predict) and labels as fit(X).predict(X).
    with _warns_once_without_domain("predict") as record:
        labels = clone(model).fit_predict(X)
    assert len(record) == 1
    with _warns_once_without_domain("predict"):
        np.testing.assert_array_equal(labels, model.predict(X))
    assert np.mean(labels == -1) == pytest.approx(0.2, abs=1.5 / len(X))


def test_domain_standardized_in_plain_cross_validate_without_domain():
    X, _ = _domain_data(seed=32, n_source=40, n_target=5)
    X = X[np.random.default_rng(0).permutation(len(X))]
    cv = KFold(3)

    def rank_of_first(estimator, X, y=None):
        return float(rankdata(estimator.score_samples(X))[0])

    with _warns_once_without_domain("score_samples"):
        result = cross_validate(DomainStandardizedScorer(), X, scoring=rank_of_first, cv=cv, error_score="raise")
    # Without domains, the wrapped estimator's ranking.
    expected = cross_validate(MahalanobisScorer(), X, scoring=rank_of_first, cv=cv, error_score="raise")
    np.testing.assert_array_equal(result["test_score"], expected["test_score"])


def test_domain_standardized_dcase_scorer_evaluates_the_wrapped_estimator():
    # scikit-learn's scorers call score_samples(X) without domain: the
    # official score is then the wrapped estimator's (documented).
    X, domain = _domain_data(seed=33)
    X_test, test_domain = _domain_data(seed=34, n_source=20, n_target=20)
    y_test = np.r_[np.zeros(10), np.ones(10), np.zeros(10), np.ones(10)].astype(int)
    X_test[y_test == 1] += 1.5
    model = DomainStandardizedScorer().fit(X, domain=domain)
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_dcase_scorer().set_score_request(domain=True)
        with _warns_once_without_domain("score_samples"):
            standardized = scorer(model, X_test, y_test, domain=test_domain)
        assert standardized == scorer(model.estimator_, X_test, y_test, domain=test_domain)


def test_domain_standardized_errors():
    X, domain = _domain_data(seed=26)
    model = DomainStandardizedScorer().fit(X, domain=domain)
    with pytest.raises(ValueError, match=r"domain 'target' has a single clip \(n_samples=1\) in X.*at least 2"):
        model.score_samples(X[-3:], ["source", "source", "target"])
    with pytest.raises(ValueError, match="domain 'b' has a single clip .* in the training clips"):
        DomainStandardizedScorer().fit(X[:5], domain=["a", "a", "a", "a", "b"])
    with pytest.raises(ValueError, match="domain has 2 values but X has 3 clips"):
        model.score_samples(X[:3], ["source", "source"])
    with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 5"):
        model.score_samples(X[:, :4], domain)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((2, 5), np.nan), ["source", "source"])
    with pytest.raises(ValueError, match="'estimator' parameter .* must be an object implementing 'fit'"):
        DomainStandardizedScorer(StandardScaler()).fit(X)


# --------------------------------------------------------------------------- the sign contract


@pytest.mark.parametrize(
    "make",
    [
        lambda: MahalanobisScorer(contamination=0.2),
        lambda: MahalanobisScorer(center="mean", covariance="empirical", contamination=0.2),
        lambda: KMeansCosineScorer(n_clusters=4, random_state=0, contamination=0.2),
    ],
)
def test_sign_contract(make):
    X, domain = _domain_data(seed=27, n_source=200, n_target=10)
    scorer = make().fit(X, **({"domain": domain} if isinstance(make(), KMeansCosineScorer) else {}))
    X_test = np.random.default_rng(28).normal(size=(30, 5)) + 1.0
    scores = scorer.score_samples(X_test)
    np.testing.assert_array_equal(scorer.anomaly_score(X_test), -scores)
    np.testing.assert_allclose(scorer.decision_function(X_test), scores - scorer.offset_)
    np.testing.assert_array_equal(scorer.predict(X_test), np.where(scores < scorer.offset_, -1, 1))
    # About a fraction `contamination` of the training clips is flagged.
    labeller = clone(scorer).set_params(novelty=False) if "novelty" in scorer.get_params() else clone(scorer)
    flagged = np.mean(labeller.fit_predict(X, **({"domain": domain} if hasattr(scorer, "kmeans_") else {})) == -1)
    assert flagged == pytest.approx(0.2, abs=0.02)
