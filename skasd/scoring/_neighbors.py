"""Nearest-neighbour anomaly scores, plain or normalised by local density.

Every distance here is an inner product of augmented vectors,
``A(x, y) = <q(x), r(y)>``:

- cosine, with unit vectors: ``0.5 * (1 - <x, y>) = <[x, 1], [-0.5 y, 0.5]>``;
- squared Euclidean: ``|x|^2 + |y|^2 - 2 <x, y> = <[x, |x|^2, 1], [-2 y, 1, |y|^2]>``
  (mean squared error: the same divided by the dimension).

The local-density normalisations keep that form: ``A(x, y) / D(y)`` is the
product with ``r(y) / D(y)``, and ``A(x, y) - D(y)`` the product with
``r(y)`` whose last entry (the one ``q`` multiplies by 1) is lowered by
``D(y)``. So plain, ratio and difference scores are all one chunked matrix
product followed by a k-smallest selection, which is what BLAS (on CPU) and
torch (on GPU) do fastest, and what any inner-product index can search.
The products and the selection are in ``_distances.py``.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._torch import resolve_device
from ._base import BaseScorer
from ._distances import (
    augment_queries,
    augment_references,
    chunked_smallest,
    normalized_if_cosine,
    self_smallest,
)
from ._index import MAX_HNSW_NEIGHBORS, HNSWSmallest, import_faiss

# The training clips' leave-one-out scores that set offset_ are computed on at
# most this many evenly spaced references: the percentile they give is as
# good as the full set's, at a fraction of a second instead of another full
# reference-by-reference pass.
MAX_OFFSET_REFERENCES = 2048

_fit_context_skip_nested = _fit_context(prefer_skip_nested_validation=True)

# The densities are computed exactly with either algorithm: with HNSW's
# approximate densities, a reference whose nearest neighbour the graph
# misses gets too large a density and, under the ratio, becomes the nearest
# reference of every query around it (benchmarks/bench_knn_scale.py measures
# it: 0.014% of the densities wrong changed a third of the scores and took
# the AUC from 0.91 to 0.75). True only in that benchmark, to show it.
_APPROXIMATE_DENSITIES = False

# GWRP weights r^(k-1) below this are dropped: the dropped terms add up to
# less than this / (1 - r) times the largest distance.
_GWRP_MIN_WEIGHT = 1e-12


class _NeighborScorer(BaseScorer):
    """Shared machinery of the k-NN scorers; subclasses say how references are normalised."""

    _parameter_constraints: dict = {
        **BaseScorer._parameter_constraints,
        "novelty": ["boolean"],
        "metric": [StrOptions({"cosine", "sqeuclidean", "mse"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "algorithm": [StrOptions({"exact", "hnsw"})],
        "hnsw_m": [Interval(Integral, 2, None, closed="left")],
        "ef_construction": [Interval(Integral, 1, None, closed="left")],
        "ef_search": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str],
        "n_jobs": [Integral, None],
    }

    # Set by subclasses: None, "ratio" or "difference".
    def _normalization(self):
        raise NotImplementedError

    def _min_references(self):
        return self.n_neighbors + 1

    def _check_n_references(self, n_references):
        needed = self._min_references()
        if n_references < needed:
            raise ValueError(
                f"{type(self).__name__} needs at least {needed} references "
                f"({self._why_min_references()}); got {n_references} sample"
                f"{'s' if n_references != 1 else ''}."
            )

    def _why_min_references(self):
        return f"n_neighbors={self.n_neighbors} plus the one left out when scoring the training clips"

    def _prepare(self, X, *, reset):
        X = validate_data(self, X, reset=reset, dtype=np.float32, ensure_min_samples=1)
        return normalized_if_cosine(X, self.metric, "X")

    def _fit_references(self, X):
        """Store the references and their densities; set offset_."""
        self._check_n_references(len(X))
        if self.algorithm == "hnsw":
            import_faiss()
            if self.device not in ("cpu", "auto"):
                raise ValueError(
                    f"algorithm='hnsw' searches on the CPU (faiss-cpu); got device={self.device!r}. "
                    "Use device='cpu', or algorithm='exact' on the GPU."
                )
            self.device_ = torch.device("cpu")
        else:
            self.device_ = resolve_device(self.device)
        if self.metric != "cosine":
            # Distances do not change under translation; centring first keeps
            # |x|^2 + |y|^2 - 2<x, y> from cancelling catastrophically in float32.
            self.center_ = X.mean(axis=0)
            X = X - self.center_
        self.density_ = self._local_density(X)
        self.reference_factors_ = self._normalized_reference_factors(X)
        self._index = self._build_index(self.reference_factors_)
        self.n_references_ = len(X)
        # Leave-one-out scores of (at most MAX_OFFSET_REFERENCES) training clips.
        rows = np.unique(np.linspace(0, len(X) - 1, min(len(X), MAX_OFFSET_REFERENCES)).round().astype(int))
        training_scores = self._scores(augment_queries(X[rows], self.metric), exclude=rows)
        self._set_offset(training_scores)
        return self

    def _local_density(self, X):
        return None

    def _normalized_reference_factors(self, X):
        factors = augment_references(X, self.metric)
        normalization = self._normalization()
        if normalization == "ratio":
            factors /= self.density_[:, np.newaxis]
        elif normalization == "difference":
            factors[:, -1] -= self.density_
        return factors

    def _build_index(self, references):
        """The HNSW graph over ``references`` (``algorithm="hnsw"``), or None."""
        if self.algorithm != "hnsw":
            return None
        return HNSWSmallest(
            references,
            m=self.hnsw_m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
            column_scale=self._index_column_scale(references),
            n_jobs=self.n_jobs,
        )

    def _index_column_scale(self, references):
        if self.metric == "cosine":
            return None
        n_features = references.shape[1] - 2
        spread = references.std(axis=0, dtype=np.float64)
        typical = spread[:n_features].mean()
        scale = np.ones(references.shape[1], dtype=np.float32)
        for column in (n_features, n_features + 1):
            if spread[column] > typical > 0:
                scale[column] = typical / spread[column]
        return scale

    def _smallest(self, queries, references, k, *, exclude=None, index=None):
        """The k smallest ``queries @ references.T`` of each row: exact, or searched on ``index``.

        ``index`` (an HNSW graph over ``references``) is built here when
        needed and not given. Passes that need more than
        ``MAX_HNSW_NEIGHBORS`` neighbours, and the rare queries for which the
        graph returns fewer than ``k`` candidates, are computed exactly.
        """
        def exact(rows=slice(None)):
            return chunked_smallest(
                queries[rows],
                references,
                k,
                chunk_size=self.chunk_size,
                device=self.device_,
                exclude=None if exclude is None else exclude[rows],
                n_jobs=self.n_jobs,
            )

        if self.algorithm == "exact" or k + (exclude is not None) > MAX_HNSW_NEIGHBORS:
            return exact()
        if index is None:
            index = self._build_index(references)
        smallest = index.smallest(queries, k, exclude=exclude, n_jobs=self.n_jobs)
        missing = np.flatnonzero(np.isinf(smallest[:, -1]))
        if len(missing):
            smallest[missing] = exact(missing)
        return smallest

    def _scores(self, query_factors, exclude=None):
        smallest = self._smallest(
            query_factors, self.reference_factors_, self.n_neighbors, exclude=exclude, index=self._index
        )
        # float64 as every skasd score and scikit-learn's outlier detectors, though
        # the distances themselves are float32 products.
        return smallest.mean(axis=1, dtype=np.float64)

    @available_if(BaseScorer._fit_predict_available)
    def fit_predict(self, X, y=None):
        """Fit, then label each training clip against the *other* training clips.

        Only with ``novelty=False``, as scikit-learn's
        ``LocalOutlierFactor``: ``fit(X).predict(X)`` would find every clip
        among the references at distance 0, hence normal, so each clip is
        instead scored leaving itself out, which flags the training clips
        that look anomalous among the rest (e.g. anomalies hidden in a
        "normal" training set).

        Parameters
        ----------
        X : array-like of shape (n_references, n_features)
            Embeddings of training clips.
        y : None
            Ignored.

        Returns
        -------
        labels : ndarray of shape (n_references,)
            -1 for outliers, +1 for inliers.
        """
        self.fit(X)
        X = self._prepare(X, reset=False)
        if self.metric != "cosine":
            X = X - self.center_
        scores = -self._scores(augment_queries(X, self.metric), exclude=np.arange(len(X)))
        return np.where(scores - self.offset_ < 0, -1, 1)

    @available_if(BaseScorer._scoring_available)
    def score_samples(self, X):
        """Opposite of the anomaly score: higher for more normal clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings of the clips to score.

        Returns
        -------
        scores : ndarray of shape (n_clips,), float64
            Minus the mean of the ``n_neighbors`` smallest (normalised)
            distances to the references.
        """
        check_is_fitted(self)
        X = self._prepare(X, reset=False)
        if self.metric != "cosine":
            X = X - self.center_
        return -self._scores(augment_queries(X, self.metric))


class KNNScorer(_NeighborScorer):
    """Anomaly score: mean distance to the ``n_neighbors`` nearest references.

    The plain distance-based score of embedding-based ASD systems: with the
    cosine distance ``A(x, y) = 0.5 * (1 - <x, y> / (|x| |y|))`` in [0, 1]
    and ``n_neighbors=1``, ``anomaly_score(x) = min_y A(x, y)`` over the
    reference (normal training) embeddings ``y``. With ``n_neighbors=k``,
    the mean of the k smallest distances.

    Distances are float32 matrix products in blocks of test clips, so memory
    stays bounded however many clips are scored (see ``chunk_size``).

    Parameters
    ----------
    metric : {"cosine", "sqeuclidean", "mse"}, default="cosine"
        ``"sqeuclidean"``: ``|x - y|^2``; ``"mse"``: the same divided by the
        embedding dimension; both for embeddings not on the unit sphere.
    n_neighbors : int, default=1
        Number of nearest references averaged.
    contamination : float in (0, 0.5], default=0.1
        Fraction of training clips the threshold ``offset_`` calls outliers
        (their anomaly scores are computed leaving each clip out of the
        references).
    threshold : {"percentile", "gamma"}, default="percentile"
        How ``offset_`` follows from the training clips' scores: their
        empirical quantile, or that of a gamma distribution fitted to them,
        as the DCASE baselines decide (docs/scoring.md, "Thresholds").
    novelty : bool, default=True
        As in :class:`~sklearn.neighbors.LocalOutlierFactor`. True: score
        new clips (``score_samples``, ``decision_function``, ``predict``,
        ``anomaly_score``); ``fit_predict`` is not available. False: label
        the training clips with ``fit_predict``, each scored leaving itself
        out; the scoring methods are not available. Unlike
        LocalOutlierFactor, the default is True: skasd learns from normal
        clips and scores new ones.
    algorithm : {"exact", "hnsw"}, default="exact"
        ``"exact"``: every distance, as float32 matrix products.
        ``"hnsw"``: the nearest references are searched on a faiss HNSW
        graph (an optional dependency: ``pip install faiss-cpu``, or
        ``pip install 'skasd[ann]'``), for the scores and the leave-one-out
        ``offset_``; the graph may miss a neighbour, so a score can come out
        larger than the exact one, never smaller (the candidates are
        re-scored exactly). A search is ``O(log n_references)`` instead of
        ``O(n_references)``, but building the graph costs as much as scoring
        tens of thousands of clips exactly (about 80,000 against 200,000
        references on 2 cores, docs/benchmarks.md): it pays off when many
        clips are scored against one fitted model.
        Searches for more than 255 neighbours are exact. Runs on the CPU;
        the graph is built with several threads (``n_jobs``), so two fits
        may differ slightly unless ``n_jobs=1``.
    hnsw_m : int, default=32
        Links per node of the HNSW graph (faiss's ``M``): more links, more
        memory and a slower build, fewer missed neighbours.
    ef_construction : int, default=200
        Candidates kept while building the graph: larger builds a better
        graph, more slowly.
    ef_search : int, default=128
        Candidates kept while searching (at least the neighbours asked
        for): larger misses fewer neighbours, more slowly. With the
        defaults, 99.8% (KNNScorer) and 99.9% (LocalDensityKNNScorer) of
        the queries scored within 1e-4 of the exact scores on 200,000
        clustered 256-d references (docs/benchmarks.md).
    chunk_size : int, default=None
        Test clips per block of distances (``algorithm="exact"``); None
        sizes blocks to at most 1024 clips and 256 MiB
        (``chunk_size * n_references * 4`` bytes).
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"`` (numpy's
        BLAS), ``"cuda"``; ``algorithm="hnsw"`` takes ``"cpu"`` or
        ``"auto"`` and runs on the CPU.

        .. versionchanged:: 0.1
           The default changed from ``"cpu"`` to ``"auto"``, the default of
           every skasd estimator with a ``device``. On a machine without a
           GPU nothing changes; on one with a GPU, distances are float32
           products there, equal up to rounding.
    n_jobs : int, default=None
        BLAS threads on CPU, and faiss's threads with ``algorithm="hnsw"``;
        None leaves their own settings (all cores).

    Attributes
    ----------
    reference_factors_ : ndarray of shape (n_references, n_features + 1 or + 2)
        The references as augmented float32 vectors (see the module notes).
    n_references_ : int
    offset_ : float
        ``decision_function = score_samples - offset_``.
    device_ : torch.device
    center_ : ndarray of shape (n_features,)
        Mean of the references, subtracted before Euclidean distances (not
        set for the cosine metric).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.

    See Also
    --------
    LocalDensityKNNScorer : The same distances, normalised by the local
        density of each reference.
    sklearn.neighbors.NearestNeighbors : Gives the same ranking.

    References
    ----------
    .. [1] K. Wilkinghoff, H. Yang, J. Ebberts, F. G. Germain, G. Wichern and
       J. Le Roux, "Local density-based anomaly score normalization for
       domain generalization", IEEE Transactions on Audio, Speech and
       Language Processing, 2026 (its plain baseline).

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import KNNScorer
    >>> references = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> scorer = KNNScorer().fit(references)
    >>> scorer.anomaly_score([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]]).round(4)
    array([0.    , 0.1464, 0.5   ])
    """

    def __init__(
        self,
        *,
        metric="cosine",
        n_neighbors=1,
        contamination=0.1,
        threshold="percentile",
        novelty=True,
        algorithm="exact",
        hnsw_m=32,
        ef_construction=200,
        ef_search=128,
        chunk_size=None,
        device="auto",
        n_jobs=None,
    ):
        self.metric = metric
        self.n_neighbors = n_neighbors
        self.contamination = contamination
        self.threshold = threshold
        self.novelty = novelty
        self.algorithm = algorithm
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.chunk_size = chunk_size
        self.device = device
        self.n_jobs = n_jobs

    def _normalization(self):
        return None

    @_fit_context_skip_nested
    def fit(self, X, y=None):
        """Store the reference embeddings.

        Parameters
        ----------
        X : array-like of shape (n_references, n_features)
            Embeddings of normal training clips.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        return self._fit_references(self._prepare(X, reset=True))


