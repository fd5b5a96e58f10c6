"""Ward pseudo-attributes for machine types without attribute labels (Fang et al., Section 2.4)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import silhouette_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._labels import check_labels, is_absent

__all__ = ["WardPseudoAttributes"]


def _cut_tree(children, n_leaves, n_clusters):
    """Flat clusters of a merge tree after undoing its last ``n_clusters - 1`` merges.

    The cut :class:`~sklearn.cluster.AgglomerativeClustering` makes with
    ``n_clusters`` (same partition; the cluster numbers may differ): node
    ``n_leaves + i`` is merge ``i``, and the last merges are undone first.
    """
    root = 2 * n_leaves - 2
    top = {root}
    for node in range(root, root - n_clusters + 1, -1):
        top.remove(node)
        top.update(int(child) for child in children[node - n_leaves])
    cluster = np.full(2 * n_leaves - 1, -1, dtype=np.int64)
    cluster[sorted(top)] = np.arange(len(top))
    for node in range(root, n_leaves - 1, -1):
        if cluster[node] >= 0:
            cluster[children[node - n_leaves]] = cluster[node]
    return cluster[:n_leaves]


def _linkage_matrix(children, distances):
    """scipy's linkage matrix ``[child, child, distance, size]`` from a full merge tree."""
    n_leaves = len(children) + 1
    sizes = np.ones(2 * n_leaves - 1)
    for i, (a, b) in enumerate(children):
        sizes[n_leaves + i] = sizes[a] + sizes[b]
    return np.column_stack([children.astype(np.float64), distances, sizes[n_leaves:]])


