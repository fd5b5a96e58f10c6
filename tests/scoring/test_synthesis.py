"""Tests of SMOTEKNNScorer and DADSKNNScorer against independent computations."""

import pickle
import re
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, PredefinedSplit, cross_validate
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError

from skasd import DADSKNNScorer, KNNScorer, LocalDensityKNNScorer, SMOTEKNNScorer
from skasd.metrics import dcase_scores, make_dcase_scorer
from skasd.utils._torch import resolve_device


def _domain_shift(seed, n_source=200, n_target=8, d=6):
    """Many tight source clips, a few spread target clips, on the positive side of the sphere."""
    rng = np.random.default_rng(seed)
    centre_source = np.r_[3.0, np.zeros(d - 1)]
    centre_target = np.r_[0.0, 3.0, np.zeros(d - 2)]
    source = centre_source + rng.normal(0, 0.2, size=(n_source, d))
    target = centre_target + rng.normal(0, 0.8, size=(n_target, d))
    X = np.vstack([source, target])
    domain = np.array(["source"] * n_source + ["target"] * n_target)
    return X, domain, centre_source, centre_target


def _unit(X):
    X = np.asarray(X, dtype=np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _allowed_pairs(X, domain, partners, k, metric):
    """(a, b) row pairs SMOTE/DADS may interpolate between, from sklearn's NearestNeighbors."""
    points = _unit(X) if metric == "cosine" else np.asarray(X, dtype=np.float64)
    nn_metric = "cosine" if metric == "cosine" else "euclidean"
    targets = np.flatnonzero(domain == "target")
    pool = {"target": targets, "source": np.flatnonzero(domain == "source"), "both": np.arange(len(X))}[partners]
    n_candidates = len(pool) - (0 if partners == "source" else 1)
    k = min(k, n_candidates)
    # One more neighbour where a target reference is in its own pool (itself, at distance 0).
    extra = 0 if partners == "source" else 1
    nn = NearestNeighbors(n_neighbors=k + extra, metric=nn_metric).fit(points[pool])
    _, index = nn.kneighbors(points[targets])
    pairs = set()
    for a, row in zip(targets, index):
        neighbours = [pool[j] for j in row if pool[j] != a][:k]
        pairs.update((a, b) for b in neighbours)
    return points, pairs


def _check_on_segments(references, n_real, points, pairs, max_u, atol=2e-5):
    """Each synthetic reference is a + u (b - a), u in [0, max_u], for an allowed pair."""
    pairs = np.array(sorted(pairs))
    a, b = points[pairs[:, 0]], points[pairs[:, 1]]
    direction = b - a
    for s in references[n_real:].astype(np.float64):
        u = np.einsum("ij,ij->i", s - a, direction) / np.einsum("ij,ij->i", direction, direction)
        residual = np.linalg.norm(s - a - u[:, np.newaxis] * direction, axis=1)
        ok = (residual < atol) & (u >= -1e-6) & (u <= max_u + 1e-6)
        assert ok.any(), "a synthetic reference lies on no allowed segment"


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_smote_synthetic_references_lie_between_target_neighbours(metric):
    X, domain, _, _ = _domain_shift(0, n_source=60, n_target=9)
    scorer = SMOTEKNNScorer(metric=metric, random_state=0).fit(X, domain=domain)
    points, pairs = _allowed_pairs(X, domain, "target", 4, metric)
    _check_on_segments(scorer.references_, len(X), points, pairs, max_u=1.0)
    # The recorded provenance agrees with the independent neighbour lists.
    assert {tuple(p) for p in scorer.synthetic_sources_} <= pairs
    np.testing.assert_allclose(
        scorer.references_[len(X):],
        points[scorer.synthetic_sources_[:, 0]]
        + scorer.synthetic_coefficients_[:, np.newaxis]
        * (points[scorer.synthetic_sources_[:, 1]] - points[scorer.synthetic_sources_[:, 0]]),
        atol=1e-6,
    )
    # The real references come first, as given (the k-NN scorer normalises them itself).
    np.testing.assert_array_equal(scorer.references_[: len(X)], X.astype(np.float32))


@pytest.mark.parametrize("partners", ["source", "target", "both"])
@pytest.mark.parametrize("metric", ["cosine", "mse"])
def test_dads_synthetic_references_lie_between_the_allowed_neighbours(partners, metric):
    X, domain, _, _ = _domain_shift(1, n_source=50, n_target=7)
    scorer = DADSKNNScorer(metric=metric, interpolate_with=partners, synthesis_neighbors=3, random_state=0)
    scorer.fit(X, domain=domain)
    points, pairs = _allowed_pairs(X, domain, partners, 3, metric)
    _check_on_segments(scorer.references_, len(X), points, pairs, max_u=0.5)
    assert {tuple(p) for p in scorer.synthetic_sources_} <= pairs
    assert (scorer.synthetic_coefficients_ >= 0).all() and (scorer.synthetic_coefficients_ < 0.5).all()
    if partners == "source":
        # Cross-domain: every partner is a source clip.
        assert (domain[scorer.synthetic_sources_[:, 1]] == "source").all()


@pytest.mark.parametrize(
    "n_source, n_target, ratio, expected",
    [(60, 9, 1.0, 51), (60, 9, 0.5, 21), (60, 7, 0.25, 8), (60, 20, 0.25, 0), (60, 9, 2.0, 111)],
)
def test_counts_after_oversampling(n_source, n_target, ratio, expected):
    X, domain, _, _ = _domain_shift(2, n_source=n_source, n_target=n_target)
    for scorer in (SMOTEKNNScorer(sampling_ratio=ratio), DADSKNNScorer(sampling_ratio=ratio)):
        scorer.set_params(random_state=0).fit(X, domain=domain)
        assert scorer.n_synthetic_ == expected
        assert scorer.references_.shape == (n_source + n_target + expected, X.shape[1])
        assert scorer.scorer_.n_references_ == n_source + n_target + expected
        assert (scorer.reference_domain_ == "target").sum() == max(n_target, round(ratio * n_source))
        # Every target reference is the base of floor or ceil of n_synthetic / n_target.
        bases = np.bincount(scorer.synthetic_sources_[:, 0], minlength=len(X))[domain == "target"]
        assert set(bases) <= {expected // n_target, -(-expected // n_target)}


def test_determinism_with_random_state():
    X, domain, _, _ = _domain_shift(3)
    queries = _domain_shift(4)[0]
    for cls in (SMOTEKNNScorer, DADSKNNScorer):
        first = cls(random_state=7).fit(X, domain=domain)
        second = cls(random_state=7).fit(X, domain=domain)
        other = cls(random_state=8).fit(X, domain=domain)
        np.testing.assert_array_equal(first.references_, second.references_)
        np.testing.assert_array_equal(first.anomaly_score(queries), second.anomaly_score(queries))
        assert first.offset_ == second.offset_
        assert not np.array_equal(first.references_, other.references_)
        # A RandomState instance is used, not reseeded.
        generator = np.random.RandomState(0)
        a = cls(random_state=generator).fit(X, domain=domain).references_
        b = cls(random_state=generator).fit(X, domain=domain).references_
        assert not np.array_equal(a, b)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "mse"])
