"""The outlier-estimator contract every skasd scorer follows."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted


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
    clips would be called outliers: the DCASE baseline systems decide at the
    90th percentile of the training scores, which ``contamination=0.1``
    reproduces.
    """

    _parameter_constraints: dict = {
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
    }

    def _set_offset(self, training_anomaly_scores):
        self.offset_ = float(np.percentile(-np.asarray(training_anomaly_scores, dtype=np.float64), 100.0 * self.contamination))

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
