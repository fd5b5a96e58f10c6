"""The outlier-estimator contract every skasd scorer follows."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._threshold import THRESHOLDS, training_offset


class BaseScorer(OutlierMixin, BaseEstimator):
    """Base class of skasd's scorers: scikit-learn's outlier-detector signs.

    Subclasses implement ``fit`` (which must end by calling
    :meth:`_set_offset` with the anomaly scores of the training clips, as
    scored without themselves among the references where that matters) and
    ``score_samples`` (higher is more normal). This class derives the rest:

    - ``anomaly_score(X) = -score_samples(X)``: higher is more anomalous,
      the DCASE convention, what :mod:`skasd.metrics` consumes;
    - ``decision_function(X) = score_samples(X) - offset_``: negative for
      outliers;
    - ``predict(X)``: -1 for outliers, +1 for inliers.

    ``offset_`` is set so that a fraction ``contamination`` of the training
    clips would be called outliers: with ``threshold="percentile"``, at the
    empirical ``1 - contamination`` quantile of their anomaly scores; with
    ``threshold="gamma"``, at that quantile of a gamma distribution fitted
    to them, as the DCASE baseline systems decide (``contamination=0.1``:
    their 0.9 quantile).

    Scorers whose ``fit_predict`` labels each training clip without itself
    (leave-one-out, or out of fold) have a ``novelty`` parameter, as
    :class:`~sklearn.neighbors.LocalOutlierFactor`: scored against
    references that include it, a training clip would look normal whatever
    it is, so ``fit(X).predict(X)`` and those labels differ. With
    ``novelty=True`` (skasd's default: learn from normal clips, score new
    ones) the scoring methods are available and ``fit_predict`` is not;
    with ``novelty=False`` only ``fit_predict`` is. Either way
    ``fit_predict(X)`` means ``fit(X).predict(X)`` wherever both exist.
    Decorate such a subclass's ``score_samples`` with
    ``available_if(BaseScorer._scoring_available)`` and its ``fit_predict``
    with ``available_if(BaseScorer._fit_predict_available)``.
    """

    _parameter_constraints: dict = {
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "threshold": [StrOptions(set(THRESHOLDS))],
    }

    def _scoring_available(self):
        """Whether new clips may be scored: always, or with ``novelty=True`` where there is the flag."""
        if getattr(self, "novelty", True):
            return True
        raise AttributeError(
            f"{type(self).__name__} scores new clips only with novelty=True; with novelty=False, "
            "use fit_predict to label the training clips."
        )

    def _fit_predict_available(self):
        """Whether ``fit_predict`` (labels of the training clips, each left out) is offered."""
        if not self.novelty:
            return True
        raise AttributeError(
            f"fit_predict is not available when novelty=True: {type(self).__name__}.fit(X).predict(X) "
            "would score each training clip against references that include it. Use novelty=False "
            "to label the training clips, each scored without itself."
        )

    def _set_offset(self, training_anomaly_scores):
        self.offset_ = training_offset(
            training_anomaly_scores, self.contamination, getattr(self, "threshold", "percentile")
        )

    @available_if(_scoring_available)
    def decision_function(self, X):
        """Shifted opposite of the anomaly score: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings.

        Returns
        -------
        decision : ndarray of shape (n_clips,)
            ``score_samples(X) - offset_``.
        """
        check_is_fitted(self)
        return self.score_samples(X) - self.offset_

    @available_if(_scoring_available)
    def predict(self, X):
        """-1 for clips judged anomalous, +1 for normal ones.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings.

        Returns
        -------
        labels : ndarray of shape (n_clips,)
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    @available_if(_scoring_available)
    def anomaly_score(self, X):
        """Anomaly scores, higher for more anomalous clips: ``-score_samples(X)``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings.

        Returns
        -------
        scores : ndarray of shape (n_clips,)
        """
        return -self.score_samples(X)
