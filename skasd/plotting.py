"""Figures of anomaly scores, embeddings and fitted skasd estimators.

Every function returns a :class:`matplotlib.figure.Figure` built without
pyplot (no global state, no display: it works headless, in scripts, in
tests and on servers), which :func:`save_figure` writes as a PNG. In a
notebook, ``display(fig)`` shows it. matplotlib, a dependency of skasd (the
command line writes figures), is imported only when a function is called.

- :func:`plot_roc`: ROC curves per domain as the DCASE 2023 metric defines
  them, with the pAUC region shaded;
- :func:`plot_score_histograms`: anomaly-score histograms, normal against
  anomalous, per domain (or scores only, for unlabelled evaluation clips);
- :func:`plot_embedding_2d`: a PCA or t-SNE projection of embeddings
  coloured by domain, attribute and label;
- :func:`plot_dendrogram`: the Ward tree of a fitted
  :class:`~skasd.WardPseudoAttributes` with its cut;
- :func:`plot_acp_history`: the weight search of a fitted
  :class:`~skasd.ACPEnsemble`;
- :func:`plot_scan_exclusion`: the clips a fitted
  :class:`~skasd.ConfidentPairSCAN` excluded per epoch.
"""

from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.utils.validation import check_array, check_is_fitted

from .metrics import DOMAINS, partial_auc
from .utils._files import replaced_atomically
from .utils._validation import check_labels_and_scores

__all__ = [
    "plot_acp_history",
    "plot_dendrogram",
    "plot_embedding_2d",
    "plot_roc",
    "plot_scan_exclusion",
    "plot_score_histograms",
    "save_figure",
]

#: Colours of normal and anomalous clips, source and target domains.
_NORMAL, _ANOMALOUS = "C0", "C3"
_DOMAIN_COLORS = {"source": "C0", "target": "C1", "all clips": "0.15"}


