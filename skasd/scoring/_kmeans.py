"""Cosine similarity to k-means centres of the source domain and to every target reference."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import BaseScorer
from ._distances import unit_rows
from ._domain import check_domain

__all__ = ["KMeansCosineScorer"]

_DOMAINS = ("source", "target")


class KMeansCosineScorer(BaseScorer):
    """Maximum cosine similarity to source k-means centres and target references.

    The k-means inference of Kuroyanagi et al. [1]_ (Section 3.3) and the
    "source means" baseline of Wilkinghoff et al. [2]_ (Table II, after [3]_):
    the L2-normalised source-domain references are clustered by k-means
    (scikit-learn's :class:`~sklearn.cluster.KMeans`, ``n_clusters``
    centres), each L2-normalised target-domain reference is kept as its own
    centre, and an embedding ``z`` scores

    ``score_samples(z) = max_j cos(z, c_j)``,

    so that ``anomaly_score(z) = -max_j cos(z, c_j)`` (eq. 6 of [1]_). The
    few target references thus weigh as much as the many source ones.
    Kuroyanagi et al. run k-means with ``k_ta = 10`` on the target
    references; with DCASE's ten target clips per section that is each
    target reference as its own centre, which is what this class does for
    any number of them.

    Decisions where the papers are silent:

    - ``domain=None`` in ``fit``: every reference is treated as source and
      all are clustered.
    - Fewer source references than ``n_clusters``: each is kept as its own
      centre (what k-means with as many clusters as points gives), with a
      ``UserWarning``. With exactly ``n_clusters`` of them, likewise, silently.
    - Zero vectors, in ``fit`` or at scoring time: ``ValueError`` (the cosine
      similarity is undefined).
    - ``offset_``: each training reference that is itself a centre (every
      target reference; every source reference when there are no more than
      ``n_clusters``) is scored leaving its own centre out, since it would
      otherwise score a perfect 1 on itself; the other references are scored
      against all centres. With a single reference and a single centre, its
      score is its similarity to itself, 1. ``fit_predict`` labels the
      training clips with these same scores
      (with ``novelty=False``).
    - A k-means centre is the mean of unit vectors and is normalised again;
      in the degenerate case where it is zero (opposite vectors in one
      cluster) its cosine similarity is taken as 0.

    Inputs are converted to float64; scores are float64 in [-1, 1].

    Parameters
    ----------
    n_clusters : int, default=16
        Number of k-means centres of the source references (``k_so = 16``
        in [1]_ and [2]_).
    n_init : "auto" or int, default=10
        Number of k-means runs with different initialisations; the best (in
        inertia) is kept. As in :class:`~sklearn.cluster.KMeans`.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means initialisations. Pass an int for reproducible
        centres.
    contamination : float in (0, 0.5], default=0.1
        Fraction of training clips ``predict`` would call anomalous.
    threshold : {"percentile", "gamma"}, default="percentile"
        The quantile that sets ``offset_``: empirical, or of a fitted gamma
        distribution (see :class:`KNNScorer`).
    novelty : bool, default=True
        As in :class:`~sklearn.neighbors.LocalOutlierFactor`. True: score
        new clips; ``fit_predict`` is not available. False: label the
        training clips with ``fit_predict``, each scored without the centre
        it is itself; the scoring methods are not available.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_centers, n_features)
        The unit-norm centres: the ``n_source_centers_`` source centres
        first, then the target references in the order of ``X``.
    n_source_centers_ : int
        Number of source centres: ``n_clusters``, or the number of source
        references when there are no more than ``n_clusters``.
    kmeans_ : KMeans or None
        The fitted k-means of the source references; ``None`` when each
        source reference is its own centre.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    MahalanobisScorer : Mahalanobis distance to the geometric median.
    DomainStandardizedScorer : Standardise any scorer's scores per domain.
    sklearn.cluster.KMeans : The clustering.

    Notes
    -----
    ``domain`` reaches ``fit`` through scikit-learn's metadata routing: in a
    :class:`~sklearn.pipeline.Pipeline` or
    :class:`~sklearn.model_selection.GridSearchCV`, under
    ``sklearn.set_config(enable_metadata_routing=True)``, request it with
    ``scorer.set_fit_request(domain=True)``. Scoring needs no domain.

    References
    ----------
    .. [1] T. Kuroyanagi et al., "Improving Anomalous Sound Detection Through
       Pseudo-anomalous Set Selection and Pseudo-label Utilization Under
       Unlabeled Conditions", Section 3.3.
    .. [2] K. Wilkinghoff et al., "Local Density-Based Anomaly Score
       Normalization for Domain Generalization", Section V-A, Table II.
    .. [3] K. Wilkinghoff, "Design choices for learning embeddings from
       auxiliary tasks for domain generalization in anomalous sound
       detection", Proc. ICASSP, 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import KMeansCosineScorer
    >>> rng = np.random.default_rng(0)
    >>> X_train = np.vstack([rng.normal([5, 0, 0], 1, size=(40, 3)),
    ...                      rng.normal([0, 5, 0], 1, size=(3, 3))])
    >>> domain = np.array(["source"] * 40 + ["target"] * 3)
    >>> scorer = KMeansCosineScorer(n_clusters=4, random_state=0)
    >>> scorer = scorer.fit(X_train, domain=domain)
    >>> scorer.cluster_centers_.shape  # 4 source centres, 3 target references
    (7, 3)
    >>> X_test = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    >>> scorer.predict(X_test)
    array([ 1,  1, -1])
    """

    _parameter_constraints: dict = {
        **BaseScorer._parameter_constraints,
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "novelty": ["boolean"],
    }

    def __init__(
        self, *, n_clusters=16, n_init=10, random_state=None, contamination=0.1, threshold="percentile", novelty=True
    ):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.random_state = random_state
        self.contamination = contamination
        self.threshold = threshold
        self.novelty = novelty

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, domain=None):
        """Cluster the source references and keep every target reference.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings of normal clips, finite, none of them zero.
        y : None
            Ignored, present for API consistency.
        domain : array-like of shape (n_clips,), default=None
            ``"source"`` or ``"target"`` for each clip. ``None`` treats every
            clip as source.

        Returns
        -------
        self : object
            This scorer.
        """
        units, is_target = self._prepare(X, domain, reset=True)
        source = units[~is_target]
        n_source = len(source)

        if n_source > self.n_clusters:
            kmeans = KMeans(
                n_clusters=self.n_clusters,
                n_init=self.n_init,
                random_state=check_random_state(self.random_state),
            )
            self.kmeans_ = kmeans.fit(source)
            norms = np.linalg.norm(kmeans.cluster_centers_, axis=1, keepdims=True)
            source_centers = np.divide(
                kmeans.cluster_centers_,
                norms,
                out=np.zeros_like(kmeans.cluster_centers_),
                where=norms > 0,
            )
        else:
            if 0 < n_source < self.n_clusters:
                warnings.warn(
                    f"KMeansCosineScorer: {n_source} source-domain reference(s) for "
                    f"n_clusters={self.n_clusters}; each is kept as its own centre.",
                    UserWarning,
                    stacklevel=3,
                )
            self.kmeans_ = None
            source_centers = source
        self.cluster_centers_ = np.vstack([source_centers, units[is_target]])
        self.n_source_centers_ = len(source_centers)
        self._set_offset(-self._reference_scores(units, is_target))
        return self

    def _prepare(self, X, domain, reset):
        """Unit-norm rows of X and the mask of its target-domain clips."""
        X = validate_data(self, X, dtype=np.float64, reset=reset)
        units = unit_rows(X, "X")
        if domain is None:
            return units, np.zeros(len(units), dtype=bool)
        domain = check_domain(domain, len(units))
        unknown = sorted(set(domain.tolist()) - set(_DOMAINS), key=str)
        if unknown:
            raise ValueError(f"domain must hold 'source' or 'target' for each clip; found {unknown}.")
        return units, domain == "target"

    def _reference_scores(self, units, is_target):
        """Scores of the training references, each leaving out the centre it is itself."""
        similarities = units @ self.cluster_centers_.T
        own_center = np.full(len(units), -1)
        own_center[is_target] = self.n_source_centers_ + np.arange(is_target.sum())
        if self.kmeans_ is None:
            own_center[~is_target] = np.arange(np.sum(~is_target))
        if len(self.cluster_centers_) > 1:  # with a single centre, keep it
            is_own = np.flatnonzero(own_center >= 0)
            similarities[is_own, own_center[is_own]] = -np.inf
        return np.clip(similarities.max(axis=1), -1.0, 1.0)

    @available_if(BaseScorer._fit_predict_available)
    def fit_predict(self, X, y=None, domain=None):
        """Fit, then label each training clip leaving out the centre it is itself.

        Only with ``novelty=False``. ``fit(X, domain=domain).predict(X)``
        would find every target reference (and every source reference kept as
        its own centre) at cosine similarity 1 from a centre, hence normal. As
        ``LocalOutlierFactor.fit_predict`` does, these references are instead
        scored without their own centre, as for ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings of training clips.
        y : None
            Ignored.
        domain : array-like of shape (n_clips,), default=None
            ``"source"`` or ``"target"`` for each clip, as in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_clips,)
            -1 for outliers, +1 for inliers.
        """
        self.fit(X, domain=domain)
        units, is_target = self._prepare(X, domain, reset=False)
        return np.where(self._reference_scores(units, is_target) - self.offset_ < 0, -1, 1)

    @available_if(BaseScorer._scoring_available)
    def score_samples(self, X):
        """Maximum cosine similarity to the centres: higher is more normal.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings, finite, none of them zero, with the ``n_features_in_``
            columns seen in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_clips,)
            ``max_j cos(x, cluster_centers_[j])``, float64 in [-1, 1].
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        similarities = unit_rows(X, "X") @ self.cluster_centers_.T
        return np.clip(similarities.max(axis=1), -1.0, 1.0)
