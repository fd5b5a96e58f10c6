"""The decision threshold of every scorer: empirical percentile or fitted gamma quantile."""

import re

import numpy as np
import pytest
import scipy.stats
from sklearn.base import clone

from skasd import (
    ACPEnsemble,
    DomainStandardizedScorer,
    KMeansCosineScorer,
    KNNScorer,
    LocalDensityKNNScorer,
    MahalanobisScorer,
)
from skasd.scoring._threshold import training_offset


def _gamma_quantile(scores, q):
    """The DCASE baselines' rule, from scipy itself: fit shape, location and scale, take the quantile."""
    shape, loc, scale = scipy.stats.gamma.fit(scores)
    return scipy.stats.gamma.ppf(q, shape, loc=loc, scale=scale)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("contamination", [0.1, 0.05, 0.3])
def test_gamma_threshold_is_the_fitted_quantile(contamination):
    scores = np.random.default_rng(0).gamma(3.0, 0.5, size=400) + 1.0
    assert -training_offset(scores, contamination, "gamma") == pytest.approx(
        _gamma_quantile(scores, 1 - contamination), rel=1e-12
    )
    # The percentile is the empirical quantile, as before.
    assert -training_offset(scores, contamination) == pytest.approx(np.quantile(scores, 1 - contamination), rel=1e-12)


def test_gamma_threshold_of_equal_scores_falls_back_to_the_percentile():
    message = (
        "threshold='gamma': all training scores are equal among the 20 training clips; the threshold is "
        "their empirical 90th percentile instead."
    )
    with pytest.warns(UserWarning, match=f"^{re.escape(message)}$"):
        assert training_offset(np.full(20, 0.25), 0.1, "gamma") == -0.25


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_mahalanobis_scorer_decides_at_the_gamma_quantile_of_its_training_scores():
    X = np.random.default_rng(1).normal(size=(300, 4))
    percentile = MahalanobisScorer(contamination=0.1).fit(X)
    gamma = MahalanobisScorer(contamination=0.1, threshold="gamma").fit(X)
    # The training clips' anomaly scores (squared distances) are the same either way.
    training_scores = percentile.anomaly_score(X)
    np.testing.assert_allclose(gamma.anomaly_score(X), training_scores)
    assert -gamma.offset_ == pytest.approx(_gamma_quantile(training_scores, 0.9), rel=1e-9)
    assert -percentile.offset_ == pytest.approx(np.quantile(training_scores, 0.9), rel=1e-12)
    # One threshold for all clips: predict compares every score with it.
    np.testing.assert_array_equal(gamma.predict(X), np.where(training_scores > -gamma.offset_, -1, 1))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_knn_scorer_fits_the_gamma_to_the_leave_one_out_scores():
    X = np.random.default_rng(2).normal(size=(150, 3))
    scorer = KNNScorer(metric="sqeuclidean", threshold="gamma").fit(X)
    distances = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(distances, np.inf)
    leave_one_out = distances.min(axis=1)
    assert -scorer.offset_ == pytest.approx(_gamma_quantile(leave_one_out, 0.9), rel=1e-3)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "scorer",
    [
        KNNScorer(),
        LocalDensityKNNScorer(),
        KMeansCosineScorer(n_clusters=4, random_state=0),
        MahalanobisScorer(),
        DomainStandardizedScorer(),
        ACPEnsemble([("knn", KNNScorer()), ("gauss", MahalanobisScorer())], weighting="uniform"),
    ],
    ids=lambda scorer: type(scorer).__name__,
)
@pytest.mark.filterwarnings("ignore:No domain was given to:UserWarning")
def test_every_scorer_takes_the_threshold(scorer):
    X = np.random.default_rng(3).normal(size=(120, 5)) + 1.0
    percentile = clone(scorer).fit(X)
    gamma = clone(scorer).set_params(threshold="gamma").fit(X)
    # Only the threshold moves: the scores are the same.
    np.testing.assert_allclose(gamma.score_samples(X), percentile.score_samples(X))
    assert gamma.offset_ != percentile.offset_
    with pytest.raises(ValueError, match="The 'threshold' parameter of"):
        clone(scorer).set_params(threshold="median").fit(X)