def test_smote_scores_equal_a_knn_scorer_on_the_enlarged_references(metric):
    X, domain, _, _ = _domain_shift(5)
    queries = _domain_shift(6)[0]
    scorer = SMOTEKNNScorer(metric=metric, n_neighbors=2, random_state=0).fit(X, domain=domain)
    by_hand = KNNScorer(metric=metric, n_neighbors=2).fit(scorer.references_)
    np.testing.assert_array_equal(scorer.score_samples(queries), by_hand.score_samples(queries))
    assert isinstance(scorer.scorer_, KNNScorer)


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_dads_recompute_equals_a_local_density_scorer_on_the_enlarged_references(metric):
    X, domain, _, _ = _domain_shift(7)
    queries = _domain_shift(8)[0]
    params = {"normalization": "difference", "density_neighbors": 2, "n_neighbors": 2}
    scorer = DADSKNNScorer(metric=metric, synthetic_density="recompute", random_state=0, **params)
    scorer.fit(X, domain=domain)
    by_hand = LocalDensityKNNScorer(metric=metric, **params).fit(scorer.references_)
    np.testing.assert_array_equal(scorer.score_samples(queries), by_hand.score_samples(queries))


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
@pytest.mark.parametrize("normalization", ["ratio", "difference"])
def test_dads_interpolated_densities_and_scores_match_the_formulas(metric, normalization):
    X, domain, _, _ = _domain_shift(9, n_source=80, n_target=6)
    queries = _domain_shift(10)[0]
    scorer = DADSKNNScorer(metric=metric, normalization=normalization, random_state=0).fit(X, domain=domain)
    n = len(X)
    # Real references: LocalDensityKNNScorer's densities among the real references.
    real = LocalDensityKNNScorer(metric=metric).fit(scorer.references_[:n]).density_
    a, b = scorer.synthetic_sources_.T
    u = scorer.synthetic_coefficients_
    densities = np.r_[real, (1 - u) * real[a] + u * real[b]]
    # (float32 distances after centring on the real, or on all, references)
    np.testing.assert_allclose(scorer.scorer_.density_, densities, rtol=1e-4)
    # The score, in float64 from the definitions.
    refs = scorer.references_.astype(np.float64)
    if metric == "cosine":
        distances = 0.5 * (1 - _unit(queries) @ _unit(refs).T)
    else:
        distances = ((queries[:, np.newaxis, :] - refs[np.newaxis]) ** 2).sum(axis=2)
    normalized = distances / densities if normalization == "ratio" else distances - densities
    # float32 distances (errors ~1e-7) divided by the tight source clips' ~1e-4 densities.
    np.testing.assert_allclose(scorer.anomaly_score(queries), normalized.min(axis=1), rtol=2e-3, atol=2e-5)
    # With nothing to synthesise, it is a LocalDensityKNNScorer on the clips.
    plain = DADSKNNScorer(metric=metric, normalization=normalization, sampling_ratio=0.01).fit(X, domain=domain)
    assert plain.n_synthetic_ == 0
    by_hand = LocalDensityKNNScorer(metric=metric, normalization=normalization).fit(X)
    np.testing.assert_array_equal(plain.score_samples(queries), by_hand.score_samples(queries))
    assert plain.offset_ == by_hand.offset_