class WardPseudoAttributes(BaseEstimator):
    """Pseudo-attribute labels from Ward's agglomerative clustering, per machine type.

    Section 2.4 of Fang et al. [1]_: the embeddings of each machine type
    whose clips carry no attribute labels are clustered with agglomerative
    hierarchical clustering under Ward linkage (each merge is the one that
    least increases the error sum of squares, eq. 9), and the clusters
    become that machine type's pseudo-attributes. Machine types with
    attribute labels keep them (eq. 10). The labels then train an
    attribute classifier (``y`` of an embedder).

    Labels follow skasd's auxiliary labels ``"<machine>|<attributes>"`` (the
    ``aux_label`` column of :func:`~skasd.datasets.make_machine_sounds`
    frames), so ``label.split("|")[0]`` is the machine type:

    - a labelled clip gets ``"<machine>|<its attribute string>"``, e.g.
      ``"valve|pat_00"``;
    - a clip of an unlabelled machine type gets ``"<machine>|pseudo_<k>"``,
      where ``k`` (from 0) is the label scikit-learn's
      :class:`~sklearn.cluster.AgglomerativeClustering` gives its cluster.
      ``"pseudo_<k>"`` reads as one DCASE ``key_value`` attribute pair.

    Each unlabelled machine type is clustered on its own clips only: its
    pseudo-attributes do not depend on other machine types' clips, and no
    label is shared across machine types.

    Decisions where the paper is silent:

    - **Number of clusters.** ``n_clusters=<int>`` cuts every unlabelled
      machine type's tree into that many clusters; ``n_clusters=None`` with
      ``distance_threshold`` cuts where merges cost more than the threshold.
      ``n_clusters="auto"`` (default) chooses per machine type among
      ``k`` in ``n_clusters_range`` (inclusive, capped at the number of clips
      minus one), by ``selection``:

      * ``"silhouette"``: the ``k`` with the highest mean silhouette
        coefficient (:func:`~sklearn.metrics.silhouette_score`, Euclidean) of
        the ``k``-cluster cut;
      * ``"gap"``: the ``k`` before the largest jump in merge distance:
        with merge heights ``h_1 <= ... <= h_{n-1}`` of ``n`` clips, ``k``
        clusters exist between ``h_{n-k}`` and ``h_{n-k+1}``, and the ``k``
        maximising ``h_{n-k+1} - h_{n-k}`` is chosen.

      Ties go to the smallest ``k``. Neither criterion can choose one
      cluster: a machine type without attributes is assumed to have some.
    - **Missing attributes** are ``None``, NaN, ``""`` or DCASE's
      ``"noAttribute(s)"``. A machine type is labelled when all its clips
      have an attribute and unlabelled when none has; a machine type with
      some clips labelled and others not is an error (give all its clips an
      attribute, or none, to have it clustered).
    - **Metadata, not y.** ``machine`` and ``attributes`` are keyword
      arguments of ``fit``, sample metadata in the sense of scikit-learn's
      metadata routing (``set_fit_request(machine=True,
      attributes=True)``), as ``domain`` is for skasd's scorers; ``y`` is
      ignored, as for scikit-learn's clusterers. Without ``machine``, all
      clips are one machine type: the labels are then ``"pseudo_<k>"`` (or
      the attribute string) without a prefix, and the per-machine
      dictionaries have the single key ``None``. There is no ``transform``:
      use it on its own or as the last step of a
      :class:`~sklearn.pipeline.Pipeline` (``fit_predict``).
    - The embeddings are clustered as given (Ward is Euclidean); put a
      :class:`~sklearn.preprocessing.Normalizer` first to cluster directions.

    Parameters
    ----------
    n_clusters : int, "auto" or None, default="auto"
        Clusters per unlabelled machine type: a number, ``"auto"`` to choose
        one per machine type (see ``selection``), or None to cut at
        ``distance_threshold``.
    distance_threshold : float or None, default=None
        With ``n_clusters=None``: the merge distance above which clusters
        are not merged (as in :class:`~sklearn.cluster.AgglomerativeClustering`).
    n_clusters_range : tuple of two int, default=(2, 10)
        ``(smallest, largest)`` number of clusters ``n_clusters="auto"``
        considers, both included; ``2 <= smallest <= largest``.
    selection : {"silhouette", "gap"}, default="silhouette"
        How ``n_clusters="auto"`` chooses: the highest silhouette score, or
        the largest gap between successive merge distances.

    Attributes
    ----------
    labels_ : ndarray of shape (n_clips,), dtype object
        The label (a ``str``) of each clip seen in ``fit``.
    machines_ : ndarray of shape (n_machines,), dtype object
        The machine types seen in ``fit``, sorted (``[None]`` without ``machine``).
    clusterers_ : dict
        ``{machine: fitted AgglomerativeClustering}`` for every unlabelled
        machine type, fitted on its clips (in their order in ``X``) with the
        full tree and merge distances (``children_``, ``distances_``).
    n_clusters_ : dict
        ``{machine: int}``, the number of pseudo-attributes of every
        unlabelled machine type.
    selection_scores_ : dict
        With ``n_clusters="auto"``: ``{machine: {k: score}}``, the
        silhouette score or distance gap of every candidate ``k``; else empty.
    n_features_in_ : int
        Number of embedding dimensions seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the embedding dimensions, when ``X`` has string column names.

    See Also
    --------
    kmeans_pseudo_labels : k-means pseudo-labels per machine type and domain.
    sklearn.cluster.AgglomerativeClustering : The clustering used here.

    References
    ----------
    .. [1] X. Fang, G. Zhong, Q. Wang et al., "Improving Anomalous Sound
       Detection with Attribute-Aware Representation from Domain-Adaptive
       Pre-Training", Section 2.4 (``../shared/papers/002_aa51d7b9d03b6590.txt``).

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.pseudo_labels import WardPseudoAttributes
    >>> rng = np.random.default_rng(0)
    >>> blobs = np.repeat([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]], 4, axis=0)
    >>> X = np.vstack([blobs, blobs]) + rng.normal(scale=0.1, size=(24, 2))
    >>> machine = ["fan"] * 12 + ["valve"] * 12
    >>> attributes = [None] * 12 + ["pat_00"] * 6 + ["pat_01"] * 6
    >>> ward = WardPseudoAttributes()
    >>> labels = ward.fit_predict(X, machine=machine, attributes=attributes)
    >>> ward.n_clusters_
    {'fan': 3}
    >>> sorted(set(labels))
    ['fan|pseudo_0', 'fan|pseudo_1', 'fan|pseudo_2', 'valve|pat_00', 'valve|pat_01']
    >>> ward.linkage_matrix("fan").shape  # for scipy.cluster.hierarchy.dendrogram
    (11, 4)
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "distance_threshold": [Interval(Real, 0, None, closed="left"), None],
        "n_clusters_range": ["array-like"],
        "selection": [StrOptions({"silhouette", "gap"})],
    }

    def __init__(self, *, n_clusters="auto", distance_threshold=None, n_clusters_range=(2, 10), selection="silhouette"):
        self.n_clusters = n_clusters
        self.distance_threshold = distance_threshold
        self.n_clusters_range = n_clusters_range
        self.selection = selection

    def _check_n_clusters(self):
        """The ``(smallest, largest)`` candidates of ``"auto"``, or None; errors for bad combinations."""
        if self.n_clusters is None and self.distance_threshold is None:
            raise ValueError(
                "n_clusters=None and distance_threshold=None: give one of them, or n_clusters='auto' "
                "to choose the number of clusters per machine type."
            )
        if self.n_clusters is not None and self.distance_threshold is not None:
            raise ValueError(
                f"n_clusters={self.n_clusters!r} and distance_threshold={self.distance_threshold!r} "
                "are both given; pass n_clusters=None to cut the tree at distance_threshold."
            )
        if self.n_clusters != "auto":
            return None
        bounds = np.asarray(self.n_clusters_range, dtype=object)
        if (
            bounds.shape != (2,)
            or not all(isinstance(b, Integral) and not isinstance(b, bool) for b in bounds)
            or not 2 <= bounds[0] <= bounds[1]
        ):
            raise ValueError(
                "n_clusters_range must be a pair of integers (smallest, largest) with "
                f"2 <= smallest <= largest; got {self.n_clusters_range!r}."
            )
        return int(bounds[0]), int(bounds[1])

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, machine=None, attributes=None):
        """Cluster every machine type without attributes and label all clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings of the clips, finite.
        y : None
            Ignored; present for API consistency.
        machine : array-like of shape (n_clips,), default=None
            Machine type of each clip. None: all clips are one machine type.
        attributes : array-like of shape (n_clips,), default=None
            Each clip's attribute string, or ``None``, NaN, ``""`` or
            ``"noAttribute"`` where unknown. None: no clip has attributes.

        Returns
        -------
        self : WardPseudoAttributes
            The fitted estimator.
        """
        candidates = self._check_n_clusters()
        X = validate_data(self, X, dtype=np.float64)
        n_clips = X.shape[0]
        if machine is None:
            machine = np.full(n_clips, None, dtype=object)
        else:
            machine = check_labels(machine, n_clips, "machine", reference="X")
            missing = int(sum(is_absent(m) for m in machine))
            if missing:
                raise ValueError(f"machine is missing (None, NaN or empty) for {missing} clip(s).")
            machine = np.array([str(m) for m in machine], dtype=object)
        if attributes is None:
            known = np.zeros(n_clips, dtype=bool)
        else:
            attributes = check_labels(attributes, n_clips, "attributes", reference="X")
            known = np.array([not is_absent(a) for a in attributes], dtype=bool)

        machines = sorted(set(machine), key=lambda m: (m is not None, m))
        unlabelled = {}
        # Check every machine type before clustering any, so bad input fails fast.
        for m in machines:
            index = np.flatnonzero(machine == m) if m is not None else np.arange(n_clips)
            n_known = int(known[index].sum())
            if 0 < n_known < len(index):
                raise ValueError(
                    f"machine type {m!r} has attributes on {n_known} of its {len(index)} clips: give "
                    "attributes to all clips of a machine type (it keeps them) or to none (it gets "
                    "pseudo-attributes)."
                )
            if n_known:
                continue
            n = len(index)
            if candidates is not None and n <= candidates[0]:
                raise ValueError(
                    f"machine type {m!r} has {n} clip(s) (n_samples={n}); n_clusters='auto' needs at least "
                    f"{candidates[0] + 1}, one more than the smallest of n_clusters_range={self.n_clusters_range!r}."
                )
            if candidates is None and self.n_clusters is not None and n < self.n_clusters:
                raise ValueError(
                    f"machine type {m!r} has {n} clip(s) (n_samples={n}), fewer than n_clusters={self.n_clusters}."
                )
            if n < 2:
                raise ValueError(
                    f"machine type {m!r} has {n} clip(s) (n_samples={n}); Ward clustering needs at least 2."
                )
            unlabelled[m] = index

        self.clusterers_, self.n_clusters_, self.selection_scores_ = {}, {}, {}
        cluster = np.full(n_clips, -1, dtype=np.int64)
        for m, index in unlabelled.items():
            k = self.n_clusters
            if candidates is not None:
                k, self.selection_scores_[m] = self._choose(X[index], candidates)
            clusterer = AgglomerativeClustering(
                n_clusters=k,
                linkage="ward",
                distance_threshold=self.distance_threshold,
                compute_full_tree=True,
                compute_distances=True,
            ).fit(X[index])
            self.clusterers_[m] = clusterer
            self.n_clusters_[m] = int(clusterer.n_clusters_)
            cluster[index] = clusterer.labels_

        labels = np.empty(n_clips, dtype=object)
        for i in range(n_clips):
            attribute = str(attributes[i]).strip() if known[i] else f"pseudo_{cluster[i]}"
            labels[i] = attribute if machine[i] is None else f"{machine[i]}|{attribute}"
        self.labels_ = labels
        self.machines_ = np.array(machines, dtype=object)
        return self

    def _choose(self, X, candidates):
        """The chosen number of clusters for one machine type and the score of every candidate."""
        n = len(X)
        tree = AgglomerativeClustering(
            n_clusters=1, linkage="ward", compute_full_tree=True, compute_distances=True
        ).fit(X)
        ks = range(candidates[0], min(candidates[1], n - 1) + 1)
        if self.selection == "silhouette":
            scores = {k: float(silhouette_score(X, _cut_tree(tree.children_, n, k))) for k in ks}
        else:
            heights = tree.distances_
            scores = {k: float(heights[n - k] - heights[n - k - 1]) for k in ks}
        best = max(scores.values())
        return min(k for k, score in scores.items() if score == best), scores

    def fit_predict(self, X, y=None, *, machine=None, attributes=None):
        """Fit and return the label of every clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Embeddings of the clips, finite.
        y : None
            Ignored; present for API consistency.
        machine : array-like of shape (n_clips,), default=None
            Machine type of each clip. None: all clips are one machine type.
        attributes : array-like of shape (n_clips,), default=None
            Each clip's attribute string, or missing where unknown.

        Returns
        -------
        labels : ndarray of shape (n_clips,), dtype object
            ``labels_``: ``"<machine>|<attribute>"`` or ``"<machine>|pseudo_<k>"``.
        """
        return self.fit(X, y, machine=machine, attributes=attributes).labels_

    def linkage_matrix(self, machine=None):
        """The dendrogram of one unlabelled machine type, as a scipy linkage matrix.

        Row ``i`` is merge ``i``: ``[child, child, distance, size]``, where
        child ``j < n`` is the machine type's ``j``-th clip in ``fit`` order
        and child ``n + i`` the cluster of merge ``i``; pass it to
        :func:`scipy.cluster.hierarchy.dendrogram` (or ``fcluster``).

        Parameters
        ----------
        machine : str, default=None
            The machine type; None if only one machine type was clustered.

        Returns
        -------
        Z : ndarray of shape (n_clips_of_machine - 1, 4)
            The full merge tree: children and ``distances_`` of
            ``clusterers_[machine]``, and cluster sizes.
        """
        check_is_fitted(self)
        if machine is None and len(self.clusterers_) == 1:
            machine = next(iter(self.clusterers_))
        if machine not in self.clusterers_:
            clustered = sorted(self.clusterers_, key=lambda m: (m is not None, m))
            if machine is None:
                raise ValueError(f"machine is required: {len(clustered)} machine types were clustered: {clustered}.")
            raise ValueError(
                f"machine {machine!r} has no dendrogram: only machine types without attributes are "
                f"clustered, here {clustered}."
            )
        clusterer = self.clusterers_[machine]
        return _linkage_matrix(clusterer.children_, clusterer.distances_)