def _figure(**kwargs):
    """A new pyplot-free Figure, or an ImportError that says how to get matplotlib."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching sys.modules
        raise ImportError(
            "skasd.plotting needs matplotlib, which is not installed: pip install matplotlib."
        ) from exc
    return Figure(layout="constrained", **kwargs)


def _as_1d(values, name, n, reference):
    values = np.asarray(values)
    if values.ndim == 2 and 1 in values.shape:
        values = values.ravel()
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {np.shape(values)}.")
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} values but {reference} has {n}.")
    return values


def _check_scores(anomaly_score):
    scores = np.asarray(anomaly_score, dtype=np.float64)
    if scores.ndim != 1:
        scores = scores.ravel() if scores.ndim == 2 and 1 in scores.shape else scores
    if scores.ndim != 1:
        raise ValueError(f"anomaly_score must be 1-D; got shape {np.shape(anomaly_score)}.")
    if len(scores) == 0:
        raise ValueError("anomaly_score is empty: nothing to plot.")
    if not np.all(np.isfinite(scores)):
        raise ValueError("anomaly_score contains NaN or infinite values.")
    return scores


def _check_domain(domain, n):
    if domain is None:
        return None
    domain = _as_1d(domain, "domain", n, "anomaly_score")
    return np.array([str(d) for d in domain], dtype=object)


def _domain_order(domain):
    """source, target, then any other domain values, sorted."""
    present = set(domain.tolist())
    return [d for d in DOMAINS if d in present] + sorted(present - set(DOMAINS))


def _title(fig, title):
    if title is not None:
        fig.suptitle(str(title))


# ---------------------------------------------------------------------------
# ROC curves


def plot_roc(y_true, anomaly_score, domain, *, max_fpr=0.1, title=None):
    """ROC curves per domain, with AUC and pAUC, the pAUC region shaded.

    The curves follow the DCASE 2023 metric (:func:`skasd.metrics.dcase_scores`):
    the ``source`` curve pits the source-domain normal clips against *all*
    anomalous clips, the ``target`` curve likewise, and the ``all clips``
    curve uses every clip, which is the one the metric's pAUC is computed
    on. The legend gives each curve's AUC
    (:func:`sklearn.metrics.roc_auc_score`) and its pAUC at ``max_fpr``
    (:func:`skasd.metrics.partial_auc`, McClish-standardised as the
    metric). The band ``FPR <= max_fpr`` is shaded, and so is the area
    under the ``all clips`` curve within it.

    Parameters
    ----------
    y_true : array-like of shape (n_clips,)
        1 for anomalous, 0 for normal clips; both must occur.
    anomaly_score : array-like of shape (n_clips,)
        Higher is more anomalous.
    domain : array-like of shape (n_clips,) or None
        ``"source"`` or ``"target"`` per clip (other values get a curve
        each too). None: only the ``all clips`` curve. A domain without
        normal clips gets no curve.
    max_fpr : float in (0, 1], default=0.1
        The p of the pAUC.
    title : str, default=None
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes; each curve is a ``Line2D`` with gid ``"roc:<name>"``.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.plotting import plot_roc
    >>> y = np.array([0, 0, 0, 1, 1, 0, 0, 0, 1, 1])
    >>> score = np.array([0.1, 0.2, 0.6, 0.9, 0.5, 0.3, 0.7, 0.4, 0.8, 0.65])
    >>> domain = ["source"] * 5 + ["target"] * 5
    >>> fig = plot_roc(y, score, domain, title="valve, section 00")
    >>> [line.get_label() for line in fig.axes[0].get_lines() if line.get_gid()]
    ['source (AUC 0.917, pAUC 0.868)', 'target (AUC 0.833, pAUC 0.737)', 'all clips (AUC 0.875, pAUC 0.737)']
    """
    if not isinstance(max_fpr, Real) or not 0 < max_fpr <= 1:
        raise ValueError(f"max_fpr must be in (0, 1], got {max_fpr!r}.")
    y_true, scores = check_labels_and_scores(y_true, anomaly_score)
    if len(scores) == 0:
        raise ValueError("anomaly_score is empty: nothing to plot.")
    domain = _check_domain(domain, len(scores))
    anomalous = y_true == 1

    curves = []
    if domain is not None:
        for name in _domain_order(domain):
            mask = (domain == name) | anomalous
            if not np.any(mask & ~anomalous):
                continue  # no normal clip in this domain: no curve
            curves.append((name, mask))
    curves.append(("all clips", np.ones(len(scores), dtype=bool)))

    fig = _figure(figsize=(5.6, 5.2))
    ax = fig.add_subplot()
    ax.axvspan(0, max_fpr, color="0.9", zorder=0, label=f"FPR \u2264 {max_fpr:g} (pAUC region)")
    ax.plot([0, 1], [0, 1], ls=":", color="0.5", lw=1, label="chance")
    for i, (name, mask) in enumerate(curves):
        fpr, tpr, _ = roc_curve(y_true[mask], scores[mask])
        area = roc_auc_score(y_true[mask], scores[mask])
        pauc = partial_auc(y_true[mask], scores[mask], max_fpr=max_fpr)
        color = _DOMAIN_COLORS.get(name, f"C{i + 2}")
        style = "--" if name == "all clips" else "-"
        line, = ax.plot(fpr, tpr, style, color=color, lw=1.8, drawstyle="default",
                        label=f"{name} (AUC {area:.3f}, pAUC {pauc:.3f})")
        line.set_gid(f"roc:{name}")
        if name == "all clips":
            inside = fpr <= max_fpr
            x = np.append(fpr[inside], max_fpr)
            y = np.append(tpr[inside], np.interp(max_fpr, fpr, tpr))
            ax.fill_between(x, 0, y, color=color, alpha=0.2, lw=0, zorder=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false-positive rate", ylabel="true-positive rate")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    _title(fig, title)
    return fig


# ---------------------------------------------------------------------------
# Score histograms


def plot_score_histograms(y_true, anomaly_score, domain, *, bins=30, threshold=None, title=None):
    """Anomaly-score histograms of normal and anomalous clips, one panel per domain.

    All panels share one set of bin edges,
    ``numpy.histogram_bin_edges(anomaly_score, bins)`` over every clip, so
    they can be compared. Bars are counts of clips.

    Parameters
    ----------
    y_true : array-like of shape (n_clips,) or None
        1 for anomalous, 0 for normal clips. None, for evaluation clips
        without labels: one histogram of all scores per panel.
    anomaly_score : array-like of shape (n_clips,)
        Higher is more anomalous.
    domain : array-like of shape (n_clips,) or None
        ``"source"`` or ``"target"`` per clip: one panel per domain (source,
        target, then any other value). None: one panel, ``all clips``.
    bins : int or array-like, default=30
        Number of bins, or the bin edges, as :func:`numpy.histogram_bin_edges`.
    threshold : float, default=None
        A decision threshold on the anomaly score, drawn as a vertical line
        on every panel.
    title : str, default=None
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per domain, titled with it; each histogram is a
        ``BarContainer`` in ``ax.containers`` whose first bar carries the
        legend label (``"normal (n)"``, ``"anomalous (n)"`` or ``"all (n)"``).

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.plotting import plot_score_histograms
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    >>> score = rng.normal(size=80) + 2 * y
    >>> domain = np.tile(["source", "target"], 40)
    >>> fig = plot_score_histograms(y, score, domain, threshold=1.0)
    >>> [ax.get_title() for ax in fig.axes]
    ['source', 'target']
    >>> fig = plot_score_histograms(None, score, domain)  # unlabelled clips
    >>> fig.axes[0].containers[0][0].get_label()
    'all (40)'
    """
    scores = _check_scores(anomaly_score)
    n = len(scores)
    if y_true is not None:
        y_true = _check_binary(y_true, n)
    domain = _check_domain(domain, n)
    if threshold is not None and not (isinstance(threshold, Real) and np.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite number or None, got {threshold!r}.")
    try:
        edges = np.histogram_bin_edges(scores, bins=bins)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bins must be a positive int or increasing bin edges; got {bins!r} ({exc}).") from exc

    panels = [("all clips", np.ones(n, dtype=bool))] if domain is None else [
        (name, domain == name) for name in _domain_order(domain)
    ]
    fig = _figure(figsize=(4.8 * len(panels), 3.8))
    axes = fig.subplots(1, len(panels), sharex=True, squeeze=False)[0]
    for ax, (name, mask) in zip(axes, panels):
        if y_true is None:
            groups = [("all", mask, "C7")]
        else:
            groups = [("normal", mask & (y_true == 0), _NORMAL), ("anomalous", mask & (y_true == 1), _ANOMALOUS)]
        for label, selected, color in groups:
            if selected.any():
                ax.hist(scores[selected], bins=edges, color=color, alpha=0.55,
                        label=f"{label} ({np.count_nonzero(selected)})")
        if threshold is not None:
            ax.axvline(threshold, color="k", ls="--", lw=1.2, label=f"threshold {threshold:.3g}")
        ax.set(title=name, xlabel="anomaly score", ylabel="clips")
        ax.legend(fontsize=8)
    _title(fig, title)
    return fig


def _check_binary(y_true, n):
    """Labels of 0 and 1 where one class alone may occur (e.g. the anomalies of a domain)."""
    y_true = _as_1d(y_true, "y_true", n, "anomaly_score")
    if y_true.dtype == bool:
        return y_true.astype(np.int8)
    if not np.isin(y_true, (0, 1)).all():
        found = sorted(set(np.unique(y_true).tolist()) - {0, 1}, key=str)
        raise ValueError(
            f"y_true must hold 1 (anomalous) and 0 (normal) only; found {found}. "
            "Pass y_true=None for clips without labels."
        )
    return y_true.astype(np.int8)


# ---------------------------------------------------------------------------
# Embeddings


def _categories(values, name, n):
    """Category names of each clip (str) and their order, for one colouring."""
    values = _as_1d(values, name, n, "embeddings")
    flat = values.tolist()
    if name == "label" and all(v in (0, 1) or v is True or v is False for v in flat):
        names = np.array(["anomalous" if v else "normal" for v in flat], dtype=object)
        return names, [c for c in ("normal", "anomalous") if c in set(names)]

    def text(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            return "unknown"
        return str(v)

    names = np.array([text(v) for v in flat], dtype=object)
    present = set(names.tolist())
    order = [d for d in DOMAINS if d in present] if name == "domain" else []
    order += sorted(present - set(order) - {"unknown"})
    return names, order + (["unknown"] if "unknown" in present else [])


def _palette(n_categories):
    from matplotlib import colormaps

    if n_categories <= 10:
        return [f"C{i}" for i in range(n_categories)]
    cmap = colormaps["tab20" if n_categories <= 20 else "turbo"]
    return [cmap(i / max(1, n_categories - 1)) if n_categories > 20 else cmap(i) for i in range(n_categories)]


def plot_embedding_2d(embeddings, *, domain=None, attribute=None, label=None, method="pca", random_state=0,
                      title=None):
    """A 2-D projection of embeddings, one panel per colouring.

    The embeddings are projected once, by PCA
    (:class:`sklearn.decomposition.PCA`, two components) or t-SNE
    (:class:`sklearn.manifold.TSNE`, ``perplexity=min(30, n_clips - 1)``,
    PCA initialisation), and drawn once per colouring given: by
    ``domain``, by ``attribute`` (or auxiliary label, machine type...) and by
    ``label`` (0 and 1 are shown as normal and anomalous). Missing values
    (None, NaN, empty) are shown as ``unknown``, in grey.

    Parameters
    ----------
    embeddings : array-like of shape (n_clips, n_features)
        Finite, with at least 2 features.
    domain, attribute, label : array-like of shape (n_clips,), default=None
        The colourings; the figure has one panel per one given (one plain
        panel when none is).
    method : {"pca", "tsne"}, default="pca"
    random_state : int, RandomState instance or None, default=0
        Seeds t-SNE (and PCA's randomised solver on large inputs).
    title : str, default=None
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per colouring, titled with its name; each holds one
        scatter (``ax.collections[0]``) whose offsets are the projected
        clips in their input order.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.plotting import plot_embedding_2d
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(40, 8))
    >>> fig = plot_embedding_2d(Z, domain=["source"] * 30 + ["target"] * 10, label=[0] * 35 + [1] * 5)
    >>> [ax.get_title() for ax in fig.axes], fig.axes[0].collections[0].get_offsets().shape
    (['domain', 'label'], (40, 2))
    """
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}.")
    X = check_array(embeddings, dtype=np.float64, ensure_min_samples=2, input_name="embeddings")
    if X.shape[1] < 2:
        raise ValueError(f"embeddings needs at least 2 features for a 2-D projection; got shape {X.shape}.")
    n = X.shape[0]
    colourings = [(name, values) for name, values in (("domain", domain), ("attribute", attribute),
                                                      ("label", label)) if values is not None]
    colourings = [(name, *_categories(values, name, n)) for name, values in colourings]
    fig = _figure(figsize=(4.6 * max(1, len(colourings)), 4.3))  # checks matplotlib before the projection

    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=random_state)
        points = pca.fit_transform(X)
        ratio = pca.explained_variance_ratio_
        axis_labels = [f"PC {i + 1} ({100 * ratio[i]:.1f} % of variance)" for i in range(2)]
    else:
        from sklearn.manifold import TSNE

        points = TSNE(n_components=2, perplexity=min(30.0, n - 1.0), init="pca",
                      random_state=random_state).fit_transform(X)
        axis_labels = ["t-SNE 1", "t-SNE 2"]

    axes = fig.subplots(1, max(1, len(colourings)), squeeze=False)[0]
    if not colourings:
        axes[0].scatter(points[:, 0], points[:, 1], s=12, color="C0", alpha=0.8, linewidths=0)
        axes[0].set(title="embeddings", xlabel=axis_labels[0], ylabel=axis_labels[1])
    from matplotlib.lines import Line2D

    for ax, (name, names, order) in zip(axes, colourings):
        colors = dict(zip([c for c in order if c != "unknown"], _palette(len(order) - ("unknown" in order))))
        colors["unknown"] = "0.75"
        ax.scatter(points[:, 0], points[:, 1], s=12, c=[colors[c] for c in names], alpha=0.8, linewidths=0)
        shown = order[:20]
        handles = [Line2D([], [], ls="", marker="o", color=colors[c], label=f"{c} ({np.count_nonzero(names == c)})")
                   for c in shown]
        if len(order) > len(shown):
            handles.append(Line2D([], [], ls="", label=f"... {len(order) - len(shown)} more"))
        ax.legend(handles=handles, fontsize=7, loc="best", ncol=1 + (len(handles) > 10))
        ax.set(title=name, xlabel=axis_labels[0], ylabel=axis_labels[1])
    _title(fig, title)
    return fig


# ---------------------------------------------------------------------------
# Fitted estimators


def _check_type(estimator, expected, function):
    if not isinstance(estimator, expected):
        raise TypeError(f"{function} expects a fitted {expected.__name__}; got {type(estimator).__name__}.")


def _cut_height(ward, Z, k):
    """A height that cuts the tree ``Z`` into ``k`` clusters."""
    heights = np.sort(Z[:, 2])
    n = len(Z) + 1
    if getattr(ward, "n_clusters", "auto") is None and getattr(ward, "distance_threshold", None) is not None:
        return float(ward.distance_threshold)
    if k <= 1:
        return float(heights[-1] * 1.05) if heights[-1] > 0 else 1.0
    if k >= n:
        return float(heights[0] / 2)
    return float((heights[n - k - 1] + heights[n - k]) / 2)


def plot_dendrogram(ward, machine=None, *, truncate_level=None, title=None):
    """The Ward dendrogram of one machine type, with its cut into pseudo-attributes.

    Draws :func:`scipy.cluster.hierarchy.dendrogram` of
    ``ward.linkage_matrix(machine)`` and a horizontal line at a height that
    cuts the tree into the ``ward.n_clusters_[machine]`` clusters chosen
    (halfway between the merge distances around the cut, or
    ``distance_threshold`` when the tree was cut by distance); branches
    below the cut are coloured by cluster.

    Parameters
    ----------
    ward : WardPseudoAttributes
        Fitted.
    machine : str, default=None
        The machine type; None when only one machine type was clustered.
    truncate_level : int, default=None
        Show only this many levels of merges below the root (scipy's
        ``truncate_mode="level"``), for machine types with many clips.
    title : str, default=None
        Figure title; by default ``"Ward dendrogram: <machine>"``.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes; the cut is the ``Line2D`` with gid ``"cut"``.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import WardPseudoAttributes
    >>> from skasd.plotting import plot_dendrogram
    >>> rng = np.random.default_rng(0)
    >>> X = np.repeat([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]], 6, axis=0) + rng.normal(scale=0.2, size=(18, 2))
    >>> ward = WardPseudoAttributes().fit(X, machine=["fan"] * 18)
    >>> fig = plot_dendrogram(ward)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['cut: 3 clusters']
    """
    from .pseudo_labels import WardPseudoAttributes

    _check_type(ward, WardPseudoAttributes, "plot_dendrogram")
    check_is_fitted(ward, "clusterers_")
    if truncate_level is not None and (not isinstance(truncate_level, Integral) or truncate_level < 1):
        raise ValueError(f"truncate_level must be a positive int or None, got {truncate_level!r}.")
    Z = ward.linkage_matrix(machine)  # raises a clear ValueError for an unknown or missing machine
    if machine is None:
        machine = next(iter(ward.clusterers_))
    k = int(ward.n_clusters_[machine])
    fig = _figure(figsize=(8.5, 4.5))
    from scipy.cluster.hierarchy import dendrogram

    ax = fig.add_subplot()
    cut = _cut_height(ward, Z, k)
    n_leaves = len(Z) + 1
    truncate = {} if truncate_level is None else {"truncate_mode": "level", "p": int(truncate_level)}
    shown = n_leaves if truncate_level is None else min(n_leaves, 2 ** (int(truncate_level) + 1))
    dendrogram(Z, ax=ax, color_threshold=cut, above_threshold_color="0.45", no_labels=shown > 60,
               leaf_font_size=7, **truncate)
    line = ax.axhline(cut, color="k", ls="--", lw=1.2, label=f"cut: {k} cluster{'s' * (k != 1)}")
    line.set_gid("cut")
    ax.set(ylabel="Ward merge distance",
           xlabel=f"clips ({n_leaves})" + ("" if truncate_level is None else f", {truncate_level} levels shown"))
    ax.legend(loc="upper right", fontsize=8)
    _title(fig, f"Ward dendrogram: {machine}" if title is None and machine is not None else title)
    return fig


def plot_acp_history(ensemble, *, title=None):
    """The weight search of an :class:`~skasd.ACPEnsemble`, from ``history_``.

    Left: each member's weight after every iteration (the best weights so
    far, a step line per member). Right: the development score of every
    candidate (accepted ones in colour, rejected ones in grey) and of the
    best weights so far.

    Parameters
    ----------
    ensemble : ACPEnsemble
        Fitted, then :meth:`~skasd.ACPEnsemble.search_weights`.
    title : str, default=None
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two axes; on the left one, member ``m``'s line has gid
        ``"weight:<name>"`` and ``history_["weights"][:, m]`` as y data.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import ACPEnsemble, KNNScorer, MahalanobisScorer
    >>> from skasd.plotting import plot_acp_history
    >>> rng = np.random.default_rng(0)
    >>> X_dev = np.vstack([rng.normal(size=(20, 2)), rng.normal(2, 1, size=(10, 2))])
    >>> y_dev = np.r_[np.zeros(20), np.ones(10)].astype(int)
    >>> ensemble = ACPEnsemble([("knn", KNNScorer()), ("gauss", MahalanobisScorer())], scoring="auc",
    ...                        n_iter=20, random_state=0).fit(rng.normal(size=(40, 2)))
    >>> fig = plot_acp_history(ensemble.search_weights(X_dev, y_dev))
    >>> [line.get_gid() for line in fig.axes[0].get_lines()]
    ['weight:knn', 'weight:gauss']
    """
    from .ensemble import ACPEnsemble

    _check_type(ensemble, ACPEnsemble, "plot_acp_history")
    check_is_fitted(ensemble, "weights_")
    history = getattr(ensemble, "history_", None)
    if history is None:
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(
            f"This {type(ensemble).__name__} has no weight search to plot: call "
            "search_weights(X_dev, y_dev, domain=...) after fit."
        )
    names = [str(name) for name in ensemble.member_names_]
    iterations = np.asarray(history["iteration"])
    weights = np.asarray(history["weights"])
    candidates = np.asarray(history["candidate_score"], dtype=np.float64)
    accepted = np.asarray(history["accepted"], dtype=bool)
    scoring = ensemble.scoring
    scoring = "official" if scoring is None else scoring if isinstance(scoring, str) else getattr(
        scoring, "__name__", type(scoring).__name__)

    fig = _figure(figsize=(12.5, 4.2))
    left, right = fig.subplots(1, 2)
    for m, name in enumerate(names):
        line, = left.step(iterations, weights[:, m], where="post", label=name)
        line.set_gid(f"weight:{name}")
    left.set(xlabel="iteration", ylabel="weight (best so far)", ylim=(-0.02, 1.02),
             title=f"{'ACP' if ensemble.weighting == 'acp' else ensemble.weighting} weights, {len(names)} members")
    left.legend(fontsize=8)
    rejected = ~accepted & np.isfinite(candidates)
    right.scatter(iterations[rejected], candidates[rejected], s=8, color="0.7",
                  label=f"rejected candidates ({np.count_nonzero(rejected)})")
    right.scatter(iterations[accepted], candidates[accepted], s=22, color="C0",
                  label=f"accepted candidates ({np.count_nonzero(accepted)})")
    best, = right.step(iterations, history["score"], where="post", color="C0", label="best so far")
    best.set_gid("best")
    right.set(xlabel="iteration", ylabel=f"development score ({scoring})",
              title=f"final {float(history['score'][-1]):.4f}")
    right.legend(fontsize=8)
    _title(fig, title)
    return fig


def _exclusion(history):
    """Fraction excluded among the clips seen, per epoch (NaN for an epoch that saw none)."""
    seen = np.count_nonzero(history >= 0, axis=1)
    excluded = np.count_nonzero(history == 0, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, excluded / np.maximum(seen, 1), np.nan)


def plot_scan_exclusion(scan, *, anomalous=None, title=None):
    """The fraction of training clips a :class:`~skasd.ConfidentPairSCAN` excluded, per epoch.

    From ``scan.confident_history_`` (epochs x clips: 1 kept, 0 excluded,
    -1 not seen in that epoch): the excluded clips over the clips seen,
    per epoch. Epochs that selected nothing (``selection=False`` or the
    warm-up epochs, whose threshold is infinite in ``net_.history``) are
    shaded. Given which training clips are truly anomalous, also the
    precision (anomalous among the excluded) and recall (excluded among the
    anomalous clips seen) of the exclusion, and the contamination rate.

    Parameters
    ----------
    scan : ConfidentPairSCAN
        Fitted.
    anomalous : array-like of shape (n_clips,), default=None
        True (or 1) for the training clips that are anomalous, in ``fit``
        order.
    title : str, default=None
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes; the lines have gids ``"excluded"``, and with
        ``anomalous`` also ``"precision"`` and ``"recall"``; x is the epoch
        (1-based).

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import ConfidentPairSCAN
    >>> from skasd.plotting import plot_scan_exclusion
    >>> X = np.random.default_rng(0).normal(size=(32, 64)).astype("float32")
    >>> scan = ConfidentPairSCAN(
    ...     n_fft=16, hop_length=8, n_mels=4, widths=(2,), blocks=(1,), projection_dims=(4,), batch_size=16,
    ...     max_epochs=3, balance_start="shift", random_state=0, verbose=0,
    ... ).fit(X)
    >>> fig = plot_scan_exclusion(scan, anomalous=np.arange(32) < 4)
    >>> [line.get_gid() for line in fig.axes[0].get_lines()][:3]
    ['excluded', 'precision', 'recall']
    """
    from .embedding import ConfidentPairSCAN

    _check_type(scan, ConfidentPairSCAN, "plot_scan_exclusion")
    check_is_fitted(scan, "confident_history_")
    history = np.asarray(scan.confident_history_)
    if history.ndim != 2:
        raise ValueError(f"confident_history_ must be 2-D (epochs x clips); got shape {history.shape}.")
    n_epochs, n_clips = history.shape
    epochs = np.arange(1, n_epochs + 1)
    if anomalous is not None:
        anomalous = _as_1d(anomalous, "anomalous", n_clips, "the training set (confident_history_'s rows)")
        if anomalous.dtype != bool:
            if not np.isin(anomalous, (0, 1)).all():
                raise ValueError("anomalous must hold True/False or 1/0 per training clip.")
            anomalous = anomalous.astype(bool)

    fig = _figure(figsize=(6.8, 4.2))
    ax = fig.add_subplot()
    thresholds = _scan_thresholds(scan, n_epochs)
    if thresholds is not None:
        idle = ~np.isfinite(thresholds)
        for i, e in enumerate(epochs[idle]):
            ax.axvspan(e - 0.5, e + 0.5, color="0.92", zorder=0, label="no selection" if i == 0 else None)
    line, = ax.plot(epochs, _exclusion(history), "o-", color="C3", label="excluded / seen")
    line.set_gid("excluded")
    if anomalous is not None:
        seen, excluded = history >= 0, history == 0
        hits = np.count_nonzero(excluded & anomalous, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = hits / np.count_nonzero(excluded, axis=1)
            recall = hits / np.count_nonzero(seen & anomalous, axis=1)
        for name, values, style in (("precision", precision, "s--"), ("recall", recall, "^--")):
            curve, = ax.plot(epochs, values, style, lw=1.2, label=name)
            curve.set_gid(name)
        ax.axhline(anomalous.mean(), color="0.4", ls=":", lw=1, label=f"contamination {anomalous.mean():.1%}")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlim=(0.5, n_epochs + 0.5), ylim=(-0.02, 1.02), xlabel="epoch", ylabel="fraction",
           title=f"SCAN: training clips excluded per epoch ({n_clips} clips)")
    ax.legend(fontsize=8)
    _title(fig, title)
    return fig


def _scan_thresholds(scan, n_epochs):
    """The per-epoch threshold (inf: no selection) from the net's history, or None."""
    try:
        values = np.asarray(scan.net_.history[:, "threshold"], dtype=np.float64)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return None
    return values if values.shape == (n_epochs,) else None


# ---------------------------------------------------------------------------
# Saving


def save_figure(fig, path, *, dpi=120):
    """Write a figure to ``path`` (PNG unless its suffix names another format) and close it.

    Parent folders are created; the bounding box is tight. A figure made
    by pyplot is also closed there, so that loops of figures do not pile up.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or path-like
    dpi : int, default=120

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skasd.plotting import plot_roc, save_figure
    >>> folder = tempfile.mkdtemp()
    >>> path = save_figure(plot_roc([0, 1, 0, 1], [0.1, 0.9, 0.3, 0.4], None), f"{folder}/plots/roc.png")
    >>> path.name, path.stat().st_size > 0
    ('roc.png', True)
    """
    if not hasattr(fig, "savefig"):
        raise TypeError(f"save_figure expects a matplotlib Figure; got {type(fig).__name__}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as partial:  # two runs, or a failed one, never leave a mixed image
        fig.savefig(partial, dpi=dpi, bbox_inches="tight", format=path.suffix[1:].lower() or "png")
    manager = getattr(getattr(fig, "canvas", None), "manager", None)
    if manager is not None:  # made through pyplot: release it there
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path