def test_cosine_ignores_the_lengths_of_the_clips():
    X, domain, _, _ = _domain_shift(11)
    queries = _domain_shift(12)[0]
    scales = np.random.default_rng(0).uniform(0.1, 10, size=(len(X), 1))
    for cls in (SMOTEKNNScorer, DADSKNNScorer):
        plain = cls(random_state=0).fit(X, domain=domain).anomaly_score(queries)
        scaled = cls(random_state=0).fit(X * scales, domain=domain).anomaly_score(queries)
        # Up to the float32 rounding of the unit rows, as KNNScorer and
        # LocalDensityKNNScorer themselves (which normalise the real clips).
        np.testing.assert_allclose(plain, scaled, rtol=1e-3, atol=1e-6)


def test_sign_contract_and_leave_one_out_labels():
    X, domain, _, _ = _domain_shift(13, n_source=300, n_target=10)
    queries = _domain_shift(14)[0]
    for scorer in (SMOTEKNNScorer(contamination=0.2, random_state=0), DADSKNNScorer(contamination=0.2, random_state=0)):
        labels = clone(scorer).set_params(novelty=False).fit_predict(X, domain=domain)
        scorer.fit(X, domain=domain)
        np.testing.assert_array_equal(scorer.anomaly_score(queries), -scorer.score_samples(queries))
        np.testing.assert_allclose(scorer.decision_function(queries), scorer.score_samples(queries) - scorer.offset_)
        np.testing.assert_array_equal(scorer.predict(queries), np.where(scorer.decision_function(queries) < 0, -1, 1))
        # Leave-one-out labels of the real clips flag the contamination fraction.
        assert labels.shape == (len(X),)
        assert np.mean(labels == -1) == pytest.approx(0.2, abs=0.01)
        # Scored with itself among the references, every training clip is normal.
        assert (scorer.predict(X) == 1).all()


