"""Mahalanobis distance to a robust centre: the SCAN anomaly score."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._base import BaseScorer

__all__ = ["MahalanobisScorer", "geometric_median"]

_COVARIANCE_ESTIMATORS = {
    "ledoit_wolf": LedoitWolf,
    "oas": OAS,
    "empirical": EmpiricalCovariance,
}


@validate_params(
    {
        "X": ["array-like"],
        "weights": ["array-like", None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "return_n_iter": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def geometric_median(X, *, weights=None, max_iter=500, tol=1e-10, return_n_iter=False):
    """Geometric median of points: the point minimising the sum of distances.

    Solves ``argmin_y sum_i w_i ||x_i - y||`` (eq. 3 of the SCAN paper) by
    Weiszfeld's iteration, started at the weighted mean: each step moves to
    the average of the points weighted by ``w_i / ||x_i - y||``.

    Plain Weiszfeld divides by zero when an iterate lands on a data point.
    This function uses the modification of Vardi and Zhang (2000), which
    converges to the geometric median from any start: when the iterate ``y``
    coincides with data points of total weight ``eta``, it computes the
    resultant ``R = sum_{x_i != y} w_i (x_i - y) / ||x_i - y||`` of the other
    points. If ``||R|| <= eta``, ``y`` satisfies the optimality condition and
    is returned (a data point *is* the geometric median, e.g. the middle
    point in 1-D with an odd number of points). Otherwise the step
    ``y <- (1 - eta / ||R||) T(y) + (eta / ||R||) y`` moves away from the
    point, where ``T(y)`` is the Weiszfeld step over the other points.
    Duplicated points are handled the same way (their weights add up).
    A point counts as coinciding with ``y`` when its distance is below
    ``1e-12`` times the data's spread (plus a floating-point margin).
    Since Weiszfeld's iterates approach a median that is a data point only
    slowly, without landing on it, the optimality condition is also tested,
    once per point, at the data point nearest to each iterate; a point that
    satisfies it (up to ``tol`` times the total weight, and rounding) is
    returned exactly.

    Convergence is linear, and slow when the median lies very close to (but
    not on) a data point that carries much weight; a
    :class:`~sklearn.exceptions.ConvergenceWarning` then says so. For
    embeddings in general position the iteration converges in a few steps.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
        The points, finite. Converted to float64.
    weights : array-like of shape (n_points,), default=None
        Non-negative weight of each point; ``None`` weighs all equally.
        Points of weight 0 are ignored; at least one weight must be positive.
    max_iter : int, default=500
        Maximum number of iterations. A :class:`~sklearn.exceptions.ConvergenceWarning`
        is issued when it is reached before convergence.
    tol : float, default=1e-10
        Stop when a step moves the estimate by less than ``tol`` times the
        root-mean-square distance of the points to their weighted mean, a
        stopping rule that does not depend on the data's location, rotation
        or scale.
    return_n_iter : bool, default=False
        Whether to return the number of iterations too.

    Returns
    -------
    median : ndarray of shape (n_features,)
        The geometric median, float64. In 1-D it is a median of the points
        (any point between the two middle ones minimises the sum when their
        number is even).
    n_iter : int
        Number of iterations run; returned only when ``return_n_iter=True``.

    See Also
    --------
    MahalanobisScorer : Mahalanobis distance to the geometric median.

    References
    ----------
    .. [1] Z. Liu, Y. Hou, W. Wang, S. Michiels and D. Hughes, "SCAN: Selective
       Contrastive Learning Against Noisy Data for Acoustic Anomaly
       Detection", eq. 3.
    .. [2] E. Weiszfeld and F. Plastria, "On the point for which the sum of the
       distances to n given points is minimum", Ann. Oper. Res. 167, 2009.
    .. [3] Y. Vardi and C.-H. Zhang, "The multivariate L1-median and
       associated data depth", PNAS 97(4), 2000.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.scoring import geometric_median
    >>> X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0], [100.0, 100.0]])
    >>> X.mean(axis=0)  # dragged far away by the outlier
    array([20.8, 20.8])
    >>> geometric_median(X).round(4)  # barely moved: 1 + 1 / sqrt(3)
    array([1.5774, 1.5774])
    """
    X = check_array(X, dtype=np.float64, ensure_min_samples=1, input_name="X")
    w = _check_sample_weight(weights, X, dtype=np.float64, ensure_non_negative=True)
    if weights is not None:  # _check_sample_weight made sure one is positive
        X, w = X[w > 0], w[w > 0]

    y = np.average(X, axis=0, weights=w)
    scale = np.sqrt(np.average(np.sum((X - y) ** 2, axis=1), weights=w))
    if scale == 0.0:  # all points coincide
        return (y, 0) if return_n_iter else y
    # Distances below this count as "the iterate is on this point". The second
    # term covers rounding in X - y for data far from the origin.
    coincident = 1e-12 * scale + 32 * np.finfo(np.float64).eps * np.max(np.abs(X))
    slack = (tol + 64 * np.finfo(np.float64).eps) * w.sum()

    checked = set()
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        distances = np.linalg.norm(X - y, axis=1)
        # Near a data point that is the median, Weiszfeld converges slowly and
        # never lands on it: test the nearest point's optimality, once each.
        nearest = int(np.argmin(distances))
        if nearest not in checked:
            checked.add(nearest)
            if _optimal_data_point(X, w, X[nearest], coincident, slack):
                y = X[nearest].copy()
                break
        on_point = distances <= coincident
        eta = w[on_point].sum()
        others = ~on_point
        inverse = w[others] / distances[others]
        step_target = inverse @ X[others] / inverse.sum()
        if eta > 0:  # y is on a data point, not optimal (else it was returned)
            resultant = np.linalg.norm(inverse @ (X[others] - y))
            new_y = (1.0 - eta / resultant) * step_target + (eta / resultant) * y
        else:
            new_y = step_target
        moved = np.linalg.norm(new_y - y)
        y = new_y
        if moved <= tol * scale:
            break
    else:
        warnings.warn(
            f"geometric_median: Weiszfeld's iteration did not converge in "
            f"max_iter={max_iter} iterations; increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return (y, n_iter) if return_n_iter else y


def _optimal_data_point(X, w, point, coincident, slack):
    """Whether ``point``, one of the rows of X, is a geometric median of them.

    The optimality condition at a data point (Vardi and Zhang): the resultant
    of the weighted unit vectors towards the other points is no longer than
    the weight on the point itself (plus ``slack``, for rounding and for
    points within about ``tol`` of optimal, where Weiszfeld crawls).
    """
    distances = np.linalg.norm(X - point, axis=1)
    on_point = distances <= coincident
    others = ~on_point
    if not others.any():
        return True
    resultant = np.linalg.norm((w[others] / distances[others]) @ (X[others] - point))
    return resultant <= w[on_point].sum() + slack


class MahalanobisScorer(BaseScorer):
    """Squared Mahalanobis distance to the geometric median of the references.

    The anomaly score of an embedding ``z`` is (eq. 4 of SCAN [1]_)

    ``(z - mu)^T Sigma^{-1} (z - mu)``

    where ``mu`` is the geometric median of the reference embeddings (eq. 3,
    :func:`geometric_median`), or their mean, and ``Sigma`` their covariance
    around ``mu``, estimated with scikit-learn's
    :class:`~sklearn.covariance.LedoitWolf`, :class:`~sklearn.covariance.OAS`
    or :class:`~sklearn.covariance.EmpiricalCovariance` on the references
    minus ``mu`` (``assume_centered=True``). Shrinkage keeps ``Sigma``
    invertible when there are fewer references than dimensions; the
    empirical covariance then uses a pseudo-inverse.

    ``score_samples`` is the *negative* squared distance (higher is more
    normal) and ``anomaly_score`` the squared distance itself. ``offset_``
    comes from the training clips' own (in-sample) distances: a fraction
    ``contamination`` of them lies beyond it. Inputs are converted to
    float64; scores are float64.

    Parameters
    ----------
    center : {"geometric_median", "mean"}, default="geometric_median"
        The centre ``mu``: the geometric median, robust to anomalous clips
        among the references (SCAN), or the mean (SCAN's "w/ mean" ablation,
        the classical Mahalanobis distance).
    covariance : {"ledoit_wolf", "oas", "empirical"}, default="ledoit_wolf"
        The covariance estimator.
    max_iter : int, default=500
        Maximum number of Weiszfeld iterations (``center="geometric_median"``).
    tol : float, default=1e-10
        Relative tolerance of the Weiszfeld iteration; see :func:`geometric_median`.
    contamination : float in (0, 0.5], default=0.1
        Fraction of training clips ``predict`` would call anomalous.
    threshold : {"percentile", "gamma"}, default="percentile"
        The quantile that sets ``offset_``: empirical, or of a fitted gamma
        distribution (see :class:`KNNScorer`).

    Attributes
    ----------
    location_ : ndarray of shape (n_features,)
        The centre ``mu``.
    covariance_ : ndarray of shape (n_features, n_features)
        The covariance ``Sigma`` around ``location_``.
    precision_ : ndarray of shape (n_features, n_features)
        Its (pseudo-)inverse.
    covariance_estimator_ : LedoitWolf, OAS or EmpiricalCovariance
        The fitted scikit-learn estimator, fitted on the centred references
        (its ``shrinkage_`` is there for the shrunk ones).
    n_iter_ : int or None
        Weiszfeld iterations run; ``None`` with ``center="mean"``.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    geometric_median : The centre.
    KMeansCosineScorer : Cosine similarity to k-means centres.
    DomainStandardizedScorer : Standardise any scorer's scores per domain.
    sklearn.covariance.EllipticEnvelope : Robust (MCD) Mahalanobis outlier detector.

    References
    ----------
    .. [1] Z. Liu, Y. Hou, W. Wang, S. Michiels and D. Hughes, "SCAN: Selective
       Contrastive Learning Against Noisy Data for Acoustic Anomaly
       Detection", eqs. 3 and 4.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import MahalanobisScorer
    >>> rng = np.random.default_rng(0)
    >>> X_train = rng.normal(size=(200, 4))
    >>> scorer = MahalanobisScorer().fit(X_train)
    >>> X_test = np.array([[0.0, 0.0, 0.0, 0.0], [4.0, 4.0, 4.0, 4.0]])
    >>> scorer.anomaly_score(X_test).round(1)
    array([ 0. , 64.8])
    >>> scorer.predict(X_test)
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        **BaseScorer._parameter_constraints,
        "center": [StrOptions({"geometric_median", "mean"})],
        "covariance": [StrOptions(set(_COVARIANCE_ESTIMATORS))],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        center="geometric_median",
        covariance="ledoit_wolf",
        max_iter=500,
        tol=1e-10,
        contamination=0.1,
        threshold="percentile",
    ):
        self.center = center
        self.covariance = covariance
        self.max_iter = max_iter
        self.tol = tol
        self.contamination = contamination
        self.threshold = threshold

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the centre and the covariance of the reference embeddings.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings of normal clips, finite; at least 2.
        y : None
            Ignored, present for API consistency.

        Returns
        -------
        self : object
            This scorer.
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        if self.center == "geometric_median":
            self.location_, self.n_iter_ = geometric_median(
                X, max_iter=self.max_iter, tol=self.tol, return_n_iter=True
            )
        else:
            self.location_, self.n_iter_ = X.mean(axis=0), None
        estimator = _COVARIANCE_ESTIMATORS[self.covariance](assume_centered=True)
        self.covariance_estimator_ = estimator.fit(X - self.location_)
        self.covariance_ = estimator.covariance_
        self.precision_ = estimator.get_precision()
        self._set_offset(self._squared_distances(X))
        return self

    def _squared_distances(self, X):
        centred = X - self.location_
        distances = np.einsum("ij,jk,ik->i", centred, self.precision_, centred)
        # The precision is positive semi-definite: negatives are rounding.
        return np.maximum(distances, 0.0)

    def score_samples(self, X):
        """Opposite of the squared Mahalanobis distance: higher is more normal.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings, finite, with the ``n_features_in_`` columns seen in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_clips,)
            ``-(x - location_)^T precision_ (x - location_)``, float64.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return -self._squared_distances(X)
