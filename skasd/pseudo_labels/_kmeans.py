"""k-means pseudo-labels per machine type and domain (Kuroyanagi et al., Section 4.2.2)."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from ..scoring._distances import unit_rows
from ._labels import check_labels, is_absent

__all__ = ["kmeans_pseudo_labels"]

_DOMAINS = ("source", "target")
_DOMAIN_LETTER = {"source": "s", "target": "t"}


def _check_n_clusters(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def kmeans_pseudo_labels(
    embeddings,
    machine,
    domain,
    *,
    attributes=None,
    n_clusters_source=16,
    n_clusters_target=4,
    normalize=True,
    n_init=10,
    random_state=None,
    return_centroids=False,
):
    """Pseudo-labels from k-means on the embeddings of each machine type and domain.

    Section 4.2.2 of Kuroyanagi et al. [1]_: after a training stage, the
    embeddings of the training clips are clustered by k-means (scikit-learn's
    :class:`~sklearn.cluster.KMeans`) separately for every machine type and
    domain, with ``k_so = n_clusters_source`` clusters for the source domain
    and ``k_ta = n_clusters_target`` for the target domain, and each clip
    gets the cluster of its nearest centroid (eq. 13). The next stage
    retrains the embedder from scratch on these labels.

    Labels are strings:

    - ``"<machine>_s<j>"`` for source cluster ``j`` and ``"<machine>_t<j>"``
      for target cluster ``j`` (``j`` from 0): the source and target clusters
      of one machine type are always distinct classes, as in the 16 + 4 = 20
      pseudo-classes per machine type of [1]_ (Section 5.3).
    - With ``attributes`` given, a clip that has one gets
      ``"<machine>_<attribute>_s<j>"`` (the ``machine_attribute_pseudolabel``
      classes): the clustering is still per machine type and domain, and the
      cluster index is appended to each clip's own attribute, so one cluster
      may span several classes. A clip without one (``None``, NaN, ``""`` or
      DCASE's ``"noAttribute"``) gets ``"<machine>_s<j>"``.

    Decisions where the paper is silent:

    - ``normalize=True`` (default) clusters the L2-normalised embeddings: the
      embeddings of [1]_ are trained and compared by cosine similarity
      (eq. 10 and the inference of Section 3), and on unit vectors the
      Euclidean distance of eq. 13 orders neighbours as the cosine similarity
      does. The returned centroids are then those of the unit vectors (means,
      not renormalised), and the nearest-centroid rule is applied to the unit
      vectors. ``normalize=False`` clusters the raw embeddings.
    - A source group with fewer clips than ``n_clusters_source`` raises a
      ``ValueError``: k-means cannot find ``k_so`` clusters there.
    - A target group with fewer clips than ``n_clusters_target`` (DCASE 2021
      has three target clips per section) gets one cluster per clip, with a
      ``UserWarning``: the target domain is small by design.
    - Groups are clustered in sorted (machine, domain) order, all seeded from
      one generator made from ``random_state``, so a fixed ``random_state``
      gives the same labels on every run.

    Only original training clips belong here: external clips (Section 4.1)
    carry their own labels (:func:`select_external`), so leave them out,
    e.g. with :func:`drop_external`.

    Parameters
    ----------
    embeddings : array-like of shape (n_clips, n_features)
        Embeddings of the training clips from the current stage's model;
        finite, and with ``normalize=True`` none of them zero.
    machine : array-like of shape (n_clips,)
        Machine type of each clip (any hashable label; pass
        ``"<machine>|<section>"`` to cluster per section instead).
    domain : array-like of shape (n_clips,)
        ``"source"`` or ``"target"`` for each clip.
    attributes : array-like of shape (n_clips,), default=None
        Each clip's attribute string, or ``None``, NaN or ``""`` for none.
        ``None`` (the whole argument) means no clip has attributes.
    n_clusters_source : int, default=16
        ``k_so``, the number of clusters of each machine type's source clips.
    n_clusters_target : int, default=4
        ``k_ta``, the number of clusters of each machine type's target clips.
    normalize : bool, default=True
        Whether to L2-normalise the embeddings before clustering.
    n_init : "auto" or int, default=10
        Number of k-means initialisations per group, as in
        :class:`~sklearn.cluster.KMeans`.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means initialisations of every group.
    return_centroids : bool, default=False
        Whether to return the centroids of every group too.

    Returns
    -------
    labels : ndarray of shape (n_clips,), dtype object
        The pseudo-label (a ``str``) of each clip.
    centroids : dict
        Only with ``return_centroids=True``: ``{(machine, domain): ndarray of
        shape (n_clusters, n_features)}``, row ``j`` the centroid of cluster
        ``j`` in the space that was clustered (unit vectors with
        ``normalize=True``). Each clip's cluster is the argmin of its
        Euclidean distance to its group's rows.

    Raises
    ------
    ValueError
        On mismatched lengths, a domain other than ``"source"`` or
        ``"target"``, non-finite or (with ``normalize=True``) zero
        embeddings, or a source group with fewer clips than
        ``n_clusters_source``.

    See Also
    --------
    select_external : The pseudo-anomalous external clips of Section 4.1.
    skasd.KMeansCosineScorer : The k-means inference of Section 3.3.

    References
    ----------
    .. [1] T. Kuroyanagi et al., "Improving Anomalous Sound Detection Through
       Pseudo-anomalous Set Selection and Pseudo-label Utilization Under
       Unlabeled Conditions", Sections 4.2.2 and 5.3.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.pseudo_labels import kmeans_pseudo_labels
    >>> rng = np.random.default_rng(0)
    >>> embeddings = rng.normal(size=(12, 3))
    >>> machine = np.array(["fan"] * 12)
    >>> domain = np.array(["source"] * 8 + ["target"] * 4)
    >>> labels = kmeans_pseudo_labels(embeddings, machine, domain, n_clusters_source=2,
    ...                               n_clusters_target=2, random_state=0)
    >>> sorted(set(labels))
    ['fan_s0', 'fan_s1', 'fan_t0', 'fan_t1']
    >>> attributes = np.array(["spd_6"] * 6 + [""] * 6)
    >>> labels = kmeans_pseudo_labels(embeddings, machine, domain, attributes=attributes,
    ...                               n_clusters_source=2, n_clusters_target=2,
    ...                               random_state=0)
    >>> labels[0].startswith("fan_spd_6_s"), labels[-1].startswith("fan_t")
    (True, True)
    """
    X = check_array(embeddings, dtype=np.float64, input_name="embeddings")
    n_clips = X.shape[0]
    machine = check_labels(machine, n_clips, "machine")
    domain = check_labels(domain, n_clips, "domain")
    unknown = sorted({str(d) for d in domain} - set(_DOMAINS))
    if unknown:
        raise ValueError(f"domain must be 'source' or 'target' for every clip; got {unknown}.")
    if attributes is not None:
        attributes = check_labels(attributes, n_clips, "attributes")
    k_by_domain = {
        "source": _check_n_clusters(n_clusters_source, "n_clusters_source"),
        "target": _check_n_clusters(n_clusters_target, "n_clusters_target"),
    }
    if normalize:
        X = unit_rows(X, "embeddings", "; pass normalize=False to cluster raw embeddings")
    rng = check_random_state(random_state)

    keys = sorted({(m, str(d)) for m, d in zip(machine, domain)}, key=lambda k: (str(k[0]), k[1]))
    # Check every group before fitting any, so bad input fails fast.
    members = {}
    for key in keys:
        m, d = key
        index = np.flatnonzero((machine == m) & (domain == d))
        k = k_by_domain[d]
        if len(index) < k and d == "source":
            raise ValueError(
                f"machine type {m!r} has {len(index)} source-domain clip(s), fewer than "
                f"n_clusters_source={k} (k_so); lower n_clusters_source or add clips."
            )
        members[key] = index

    cluster = np.empty(n_clips, dtype=np.int64)
    centroids = {}
    for key, index in members.items():
        m, d = key
        k = k_by_domain[d]
        if len(index) < k:
            warnings.warn(
                f"machine type {m!r} has {len(index)} target-domain clip(s) for "
                f"n_clusters_target={k} (k_ta); each is kept as its own cluster.",
                UserWarning,
                stacklevel=2,
            )
            k = len(index)
        if k == len(index):
            # k-means with as many clusters as points: every point its own centre.
            centers = X[index].copy()
            assigned = np.arange(k)
        else:
            kmeans = KMeans(n_clusters=k, n_init=n_init, random_state=rng).fit(X[index])
            centers = kmeans.cluster_centers_
            # eq. 13: the nearest centroid, recomputed so that labels and
            # returned centroids agree exactly.
            assigned = kmeans.predict(X[index])
        cluster[index] = assigned
        centroids[key] = centers

    letters = np.array([_DOMAIN_LETTER[str(d)] for d in domain], dtype=object)
    labels = np.empty(n_clips, dtype=object)
    for i in range(n_clips):
        suffix = f"{letters[i]}{cluster[i]}"
        if attributes is None or is_absent(attributes[i]):
            labels[i] = f"{machine[i]}_{suffix}"
        else:
            labels[i] = f"{machine[i]}_{str(attributes[i]).strip()}_{suffix}"
    if return_centroids:
        return labels, centroids
    return labels