def test_target_normals_look_more_normal_than_with_plain_knn():
    # Few spread target references, many tight source ones: with plain k-NN
    # the target normals are farther from everything than slightly shifted
    # source clips (anomalies), and the one threshold (offset_, set by the
    # training clips) calls all of them anomalous.
    X, domain, centre_source, centre_target = _domain_shift(15, n_source=400, n_target=6)
    rng = np.random.default_rng(16)
    d = X.shape[1]
    target_normals = centre_target + rng.normal(0, 0.8, size=(300, d))
    source_normals = centre_source + rng.normal(0, 0.2, size=(300, d))
    source_anomalies = source_normals + np.r_[0.0, 0.0, 0.6, np.zeros(d - 3)]
    plain = KNNScorer().fit(X)
    smote = SMOTEKNNScorer(random_state=0).fit(X, domain=domain)
    dads = DADSKNNScorer(random_state=0).fit(X, domain=domain)
    # SMOTE only adds references: no distance grows, and the typical one shrinks.
    assert (smote.anomaly_score(target_normals) <= plain.anomaly_score(target_normals) + 1e-6).all()
    assert np.median(smote.anomaly_score(target_normals)) < 0.8 * np.median(plain.anomaly_score(target_normals))

    def ranked_above(scorer, low, high):
        """How often a clip of ``high`` scores above one of ``low``."""
        a, b = scorer.anomaly_score(low), scorer.anomaly_score(high)
        return np.mean(b[:, np.newaxis] > a[np.newaxis, :])

    # DADS's scores are on another scale: compare rankings and false alarms.
    assert ranked_above(plain, source_normals, target_normals) > 0.99
    assert ranked_above(dads, source_normals, target_normals) < 0.5
    assert ranked_above(plain, target_normals, source_anomalies) < 0.05
    assert ranked_above(dads, target_normals, source_anomalies) > 0.7
    assert np.mean(plain.predict(target_normals) == -1) > 0.9
    assert np.mean(dads.predict(target_normals) == -1) < 0.2


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
    test = test_fold == 0
    grids = [
        (SMOTEKNNScorer(random_state=0), {"synthesis_neighbors": [2, 4], "sampling_ratio": [0.5, 1.0]}),
        (DADSKNNScorer(random_state=0), {"interpolate_with": ["source", "target"], "max_interpolation": [0.5, 1.0]}),
    ]
    with sklearn.config_context(enable_metadata_routing=True):
        for estimator, grid in grids:
            search = GridSearchCV(
                estimator.set_fit_request(domain=True),
                grid,
                scoring=make_dcase_scorer().set_score_request(domain=True),
                cv=PredefinedSplit(test_fold),
                refit=False,
            ).fit(X, y, domain=domain)
            for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
                scorer = sklearn.clone(estimator).set_params(**params).fit(X[~test], domain=domain[~test])
                assert score == pytest.approx(dcase_scores(y[test], scorer.anomaly_score(X[test]), domain[test])[1])
        # In a Pipeline, domain reaches the last step's fit too.
        pipe = make_pipeline(FunctionTransformer(), SMOTEKNNScorer(random_state=0).set_fit_request(domain=True))
        pipe.fit(X[~test], domain=domain[~test])
        direct = SMOTEKNNScorer(random_state=0).fit(X[~test], domain=domain[~test])
        np.testing.assert_array_equal(pipe.score_samples(X[test]), direct.score_samples(X[test]))


_NO_DOMAIN = (
    "No domain was given to {owner}.fit: all clips are taken as one domain (source), which leaves no "
    "target-domain references to {verb}, so {owner} adds no synthetic references and scores as {plain}. "
    "Pass each clip's domain ('source' or 'target') as fit(X, domain=domain), or through metadata "
    "routing with set_fit_request(domain=True)."
)


def _no_domain_message(cls):
    verb, plain = {
        SMOTEKNNScorer: ("oversample", "KNNScorer"),
        DADSKNNScorer: ("synthesise from", "LocalDensityKNNScorer"),
    }[cls]
    return re.escape(_NO_DOMAIN.format(owner=cls.__name__, verb=verb, plain=plain))


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "mse"])
@pytest.mark.parametrize(
    "synthesis, plain",
    [
        (SMOTEKNNScorer(n_neighbors=2, contamination=0.2), KNNScorer(n_neighbors=2, contamination=0.2)),
        (
            DADSKNNScorer(n_neighbors=2, density_neighbors=2, normalization="difference"),
            LocalDensityKNNScorer(n_neighbors=2, density_neighbors=2, normalization="difference"),
        ),
        (
            DADSKNNScorer(synthetic_density="recompute", density="gwrp", density_decay=0.5, contamination=0.2),
            LocalDensityKNNScorer(density="gwrp", density_decay=0.5, contamination=0.2),
        ),
    ],
)
def test_without_domain_nothing_is_synthesised_and_it_scores_as_the_plain_scorer(synthesis, plain, metric):
    # 100 clips: offset_ falls between two training scores, so no clip sits on it.
    X = _domain_shift(21, n_source=90, n_target=10)[0]
    queries = _domain_shift(22)[0]
    synthesis, plain = clone(synthesis).set_params(metric=metric), clone(plain).set_params(metric=metric)
    with pytest.warns(UserWarning, match=_no_domain_message(type(synthesis))) as record:
        synthesis.fit(X)
    assert len(record) == 1
    plain.fit(X)
    assert synthesis.n_synthetic_ == 0 and (synthesis.reference_domain_ == "source").all()
    # Exactly the plain scorer's numbers: the same float32 computation.
    assert synthesis.offset_ == plain.offset_
    for method in ("score_samples", "decision_function", "predict", "anomaly_score"):
        np.testing.assert_array_equal(getattr(synthesis, method)(queries), getattr(plain, method)(queries))
    # fit_predict: the plain scorer's leave-one-out labels, and the warning once.
    with pytest.warns(UserWarning, match=_no_domain_message(type(synthesis))) as record:
        labels = clone(synthesis).set_params(novelty=False).fit_predict(X)
    assert len(record) == 1
    np.testing.assert_array_equal(labels, clone(plain).set_params(novelty=False).fit_predict(X))
    assert 0 < np.mean(labels == -1) < 0.5