class LocalDensityKNNScorer(_NeighborScorer):
    """k-NN anomaly score normalised by the local density of each reference.

    Wilkinghoff et al.'s domain-generalising score. Each reference ``y``
    (a normal training embedding) gets a local density ``D(y)``, computed
    once in ``fit`` from its distances to the other references, ``y_k``
    being its k-th closest other reference:

    - ``density="knn"``: ``D(y) = sum_{k=1..K} A(y, y_k)``, ``K = density_neighbors``;
    - ``density="gwrp"`` (global weighted ranking pooling):
      ``D(y) = sum_{k=1..n-1} A(y, y_k) * r^(k-1)``, ``r = density_decay``.

    A test clip ``x`` then scores

    - ``normalization="ratio"``: ``min_y A(x, y) / D(y)``;
    - ``normalization="difference"``: ``min_y (A(x, y) - D(y))``;

    (with ``n_neighbors=k > 1``, the mean of the k smallest normalised
    distances). A reference in a sparse region (typically one of the few
    target-domain clips) has a large ``D`` and pulls test clips closer; one
    in a dense region (the many source-domain clips) pushes them away, so
    that one threshold suits both domains without domain labels.

    ``K = 1`` and ``r = 0`` both use the nearest other reference only (the
    paper's recommendation and the default); ``K = n - 1`` and ``r = 1``
    both sum over all other references.

    Parameters
    ----------
    metric : {"cosine", "sqeuclidean", "mse"}, default="cosine"
        ``A(x, y)``: cosine distance ``0.5 * (1 - <x, y> / (|x| |y|))`` in
        [0, 1]; squared Euclidean distance; or mean squared error (squared
        Euclidean divided by the dimension), for embeddings not on the unit
        sphere.
    normalization : {"ratio", "difference"}, default="ratio"
    density : {"knn", "gwrp"}, default="knn"
    density_neighbors : int, default=1
        ``K`` of ``density="knn"``; must be smaller than the number of
        references.
    density_decay : float in [0, 1], default=0.0
        ``r`` of ``density="gwrp"``. Weights below 1e-12 are dropped (their
        terms add up to less than ``1e-12 / (1 - r)`` times the largest
        distance).
    n_neighbors : int, default=1
        Number of smallest normalised distances averaged into the score.
    eps : float, default=1e-6
        Floor of the densities. Duplicated references have ``D(y) = 0``,
        which would make the ratio infinite (or, computed in float32, noise
        of about 1e-7): densities below ``eps`` are set to ``eps``.
    contamination : float in (0, 0.5], default=0.1
        Fraction of training clips the threshold ``offset_`` calls outliers
        (their scores are computed leaving each clip out of the references).
    threshold : {"percentile", "gamma"}, default="percentile"
        The quantile that sets ``offset_``: empirical, or of a fitted gamma
        distribution (see :class:`KNNScorer`).
    novelty : bool, default=True
        True: score new clips, without ``fit_predict``; False: only
        ``fit_predict``, the leave-one-out labels of the training clips
        (see :class:`KNNScorer`).
    algorithm : {"exact", "hnsw"}, default="exact"
        ``"exact"``: every distance, as float32 matrix products.
        ``"hnsw"``: the nearest references are searched on a faiss HNSW
        graph (an optional dependency: ``pip install faiss-cpu``, or
        ``pip install 'skasd[ann]'``), for the scores and the leave-one-out
        ``offset_``; the graph may miss a neighbour, so a score can come out
        larger than the exact one, never smaller (the candidates are
        re-scored exactly). A search is ``O(log n_references)`` instead of
        ``O(n_references)``, but building the graph costs as much as scoring
        tens of thousands of clips exactly (about 80,000 against 200,000
        references on 2 cores, docs/benchmarks.md): it pays off when many
        clips are scored against one fitted model.
        The densities are always computed exactly: a density the graph gets
        wrong is too large, and under the ratio that reference would become
        the nearest one of every query around it.
        Searches for more than 255 neighbours are exact. Runs on the CPU;
        the graph is built with several threads (``n_jobs``), so two fits
        may differ slightly unless ``n_jobs=1``.
    hnsw_m : int, default=32
        Links per node of the HNSW graph (faiss's ``M``): more links, more
        memory and a slower build, fewer missed neighbours.
    ef_construction : int, default=200
        Candidates kept while building the graph: larger builds a better
        graph, more slowly.
    ef_search : int, default=128
        Candidates kept while searching (at least the neighbours asked
        for): larger misses fewer neighbours, more slowly. With the
        defaults, 99.8% (KNNScorer) and 99.9% (LocalDensityKNNScorer) of
        the queries scored within 1e-4 of the exact scores on 200,000
        clustered 256-d references (docs/benchmarks.md).
    chunk_size : int, default=None
        Clips per block of distances, for the density pass and (with
        ``algorithm="exact"``) for scoring; None sizes blocks to at most
        1024 clips and 256 MiB (``chunk_size * n_references * 4`` bytes).
    device : str, default="auto"
        Where the distances are computed, as in :class:`KNNScorer` (whose
        default was ``"cpu"`` before 0.1, as this one's).
    n_jobs : int, default=None
        BLAS threads on CPU, and faiss's threads with ``algorithm="hnsw"``;
        None leaves their own settings (all cores).

    Attributes
    ----------
    density_ : ndarray of shape (n_references,), float64
        ``D(y)`` of each reference, floored at ``eps``.
    reference_factors_ : ndarray of shape (n_references, n_features + 1 or + 2)
        The references as augmented float32 vectors already divided by (or
        shifted by) their densities: scoring is one matrix product.
    n_references_ : int
    offset_ : float
        ``decision_function = score_samples - offset_``.
    device_ : torch.device
    center_ : ndarray of shape (n_features,)
        Mean of the references, subtracted before Euclidean distances (not
        set for the cosine metric).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.

    Raises
    ------
    ValueError
        In ``fit``, with fewer references than ``density_neighbors + 1``
        (``n_neighbors + 1``, or 2 for ``density="gwrp"``, if larger): a
        single reference has no local density. Zero vectors with the cosine
        metric, NaN or infinite values, a different number of columns than
        in ``fit``.

    See Also
    --------
    KNNScorer : The plain distance, without normalisation.
    sklearn.neighbors.LocalOutlierFactor : Density ratios of k-distances.

    References
    ----------
    .. [1] K. Wilkinghoff, H. Yang, J. Ebberts, F. G. Germain, G. Wichern and
       J. Le Roux, "Local density-based anomaly score normalization for
       domain generalization", IEEE Transactions on Audio, Speech and
       Language Processing, 2026.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import LocalDensityKNNScorer
    >>> rng = np.random.default_rng(0)
    >>> dense = rng.normal([1.0, 0.0], 0.01, size=(50, 2))    # many source clips
    >>> sparse = rng.normal([0.0, 1.0], 0.2, size=(5, 2))     # few target clips
    >>> scorer = LocalDensityKNNScorer().fit(np.vstack([dense, sparse]))
    >>> bool(scorer.density_[:50].mean() < scorer.density_[50:].mean())
    True
    >>> scorer.predict([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    array([ 1,  1, -1])
    """

    _parameter_constraints: dict = {
        **_NeighborScorer._parameter_constraints,
        "normalization": [StrOptions({"ratio", "difference"})],
        "density": [StrOptions({"knn", "gwrp"})],
        "density_neighbors": [Interval(Integral, 1, None, closed="left")],
        "density_decay": [Interval(Real, 0, 1, closed="both")],
        "eps": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        metric="cosine",
        normalization="ratio",
        density="knn",
        density_neighbors=1,
        density_decay=0.0,
        n_neighbors=1,
        eps=1e-6,
        contamination=0.1,
        threshold="percentile",
        novelty=True,
        algorithm="exact",
        hnsw_m=32,
        ef_construction=200,
        ef_search=128,
        chunk_size=None,
        device="auto",
        n_jobs=None,
    ):
        self.metric = metric
        self.normalization = normalization
        self.density = density
        self.density_neighbors = density_neighbors
        self.density_decay = density_decay
        self.n_neighbors = n_neighbors
        self.eps = eps
        self.contamination = contamination
        self.threshold = threshold
        self.novelty = novelty
        self.algorithm = algorithm
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.chunk_size = chunk_size
        self.device = device
        self.n_jobs = n_jobs

    def _normalization(self):
        return self.normalization

    def _min_references(self):
        needed = self.density_neighbors + 1 if self.density == "knn" else 2
        return max(needed, self.n_neighbors + 1)

    def _why_min_references(self):
        if self.density == "knn" and self.density_neighbors >= self.n_neighbors:
            return f"density_neighbors={self.density_neighbors} other references for each reference's density"
        if self.density == "gwrp" and self.n_neighbors == 1:
            return "a reference's density needs another reference"
        return super()._why_min_references()

    def _gwrp_weights(self, n_references):
        r = self.density_decay
        if r == 0:
            n_terms = 1
        elif r == 1:
            n_terms = n_references - 1
        else:
            n_terms = min(n_references - 1, 1 + math.floor(math.log(_GWRP_MIN_WEIGHT) / math.log(r)))
        return r ** np.arange(n_terms, dtype=np.float64)

    def _local_density(self, X):
        if self.density == "knn":
            weights = np.ones(self.density_neighbors)
        else:
            weights = self._gwrp_weights(len(X))
        queries, references, k = augment_queries(X, self.metric), augment_references(X, self.metric), len(weights)
        if self.algorithm == "hnsw" and _APPROXIMATE_DENSITIES:
            nearest = self._smallest(queries, references, k, exclude=np.arange(len(X)))
        elif self.device_.type == "cpu":
            nearest = self_smallest(queries, references, k, chunk_size=self.chunk_size, n_jobs=self.n_jobs)
        else:
            nearest = chunked_smallest(
                queries, references, k, chunk_size=self.chunk_size, device=self.device_,
                exclude=np.arange(len(X)), n_jobs=self.n_jobs,
            )
        # float32 products can come out a hair below zero for duplicates.
        return np.maximum(np.clip(nearest, 0, None).astype(np.float64) @ weights, self.eps)

    @_fit_context_skip_nested
    def fit(self, X, y=None):
        """Store the references and precompute their local densities.

        Parameters
        ----------
        X : array-like of shape (n_references, n_features)
            Embeddings of normal training clips, of all domains.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        return self._fit_references(self._prepare(X, reset=True))
