"""ACPEnsemble: the weight search, the fusion, composition, routing, and bad input."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from skasd import (
    KMeansCosineScorer,
    KNNScorer,
    LocalDensityKNNScorer,
    MahalanobisScorer,
)
from skasd.ensemble import ACPEnsemble, DevelopmentOverlapWarning
from skasd.metrics import make_dcase_scorer, official_score
from skasd.scoring import BaseScorer


class ColumnScorer(BaseScorer):
    """Anomaly score = one column of X: a member whose quality the test sets by construction."""

    def __init__(self, column=0, contamination=0.1):
        self.column = column
        self.contamination = contamination

    def fit(self, X, y=None):
        X = validate_data(self, X)
        self._set_offset(X[:, self.column])
        return self

    def score_samples(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return -X[:, self.column]


class BrokenScorer(ColumnScorer):
    """Scores with NaN, or one score too few."""

    def __init__(self, column=0, contamination=0.1, failure="nan"):
        super().__init__(column=column, contamination=contamination)
        self.failure = failure

    def score_samples(self, X):
        scores = super().score_samples(X).astype(float)
        if self.failure == "nan":
            scores[1] = np.nan
            return scores
        return scores[:-1]


def perfect_and_noise(seed, n_normal=40, n_anomalous=40, gap=0.1):
    """Column 0 ranks every anomaly above every normal clip; columns 1 and 2 are noise."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_normal), np.ones(n_anomalous)].astype(int)
    perfect = np.where(y == 1, rng.uniform(1 + gap, 2 + gap, len(y)), rng.uniform(0, 1, len(y)))
    X = np.column_stack([perfect, rng.normal(size=len(y)), rng.normal(size=len(y))])
    domain = np.array(["source", "target"] * (len(y) // 2))
    return X, y, domain


def column_ensemble(**params):
    members = [("perfect", ColumnScorer(column=0)), ("noise_a", ColumnScorer(column=1)), ("noise_b", ColumnScorer(column=2))]
    return ACPEnsemble(members, **params)


@pytest.fixture(scope="module")
def features():
    """Training normals, and a development and a held-out split of normals and anomalies, in 3-D."""
    rng = np.random.default_rng(0)

    def split(n_normal, n_anomalous):
        X = np.vstack([rng.normal(size=(n_normal, 3)), rng.normal(2.5, 1.0, size=(n_anomalous, 3))])
        y = np.r_[np.zeros(n_normal), np.ones(n_anomalous)].astype(int)
        return X, y, np.array(["source", "target"] * ((n_normal + n_anomalous) // 2))

    return {"train": rng.normal(size=(80, 3)), "dev": split(30, 20), "held_out": split(30, 20)}


def small_ensemble(**params):
    return ACPEnsemble(
        [("knn", KNNScorer(metric="sqeuclidean")), ("density", LocalDensityKNNScorer(metric="mse")),
         ("gauss", MahalanobisScorer())],
        **{"n_iter": 30, "random_state": 0, **params},
    )


# -- the search -------------------------------------------------------------


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**31 - 1),
    step=st.floats(1e-3, 2.0),
    decay=st.floats(0.5, 1.0),
    n_iter=st.integers(0, 25),
)
def test_weights_stay_on_the_simplex(seed, step, decay, n_iter):
    X, y, domain = perfect_and_noise(1)
    ensemble = column_ensemble(n_iter=n_iter, step=step, decay=decay, random_state=seed).fit(X[y == 0])
    ensemble.search_weights(X, y, domain=domain)
    history = ensemble.history_
    for weights in (ensemble.weights_, *history["weights"], *history["candidate_weights"][~np.isnan(history["candidate_score"])]):
        assert (weights >= 0).all()
        assert weights.sum() == pytest.approx(1.0)
    assert len(history["score"]) == n_iter + 1
    assert (np.diff(history["score"]) >= 0).all(), "the best score never decreases"
    assert ensemble.dev_score_ == history["score"][-1]
    np.testing.assert_allclose(history["step"][1:], step * decay ** np.arange(n_iter))
    accepted = history["accepted"]
    np.testing.assert_array_equal(history["weights"][accepted], history["candidate_weights"][accepted])


def test_search_is_reproducible_with_a_seed():
    X, y, domain = perfect_and_noise(2)

    def search(seed):
        return column_ensemble(n_iter=40, random_state=seed).fit(X[y == 0]).search_weights(X, y, domain=domain)

    first, again, other = search(7), search(7), search(8)
    for key in first.history_:
        np.testing.assert_array_equal(first.history_[key], again.history_[key])
    np.testing.assert_array_equal(first.weights_, again.weights_)
    assert not np.array_equal(first.history_["candidate_weights"], other.history_["candidate_weights"])
    # search_weights draws from a fresh generator each time: searching again repeats the search.
    np.testing.assert_array_equal(first.search_weights(X, y, domain=domain).weights_, again.weights_)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_acp_puts_most_weight_on_the_perfect_member(seed):
    X, y, domain = perfect_and_noise(seed)
    ensemble = column_ensemble(n_iter=200, random_state=seed).fit(X[y == 0])
    ensemble.search_weights(X, y, domain=domain)
    assert ensemble.member_dev_scores_["perfect"] == pytest.approx(1.0)
    assert ensemble.weights_[0] > 0.5
    assert ensemble.weights_[0] == ensemble.weights_.max()
    uniform = ensemble.history_["score"][0]
    assert uniform < 1.0 and ensemble.dev_score_ == pytest.approx(1.0)


def test_uniform_and_best_single_weighting():
    X, y, domain = perfect_and_noise(3)
    uniform = column_ensemble(weighting="uniform").fit(X[y == 0]).search_weights(X, y, domain=domain)
    np.testing.assert_allclose(uniform.weights_, np.full(3, 1 / 3))
    assert len(uniform.history_["score"]) == 1
    best = column_ensemble(weighting="best_single").fit(X[y == 0]).search_weights(X, y, domain=domain)
    np.testing.assert_array_equal(best.weights_, [1.0, 0.0, 0.0])
    assert best.dev_score_ == best.member_dev_scores_["perfect"]
    assert list(best.member_dev_scores_) == ["perfect", "noise_a", "noise_b"]


def test_init_weights_start_the_search():
    X, y, domain = perfect_and_noise(4)
    ensemble = column_ensemble(init=[0.0, 2.0, 2.0], n_iter=0).fit(X[y == 0])
    np.testing.assert_allclose(ensemble.weights_, [0.0, 0.5, 0.5])
    ensemble.search_weights(X, y, domain=domain)
    np.testing.assert_allclose(ensemble.weights_, [0.0, 0.5, 0.5])


def test_scoring_options():
    X, y, domain = perfect_and_noise(5)
    by_auc = column_ensemble(scoring="auc", weighting="uniform").fit(X[y == 0]).search_weights(X, y)
    calls = []

    def metric(y_true, anomaly_score, **metadata):
        calls.append(sorted(metadata))
        return official_score(y_true, anomaly_score, **metadata)

    custom = column_ensemble(scoring=metric, weighting="uniform").fit(X[y == 0])
    custom.search_weights(X, y, domain=domain, machine=np.full(len(y), "fan"))
    assert calls and all(keys == ["domain", "machine"] for keys in calls)
    default = column_ensemble(weighting="uniform").fit(X[y == 0]).search_weights(X, y, domain=domain)
    assert custom.dev_score_ == pytest.approx(default.dev_score_)
    assert 0.5 < by_auc.dev_score_ <= 1.0


# -- the fusion ---------------------------------------------------------------


def test_fused_score_is_the_weighted_sum_of_standardised_member_scores(features):
    X_dev, y_dev, domain_dev = features["dev"]
    X_new = features["held_out"][0]
    ensemble = small_ensemble().fit(features["train"]).search_weights(X_dev, y_dev, domain=domain_dev)
    raw_dev = np.column_stack([-member.score_samples(X_dev) for member in ensemble.estimators_])
    mean, std = raw_dev[y_dev == 0].mean(axis=0), raw_dev[y_dev == 0].std(axis=0)
    raw_new = np.column_stack([-member.score_samples(X_new) for member in ensemble.estimators_])
    by_hand = ((raw_new - mean) / std) @ ensemble.weights_
    np.testing.assert_allclose(ensemble.anomaly_score(X_new), by_hand, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ensemble.score_samples(X_new), -by_hand, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ensemble.member_anomaly_scores(X_new), (raw_new - mean) / std)
    np.testing.assert_allclose(ensemble.member_anomaly_scores(X_new, standardized=False), raw_new)
    np.testing.assert_allclose(ensemble.decision_function(X_new), -by_hand - ensemble.offset_)
    # offset_: the contamination quantile of the development normals' fused scores.
    normal_scores = -(((raw_dev[y_dev == 0] - mean) / std) @ ensemble.weights_)
    assert ensemble.offset_ == pytest.approx(np.percentile(normal_scores, 10))
    assert ensemble.calibrated_on_ == "dev"
    assert list(ensemble.member_names_) == ["knn", "density", "gauss"]


def test_each_clip_is_scored_on_its_own(features):
    X_dev, y_dev, domain_dev = features["dev"]
    X_new = features["held_out"][0]
    ensemble = small_ensemble().fit(features["train"]).search_weights(X_dev, y_dev, domain=domain_dev)
    together = ensemble.anomaly_score(X_new)
    one_by_one = np.concatenate([ensemble.anomaly_score(X_new[i : i + 1]) for i in range(len(X_new))])
    np.testing.assert_array_equal(together, one_by_one)  # to the last bit: skasd score sees one clip at a time


def test_fused_scores_do_not_depend_on_the_clips_scored_beside(features):
    # Member scores of very different scales: a matrix-vector product rounds them differently for 500 rows than for
    # one (124 of these 500 clips moved in their last bit).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3)) * np.array([1e3, 1.0, 1e-3])
    ensemble = column_ensemble(standardize="fit", weighting="uniform").fit(X)
    ensemble.weights_ = rng.uniform(size=3)
    together = ensemble.anomaly_score(X)
    np.testing.assert_array_equal(together, [ensemble.anomaly_score(X[i : i + 1])[0] for i in range(len(X))])


def test_fit_calibration_options(features):
    X = features["train"]
    in_sample = small_ensemble(standardize="fit").fit(X)
    # A nearest-neighbour member scores its own references ~0: a useless scale ...
    assert in_sample.score_scale_[0] < 1e-3
    # ... which out-of-fold scores fix.
    out_of_fold = small_ensemble(standardize="fit", cv=3).fit(X)
    assert out_of_fold.score_scale_[0] > 0.1
    assert out_of_fold.calibrated_on_ == "fit"
    raw = small_ensemble(standardize=None).fit(X)
    np.testing.assert_array_equal(raw.score_scale_, np.ones(3))
    assert raw.calibrated_on_ is None
    # "fit" statistics stay when the weights are searched.
    X_dev, y_dev, domain_dev = features["dev"]
    mean = out_of_fold.score_mean_.copy()
    out_of_fold.search_weights(X_dev, y_dev, domain=domain_dev)
    np.testing.assert_array_equal(out_of_fold.score_mean_, mean)


def test_out_of_fold_statistics_use_fixed_interleaved_folds(features):
    # 10 clips, cv=5: folds of 2 that a shuffle would redraw with every seed, moving the statistics.
    X = features["train"][:10]
    members = [("knn", KNNScorer(metric="sqeuclidean")), ("gauss", MahalanobisScorer())]
    fitted = [ACPEnsemble(members, standardize="fit", cv=5, random_state=seed).fit(X) for seed in (0, 1, 2)]
    for other in fitted[1:]:
        np.testing.assert_array_equal(other.score_mean_, fitted[0].score_mean_)
        np.testing.assert_array_equal(other.score_scale_, fitted[0].score_scale_)
        assert other.offset_ == fitted[0].offset_
    # By hand: clip i is held out in fold i % 5, scored by members fitted on the other 8 clips.
    raw = np.empty((10, 2))
    for fold in range(5):
        held_out = np.arange(10) % 5 == fold
        for column, (_, member) in enumerate(members):
            raw[held_out, column] = -clone(member).fit(X[~held_out]).score_samples(X[held_out])
    np.testing.assert_allclose(fitted[0].score_mean_, raw.mean(axis=0))
    np.testing.assert_allclose(fitted[0].score_scale_, raw.std(axis=0))


def test_fit_predict_labels_training_clips_out_of_fold(features):
    X = np.vstack([features["train"], [[6.0, 6.0, 6.0]]])  # one outlier among the training clips
    labels = small_ensemble(standardize="fit", cv=3, contamination=0.05, novelty=False).fit_predict(X)
    assert labels[-1] == -1
    assert np.mean(labels == -1) == pytest.approx(0.05, abs=0.02)
    # In-sample, the nearest-neighbour members find every training clip at distance 0.
    ensemble = small_ensemble(standardize="fit", cv=3, contamination=0.05).fit(X)
    assert (ensemble.predict(X[:-1]) == 1).all()
    # Without cv, the labels are the in-sample ones.
    in_sample = small_ensemble(standardize="fit")
    np.testing.assert_array_equal(
        clone(in_sample).set_params(novelty=False).fit_predict(X), in_sample.fit(X).predict(X)
    )


def test_prefit_members_are_used_as_they_are(features):
    X, calibration = features["train"][:50], features["train"][50:]
    knn, gauss = KNNScorer(metric="sqeuclidean").fit(X), MahalanobisScorer().fit(X)
    ensemble = ACPEnsemble([("knn", knn), ("gauss", gauss)], prefit=True, standardize="fit").fit(calibration)
    assert ensemble.estimators_[0] is knn and ensemble.estimators_[1] is gauss
    raw = np.column_stack([-knn.score_samples(calibration), -gauss.score_samples(calibration)])
    np.testing.assert_allclose(ensemble.score_mean_, raw.mean(axis=0))
    np.testing.assert_allclose(ensemble.score_scale_, raw.std(axis=0))
    with pytest.raises(NotFittedError, match="member 'gauss' is not fitted"):
        ACPEnsemble([("knn", knn), ("gauss", MahalanobisScorer())], prefit=True).fit(calibration)


def test_fit_again_forgets_the_search(features):
    X_dev, y_dev, domain_dev = features["dev"]
    ensemble = small_ensemble().fit(features["train"]).search_weights(X_dev, y_dev, domain=domain_dev)
    ensemble.fit(features["train"])
    assert not hasattr(ensemble, "history_") and not hasattr(ensemble, "dev_score_")
    np.testing.assert_allclose(ensemble.weights_, np.full(3, 1 / 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DevelopmentOverlapWarning)
        ensemble.anomaly_score(X_dev)


# -- scoring the development clips again ----------------------------------------


def test_scoring_development_clips_warns(features):
    X_dev, y_dev, domain_dev = features["dev"]
    X_new = features["held_out"][0]
    ensemble = small_ensemble().fit(features["train"]).search_weights(X_dev, y_dev, domain=domain_dev)
    for method in ("anomaly_score", "score_samples", "decision_function", "predict", "member_anomaly_scores"):
        with pytest.warns(DevelopmentOverlapWarning, match="50 of the 50 clips passed to ACPEnsemble"):
            getattr(ensemble, method)(X_dev)
    mixed = np.vstack([X_new[:10], X_dev[:3]])
    with pytest.warns(DevelopmentOverlapWarning, match="3 of the 13 clips"):
        ensemble.anomaly_score(mixed)
    with pytest.warns(DevelopmentOverlapWarning):
        ensemble.anomaly_score(X_dev.tolist())  # the same clips as a list
    with warnings.catch_warnings():
        warnings.simplefilter("error", DevelopmentOverlapWarning)
        ensemble.anomaly_score(X_new)
    restored = pickle.loads(pickle.dumps(ensemble))
    with pytest.warns(DevelopmentOverlapWarning):
        restored.anomaly_score(X_dev)
    assert issubclass(DevelopmentOverlapWarning, UserWarning)


# -- composition ------------------------------------------------------------------


def test_params_reach_the_members_and_clone_is_clean(features):
    ensemble = ACPEnsemble([("knn", make_pipeline(StandardScaler(), KNNScorer())), ("gauss", MahalanobisScorer())])
    params = ensemble.get_params(deep=True)
    assert params["knn__knnscorer__n_neighbors"] == 1
    assert params["gauss__center"] == MahalanobisScorer().center
    assert "knn" in params and "estimators" in params
    ensemble.set_params(knn__knnscorer__n_neighbors=3, gauss__center="mean", n_iter=7)
    assert ensemble.named_estimators["knn"][-1].n_neighbors == 3
    assert ensemble.named_estimators["gauss"].center == "mean"
    ensemble.set_params(gauss=KNNScorer(metric="sqeuclidean"))
    assert isinstance(ensemble.named_estimators["gauss"], KNNScorer)

    ensemble.fit(features["train"])
    copy = clone(ensemble)
    assert not hasattr(copy, "estimators_")
    assert copy.get_params(deep=False)["n_iter"] == 7
    assert copy.named_estimators["knn"][-1].n_neighbors == 3
    assert copy.named_estimators["knn"] is not ensemble.named_estimators["knn"]
    assert ensemble.named_estimators_["knn"] is not ensemble.named_estimators["knn"], "members are fitted as clones"
    with pytest.raises(NotFittedError):
        check_is_fitted(ensemble.named_estimators["knn"])


def test_grid_search_tunes_a_member_parameter(features):
    X_dev, y_dev, domain_dev = features["dev"]
    X = np.vstack([features["train"], X_dev])
    y = np.r_[np.zeros(len(features["train"]), int), y_dev]
    domain = np.r_[np.full(len(features["train"]), "source"), domain_dev]
    test_fold = np.r_[np.full(len(features["train"]), -1), np.zeros(len(y_dev), int)]
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            small_ensemble(standardize="fit", cv=3),
            {"knn__n_neighbors": [1, 5], "standardize": ["fit", None]},
            scoring=make_dcase_scorer().set_score_request(domain=True),
            cv=PredefinedSplit(test_fold),
        )
        search.fit(X, y, domain=domain)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.named_estimators_["knn"].n_neighbors in (1, 5)
    assert 0.5 < search.best_score_ <= 1.0


# -- metadata routing ---------------------------------------------------------


def domain_data(seed=0, n_source=40, n_target=4):
    rng = np.random.default_rng(seed)
    X = np.abs(rng.normal(size=(n_source + n_target, 4))) + 0.1
    return X, np.r_[np.full(n_source, "source"), np.full(n_target, "target")]


def test_fit_metadata_is_routed_to_the_members():
    X, domain = domain_data()
    with sklearn.config_context(enable_metadata_routing=True):
        kmeans = make_pipeline(StandardScaler(), KMeansCosineScorer(n_clusters=3, random_state=0, n_init=2))
        kmeans[-1].set_fit_request(domain=True)
        ensemble = ACPEnsemble([("kmeans", kmeans), ("knn", KNNScorer())], n_iter=5)
        ensemble.fit(X, domain=domain)
        routing = ensemble.get_metadata_routing()
        assert "kmeans" in str(routing)
    fitted = ensemble.named_estimators_["kmeans"][-1]
    # The 4 target clips are kept as their own centres beside 3 source centres.
    assert len(fitted.cluster_centers_) == 3 + 4
    assert fitted.n_source_centers_ == 3


def test_fit_metadata_without_routing():
    X, domain = domain_data()
    # A bare member whose fit names the parameter gets it ...
    ensemble = ACPEnsemble([("kmeans", KMeansCosineScorer(n_clusters=3, random_state=0, n_init=2)), ("knn", KNNScorer())])
    ensemble.fit(X, domain=domain)
    assert len(ensemble.named_estimators_["kmeans"].cluster_centers_) == 3 + 4
    # ... a pipeline does not: a clear error pointing to routing.
    pipeline = make_pipeline(StandardScaler(), KMeansCosineScorer(n_clusters=3, n_init=2))
    with pytest.raises(ValueError, match=r"fit got \['domain'\], which no member's fit takes.*metadata routing"):
        ACPEnsemble([("kmeans", pipeline), ("knn", KNNScorer())]).fit(X, domain=domain)
    with pytest.raises(ValueError, match="with prefit=True"):
        members = [("knn", KNNScorer().fit(X)), ("kmeans", KMeansCosineScorer(n_init=2).fit(X))]
        ACPEnsemble(members, prefit=True).fit(X, domain=domain)


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "estimators, message",
    [
        ([], "estimators is empty"),
        ([("a", KNNScorer()), ("a", MahalanobisScorer())], r"duplicate names \['a'\]"),
        ([("a__b", KNNScorer())], "must not contain '__'"),
        ([("n_iter", KNNScorer())], r"\['n_iter'\] clash with ACPEnsemble's own parameters"),
        ([("a", StandardScaler())], "member 'a' \\(StandardScaler\\) has no fit and score_samples"),
        ([KNNScorer()], "must hold \\(name, estimator\\) tuples"),
    ],
)
def test_bad_member_lists(estimators, message, features):
    with pytest.raises(ValueError, match=message):
        ACPEnsemble(estimators).fit(features["train"])


def test_a_development_set_of_one_class(features):
    X_dev, y_dev, domain_dev = features["dev"]
    ensemble = small_ensemble().fit(features["train"])
    with pytest.raises(ValueError, match=r"y has a single class \(all 30 development clips are normal\)"):
        ensemble.search_weights(X_dev[y_dev == 0], y_dev[y_dev == 0], domain=domain_dev[y_dev == 0])
    with pytest.raises(ValueError, match="y must hold 1 \\(anomalous\\) and 0 \\(normal\\) only; found \\[2\\]"):
        ensemble.search_weights(X_dev, np.where(y_dev == 1, 2, 0), domain=domain_dev)
    with pytest.raises(ValueError, match="needs domain"):
        ensemble.search_weights(X_dev, y_dev)
    with pytest.raises(ValueError, match="one label per development clip"):
        ensemble.search_weights(X_dev, y_dev[:-1], domain=domain_dev)


@pytest.mark.parametrize(
    "failure, message",
    [
        ("nan", r"member 'broken' produced 1 NaN or infinite score\(s\) of 80 \(rows \[1\]\)"),
        ("short", r"different lengths \{'ok': 80, 'broken': 79\} for X of 80 clips"),
    ],
)
def test_members_scoring_badly(failure, message, features):
    ensemble = ACPEnsemble([("ok", ColumnScorer()), ("broken", BrokenScorer(failure=failure))])
    with pytest.raises(ValueError, match=message):
        ensemble.fit(features["train"])


def test_bad_init_and_parameters(features):
    with pytest.raises(ValueError, match=r"init has shape \(2,\); expected one weight per member, \(3,\)"):
        small_ensemble(init=[0.5, 0.5]).fit(features["train"])
    with pytest.raises(ValueError, match="init must hold finite non-negative weights"):
        small_ensemble(init=[1.0, -1.0, 0.5]).fit(features["train"])
    with pytest.raises(ValueError, match="'weighting' parameter"):
        small_ensemble(weighting="best").fit(features["train"])
    with pytest.raises(ValueError, match="'decay' parameter"):
        small_ensemble(decay=1.5).fit(features["train"])


def test_unfitted_ensemble_refuses_to_score(features):
    with pytest.raises(NotFittedError):
        small_ensemble().anomaly_score(features["train"])
    with pytest.raises(NotFittedError):
        small_ensemble().search_weights(*features["dev"][:2])