@pytest.mark.parametrize("cls, plain", [(SMOTEKNNScorer, KNNScorer), (DADSKNNScorer, LocalDensityKNNScorer)])
def test_plain_cross_validate_without_domain(cls, plain):
    X = _domain_shift(23, n_source=40, n_target=5)[0]

    def mean_score(estimator, X, y=None):
        return float(estimator.score_samples(X).mean())

    with pytest.warns(UserWarning, match=_no_domain_message(cls)):
        result = cross_validate(cls(random_state=0), X, scoring=mean_score, cv=3, error_score="raise")
    expected = cross_validate(plain(), X, scoring=mean_score, cv=3, error_score="raise")
    np.testing.assert_array_equal(result["test_score"], expected["test_score"])


@pytest.mark.parametrize("cls", [SMOTEKNNScorer, DADSKNNScorer])
def test_k_neighbors_is_the_deprecated_name_of_synthesis_neighbors(cls):
    X, domain, _, _ = _domain_shift(24, n_source=40, n_target=6)
    partners = "target" if cls is SMOTEKNNScorer else "source"
    renamed = cls(synthesis_neighbors=2, random_state=0).fit(X, domain=domain)
    message = re.escape("`k_neighbors` was renamed `synthesis_neighbors` in version 0.1 and will be removed in 0.2.")
    with pytest.warns(FutureWarning, match=message) as record:
        old = cls(k_neighbors=2, random_state=0).fit(X, domain=domain)
    assert len(record) == 1
    np.testing.assert_array_equal(old.references_, renamed.references_)
    np.testing.assert_array_equal(old.synthetic_sources_, renamed.synthetic_sources_)
    # The value is used: partners among the 2 nearest, where the default (4) reaches farther.
    two_nearest = _allowed_pairs(X, domain, partners, 2, "cosine")[1]
    assert {tuple(pair) for pair in old.synthetic_sources_} <= two_nearest
    default = cls(random_state=0).fit(X, domain=domain)  # no FutureWarning: pyproject.toml makes it an error
    assert not {tuple(pair) for pair in default.synthetic_sources_} <= two_nearest
    assert {tuple(pair) for pair in default.synthetic_sources_} <= _allowed_pairs(X, domain, partners, 4, "cosine")[1]
    assert default.get_params()["k_neighbors"] == "deprecated" and default.synthesis_neighbors == 4
    with pytest.raises(ValueError, match=r"Only one of `synthesis_neighbors` and `k_neighbors` may be given"):
        cls(k_neighbors=2, synthesis_neighbors=3).fit(X, domain=domain)
    with pytest.raises(InvalidParameterError, match=rf"The 'k_neighbors' parameter of {cls.__name__} must be"):
        cls(k_neighbors=0).fit(X, domain=domain)


@pytest.mark.parametrize("cls", [SMOTEKNNScorer, DADSKNNScorer])
def test_device_defaults_to_auto(cls):
    X, domain, _, _ = _domain_shift(25, n_source=30, n_target=5)
    queries = _domain_shift(26)[0]
    assert cls().device == "auto"
    scorer = cls(random_state=0).fit(X, domain=domain)
    assert scorer.scorer_.device_ == resolve_device("auto")
    on_cpu = cls(random_state=0, device="cpu").fit(X, domain=domain)
    # The same references; the same scores up to float32 rounding on a GPU.
    np.testing.assert_array_equal(scorer.references_, on_cpu.references_)
    np.testing.assert_allclose(scorer.score_samples(queries), on_cpu.score_samples(queries), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "scorer, X, domain, message",
    [
        (SMOTEKNNScorer(), np.eye(4), ["source", "target", "Target", "src"], r"domain values must be 'source' or 'target'; got 'Target', 'src'"),
        (SMOTEKNNScorer(), np.eye(4), ["source", "target"], r"domain has 2 values but X has 4 clips"),
        (DADSKNNScorer(), np.eye(4), [["source"] * 4], r"domain must be 1-D"),
        (SMOTEKNNScorer(), np.eye(4), ["source"] * 4, r"domain has no 'target' clips \(all 4 are 'source'\)"),
        (SMOTEKNNScorer(), np.eye(4) + 1, ["source"] * 3 + ["target"], r"interpolates each target-domain reference with its nearest other target-domain references, but there are none"),
        (DADSKNNScorer(interpolate_with="target"), np.eye(4) + 1, ["source"] * 3 + ["target"], r"nearest other target-domain references, but there are none: X has 1 target and 3 source clips"),
        (SMOTEKNNScorer(), np.array([[1.0, np.nan], [1.0, 2.0]]), ["source", "target"], r"Input X contains NaN"),
        (DADSKNNScorer(), np.array([[1.0, np.inf], [1.0, 2.0]]), ["source", "target"], r"Input X contains infinity"),
        (SMOTEKNNScorer(), np.vstack([np.eye(3), np.zeros((1, 3))]), ["source"] * 2 + ["target"] * 2, r"X has 1 zero vector\(s\) \(rows \[3\]\): the cosine distance is undefined"),
        (SMOTEKNNScorer(sampling_ratio=0), np.eye(4), ["source", "target"] * 2, r"The 'sampling_ratio' parameter of SMOTEKNNScorer must be a float in the range \(0.0, inf\)"),
        (DADSKNNScorer(interpolate_with="source domain"), np.eye(4), ["source", "target"] * 2, r"The 'interpolate_with' parameter of DADSKNNScorer must be a str among"),
        (DADSKNNScorer(density_neighbors=3), np.eye(3) + 1, ["source", "source", "target"], r"DADSKNNScorer needs at least 4 training clips \(density_neighbors=3 other references.*\); got 3 samples\."),
    ],
)
@pytest.mark.filterwarnings("ignore:.*fewer than synthesis_neighbors:UserWarning")
def test_bad_input_in_fit(scorer, X, domain, message):
    with pytest.raises(ValueError, match=message):
        scorer.fit(X, domain=domain)


def test_bad_input_when_scoring():
    X, domain, _, _ = _domain_shift(18, d=4)
    for cls in (SMOTEKNNScorer, DADSKNNScorer):
        scorer = cls(random_state=0).fit(X, domain=domain)
        with pytest.raises(ValueError, match=rf"X has 3 features, but {cls.__name__} is expecting 4 features"):
            scorer.score_samples(np.ones((2, 3)))
        with pytest.raises(ValueError, match=r"X has 1 zero vector\(s\)"):
            scorer.anomaly_score(np.zeros((1, 4)))
        with pytest.raises(ValueError, match=r"Input X contains NaN"):
            scorer.predict(np.full((1, 4), np.nan))


def test_too_few_target_references_warns_and_uses_them_all():
    X, domain, _, _ = _domain_shift(19, n_source=30, n_target=3)
    with pytest.warns(UserWarning, match=r"only 2 other target-domain reference\(s\) to interpolate with, fewer than synthesis_neighbors=4"):
        scorer = SMOTEKNNScorer(random_state=0).fit(X, domain=domain)
    assert scorer.n_synthetic_ == 27
    # Every pair of distinct target references gets used.
    targets = set(np.flatnonzero(domain == "target"))
    assert {tuple(p) for p in scorer.synthetic_sources_} == {(a, b) for a in targets for b in targets if a != b}
    # Enough of them: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SMOTEKNNScorer(synthesis_neighbors=2, random_state=0).fit(X, domain=domain)


def test_pickle_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, domain, _, _ = _domain_shift(20, d=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    for cls in (SMOTEKNNScorer, DADSKNNScorer):
        scorer = cls(random_state=0).fit(frame, domain=pd.Series(domain))
        np.testing.assert_array_equal(scorer.feature_names_in_, ["a", "b", "c"])
        restored = pickle.loads(pickle.dumps(scorer))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.testing.assert_array_equal(restored.score_samples(frame), scorer.score_samples(frame))

