"""Weighted fusion of several anomaly scorers, weights found by adaptive combination perturbation."""

import hashlib
import os
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.ensemble._base import _BaseHeterogeneousEnsemble
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import PredefinedSplit
from sklearn.utils import Bunch, _safe_indexing, indexable
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import (
    _check_method_params,
    _num_samples,
    check_is_fitted,
    has_fit_parameter,
    validate_data,
)

from ..metrics import dcase_scores
from ..scoring._base import BaseScorer
from ._search import acp_weight_search

__all__ = ["ACPEnsemble", "DevelopmentOverlapWarning"]

#: ``scoring`` strings: the official DCASE score, one column of its table
#: (mean over machine types and sections), or the plain ROC AUC.
SCORING_VALUES = ("official", "auc_source", "auc_target", "pauc", "auc")
WEIGHTINGS = ("acp", "uniform", "best_single")
_METADATA = ("domain", "machine", "section")


class DevelopmentOverlapWarning(UserWarning):
    """Clips being scored were among those :meth:`ACPEnsemble.search_weights` tuned on.

    Their scores overstate what the ensemble does on new clips: the weights
    (and, with ``standardize="dev"``, the score scales) were chosen to score
    exactly these clips well. Report on held-out clips instead.
    """


def _row_fingerprints(X):
    """A 16-byte digest of each row of ``X`` (numbers as float64), to recognise clips seen before."""
    values = np.asarray(X)
    if values.ndim == 1:
        values = values[:, np.newaxis]
    values = values.reshape(len(values), -1)
    numeric = values.dtype.kind in "biuf"
    digests = []
    for row in values:
        data = np.ascontiguousarray(row, dtype=np.float64).tobytes() if numeric else repr(row.tolist()).encode()
        digests.append(hashlib.blake2b(data, digest_size=16).digest())
    return digests


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_stacklevel():
    """The ``stacklevel`` for a warning raised here that points at the first caller outside skasd."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def _check_X(estimator, X, *, reset):
    """n_features_in_ (and feature names) as scikit-learn records them; the members check the values."""
    n_dims = np.ndim(X) if isinstance(X, (list, tuple)) else getattr(X, "ndim", 2)
    if n_dims == 1:
        raise ValueError(
            "Expected a 2-D X (one row per clip), got a 1-D array instead. Reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) if it contains a "
            "single sample."
        )
    validate_data(estimator, X, skip_check_array=True, reset=reset)


def _standardization(scores):
    """Column means and deviations (ddof=0) of ``scores``; a constant column gets deviation 1."""
    mean = scores.mean(axis=0)
    scale = scores.std(axis=0)
    constant = scale <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    scale[constant] = 1.0
    return mean, scale


def _fit_member(estimator, X, y, params, message):
    started = time.perf_counter()
    estimator.fit(X, y, **params)
    if message:
        print(f"{message} ({time.perf_counter() - started:.1f} s)", flush=True)
    return estimator


def _dcase_metric(value):
    """``metric(y_true, anomaly_score, domain=None, machine=None, section=None) -> float`` for a skasd value."""

    def metric(y_true, anomaly_score, domain=None, machine=None, section=None):
        table, official = dcase_scores(y_true, anomaly_score, domain, machine, section)
        if value == "official":
            return official
        return float(np.nanmean(table[value]))

    metric.__name__ = f"dcase_{value}"
    return metric


def _auc(y_true, anomaly_score, **metadata):
    return float(roc_auc_score(y_true, anomaly_score))


class ACPEnsemble(_BaseHeterogeneousEnsemble, BaseScorer):
    """Weighted sum of several scorers' standardised anomaly scores.

    Each member is a skasd pipeline (or any estimator) ending in a scorer:
    it has ``fit`` and ``score_samples`` (higher is more normal). The
    ensemble's anomaly score of a clip ``x`` is

    ``a(x) = sum_m w_m (a_m(x) - mu_m) / sigma_m``,

    where ``a_m = -score_samples_m`` is member ``m``'s anomaly score,
    ``mu_m`` and ``sigma_m`` its mean and standard deviation over a fixed
    set of calibration clips (see ``standardize``), and the weights ``w``
    are non-negative and sum to one. Every clip is scored on its own: no
    statistic of the clips being scored enters their scores.

    Fitting has two stages, on different clips:

    1. :meth:`fit` fits (clones of) the members on the normal training
       clips, with ``y`` and the fit metadata (e.g. ``aux_label`` for an
       embedder, ``domain`` for a domain-aware scorer) routed to them, and
       sets ``weights_`` from ``init``;
    2. :meth:`search_weights` chooses the weights on a labelled development
       set (normal and anomalous clips, with their ``domain``), by
       ``weighting``:

       - ``"acp"``: adaptive combination perturbation (Wu et al.): from
         ``w_0 = init``, each iteration ``t = 0 .. n_iter - 1`` draws a
         candidate ``c = normalise(max(w + step * decay**t * e, 0))``, ``e``
         standard normal noise, ``w`` the best weights so far and
         ``normalise(v) = v / sum(v)``, scores the fused anomaly scores of
         the development clips under ``c``, and keeps ``c`` if it scores
         strictly better than ``w``;
       - ``"uniform"``: ``w_m = 1 / M``, the plain average;
       - ``"best_single"``: all weight on the member that scores best alone.

    Report on clips used in neither stage: scoring the development clips
    again (``score_samples``, ``anomaly_score``, ``decision_function``,
    ``predict``, :meth:`member_anomaly_scores`) warns with a
    :class:`DevelopmentOverlapWarning`, because the weights were chosen to
    score those clips well and their score overstates the ensemble's.

    Parameters
    ----------
    estimators : list of (str, estimator) tuples
        The members, each with ``fit`` and ``score_samples``; names are
        unique, free of ``"__"`` and no parameter's name. ``get_params`` and
        ``set_params`` reach into them (``"<name>__<step>__<param>"``), so
        :class:`~sklearn.model_selection.GridSearchCV` can tune inside them.
    weighting : {"acp", "uniform", "best_single"}, default="acp"
        How :meth:`search_weights` chooses the weights.
    init : "uniform" or array-like of shape (n_members,), default="uniform"
        The starting weights of the ACP search, and ``weights_`` after
        ``fit``: ``"uniform"`` is ``1 / M`` each; an array of non-negative
        weights (not all zero) is divided by its sum.
    n_iter : int, default=200
        ACP iterations (candidates drawn after the starting point).
    step : float, default=0.1
        Standard deviation of the first iteration's noise, in weight units
        (weights sum to one; with four members each starts at 0.25).
    decay : float in (0, 1], default=0.99
        The noise's standard deviation at iteration ``t`` is
        ``step * decay**t``: wide moves first, fine ones later.
    scoring : None, str or callable, default=None
        What the search maximises on the development clips. None or
        ``"official"``: the official DCASE score (2022-2025 definition,
        :func:`skasd.metrics.dcase_scores`; needs ``domain``);
        ``"auc_source"``, ``"auc_target"``, ``"pauc"``: that column of
        :func:`~skasd.metrics.dcase_scores`' table, averaged over machine
        types and sections; ``"auc"``: the ROC AUC over all development
        clips (needs no metadata). A callable is called as
        ``scoring(y_true, anomaly_score, **metadata)``, higher is better,
        ``anomaly_score`` higher for more anomalous clips, ``metadata``
        holding those of ``domain``, ``machine`` and ``section`` given to
        :meth:`search_weights` (e.g. :func:`skasd.metrics.official_score`
        with ``functools.partial`` for another definition, or
        :func:`sklearn.metrics.roc_auc_score` without metadata).
    standardize : {"dev", "fit"} or None, default="dev"
        The calibration clips whose member scores give ``mu_m`` and
        ``sigma_m`` (a member of constant scores there gets ``sigma_m = 1``),
        and whose fused scores set ``offset_``:

        - ``"dev"``: the normal clips of the development set, from
          :meth:`search_weights` on (after ``fit`` alone, the ``"fit"``
          statistics stand in);
        - ``"fit"``: the clips given to ``fit``, as the fitted members score
          them. With ``prefit=True`` these can be normal clips that no
          member was trained on, which is what makes them useful: a member
          scores its own training clips unlike new ones (a nearest-neighbour
          scorer finds each at distance 0 among its references), so without
          ``prefit`` use ``cv`` to score them out of fold;
        - None: no standardisation (``mu_m = 0``, ``sigma_m = 1``).
    cv : int or None, default=None
        With ``prefit=False``: the ``"fit"`` statistics come from
        out-of-fold scores, the clips given to ``fit`` being split into
        ``cv`` folds and each fold scored by clones of the members fitted
        on the others (``cv`` extra fits per member). The folds are fixed,
        not drawn: clip ``i`` is in fold ``i % cv``, so that they interleave
        the clips in their given order (source and target clips spread over
        every fold) and the statistics do not move with ``random_state``,
        which matters on small sets (10 clips make folds of 2). None: the
        fitted members score the clips they were fitted on.
    prefit : bool, default=False
        True: the members are already fitted; ``fit`` checks that they are
        and uses them as they are (not cloned) for the ``"fit"`` statistics
        and the scores, passing no metadata.
    contamination : float in (0, 0.5], default=0.1
        Fraction of the calibration clips that ``offset_`` calls outliers.
    threshold : {"percentile", "gamma"}, default="percentile"
        How ``offset_`` follows from the calibration clips' fused scores:
        their empirical quantile or that of a gamma distribution fitted to
        them (see :class:`~skasd.KNNScorer`).
    novelty : bool, default=True
        True: the fused scores of new clips, no ``fit_predict``; False: only
        ``fit_predict``, the labels of the training clips (out of fold with
        ``cv``), as :class:`~sklearn.neighbors.LocalOutlierFactor`'s flag.
    random_state : int, RandomState instance or None, default=None
        Seeds the ACP noise (a fresh generator for every
        :meth:`search_weights`, so the search is reproducible with an int).
    n_jobs : int or None, default=None
        Members fitted in parallel through joblib; None means 1.
    verbose : int, default=0
        0: silent; 1: a line per member fit and ten lines per search.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members (the given ones with ``prefit=True``).
    named_estimators_ : sklearn.utils.Bunch
        The fitted members by name.
    member_names_ : ndarray of shape (n_members,)
        The members' names, in the order of ``weights_``.
    weights_ : ndarray of shape (n_members,)
        The fusion weights, non-negative, summing to one: from ``init``
        after ``fit``, searched after :meth:`search_weights`.
    score_mean_, score_scale_ : ndarray of shape (n_members,)
        ``mu_m`` and ``sigma_m``.
    calibrated_on_ : {"fit", "dev"} or None
        Which clips gave ``score_mean_``, ``score_scale_`` and ``offset_``.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    history_ : dict of ndarray
        Set by :meth:`search_weights`, one entry per iteration (iteration 0
        is the starting point): ``"iteration"``, ``"step"`` (the noise's
        standard deviation; 0 at iteration 0), ``"candidate_weights"``
        (n_iterations, n_members), ``"candidate_score"``, ``"accepted"``,
        ``"weights"`` (the best weights after the iteration) and
        ``"score"`` (their development score). ``"uniform"`` and
        ``"best_single"`` record their one candidate.
    dev_score_ : float
        Development score of the final weights (optimistic: the weights
        were chosen on these clips).
    member_dev_scores_ : dict
        Each member's development score alone.
    n_features_in_ : int
        Columns of the ``X`` seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` had string column names.

    See Also
    --------
    sklearn.ensemble.VotingClassifier : The same composition for classifiers.
    skasd.metrics.make_dcase_scorer : Model selection with the DCASE metric.

    Notes
    -----
    ``fit`` metadata reach the members through scikit-learn's metadata
    routing: under ``sklearn.set_config(enable_metadata_routing=True)``,
    request them on the member steps that take them
    (``KMeansCosineScorer().set_fit_request(domain=True)``,
    ``MultiBranchEmbedder(...).set_fit_request(aux_label=True)``) and pass
    them to ``fit``. Without routing, a fit parameter goes to the members
    whose ``fit`` names it (a bare ``KMeansCosineScorer`` takes ``domain``;
    a pipeline takes none: enable routing); one that no member takes is an
    error. The members' ``score_samples`` get ``X`` only.

    References
    ----------
    .. [1] T. Wu, L. Han, Z. Yan, X. Cheng, J. Wen and J. Yang, "First-shot
       unsupervised anomalous sound detection for machine condition
       monitoring based on ensemble learning and domain generalization",
       DCASE 2025 Challenge technical report (Section 2, adaptive
       combination perturbation; Section 4, the uniform average as a robust
       alternative).

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import KNNScorer, MahalanobisScorer
    >>> from skasd.ensemble import ACPEnsemble
    >>> rng = np.random.default_rng(0)
    >>> X_train = rng.normal(size=(60, 2))
    >>> X_dev = np.vstack([rng.normal(size=(20, 2)), rng.normal(3, 1, size=(10, 2))])
    >>> y_dev = np.r_[np.zeros(20), np.ones(10)].astype(int)
    >>> ensemble = ACPEnsemble(
    ...     [("knn", KNNScorer(metric="sqeuclidean")), ("gauss", MahalanobisScorer())],
    ...     scoring="auc", n_iter=50, random_state=0,
    ... ).fit(X_train)
    >>> ensemble.weights_
    array([0.5, 0.5])
    >>> ensemble = ensemble.search_weights(X_dev, y_dev)
    >>> bool(np.isclose(ensemble.weights_.sum(), 1.0)), ensemble.history_["weights"].shape
    (True, (51, 2))
    >>> X_new = rng.normal(size=(5, 2))
    >>> ensemble.anomaly_score(X_new).shape
    (5,)
    """

    _parameter_constraints: dict = {
        **BaseScorer._parameter_constraints,
        "estimators": [list],
        "weighting": [StrOptions(set(WEIGHTINGS))],
        "init": [StrOptions({"uniform"}), "array-like"],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "step": [Interval(Real, 0, None, closed="neither")],
        "decay": [Interval(Real, 0, 1, closed="right")],
        "scoring": [None, StrOptions(set(SCORING_VALUES)), callable],
        "standardize": [StrOptions({"dev", "fit"}), None],
        "cv": [Interval(Integral, 2, None, closed="left"), None],
        "prefit": ["boolean"],
        "novelty": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimators,
        *,
        weighting="acp",
        init="uniform",
        n_iter=200,
        step=0.1,
        decay=0.99,
        scoring=None,
        standardize="dev",
        cv=None,
        prefit=False,
        contamination=0.1,
        threshold="percentile",
        novelty=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimators = estimators
        self.weighting = weighting
        self.init = init
        self.n_iter = n_iter
        self.step = step
        self.decay = decay
        self.scoring = scoring
        self.standardize = standardize
        self.cv = cv
        self.prefit = prefit
        self.contamination = contamination
        self.threshold = threshold
        self.novelty = novelty
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- composition -------------------------------------------------------

    def _validate_estimators(self):
        """Names and members, or a ValueError saying what is wrong with ``estimators``.

        scikit-learn's version asks for classifiers or regressors; the
        members here are scorers, and each error names the member at fault.
        """
        estimators = self.estimators
        if not isinstance(estimators, list) or len(estimators) == 0:
            raise ValueError(
                "estimators is empty: ACPEnsemble needs a non-empty list of (name, estimator) tuples, "
                f"got {estimators!r}."
            )
        for item in estimators:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
                raise ValueError(f"estimators must hold (name, estimator) tuples with str names; got {item!r}.")
        names = [name for name, _ in estimators]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"estimators has duplicate names {duplicates}: every member needs its own name.")
        with_separator = [name for name in names if "__" in name or not name]
        if with_separator:
            raise ValueError(
                f"estimators names must be non-empty and must not contain '__' (it separates a member's name "
                f"from its parameters in set_params); got {with_separator}."
            )
        clashes = sorted(set(names) & set(self.get_params(deep=False)))
        if clashes:
            raise ValueError(f"estimators names {clashes} clash with ACPEnsemble's own parameters; rename them.")
        members = [estimator for _, estimator in estimators]
        for name, estimator in zip(names, members):
            if isinstance(estimator, type):
                raise TypeError(
                    f"member {name!r} is a class ({estimator.__name__}); pass an instance ({estimator.__name__}())."
                )
            if not (hasattr(estimator, "fit") and hasattr(estimator, "score_samples")):
                raise ValueError(
                    f"member {name!r} ({type(estimator).__name__}) has no fit and score_samples: every member must "
                    "be an estimator (or a pipeline) ending in a scorer."
                )
        return names, members

    def get_metadata_routing(self):
        """Get the metadata routing of this object.

        Each member's ``fit`` receives the fit metadata it requests; the
        ensemble consumes none itself (the development metadata go straight
        to :meth:`search_weights`).

        Returns
        -------
        routing : MetadataRouter
        """
        router = MetadataRouter(owner=self)
        for name, estimator in self.estimators:
            router.add(**{name: estimator}, method_mapping=MethodMapping().add(caller="fit", callee="fit"))
        return router

    def _route_fit_params(self, names, members, fit_params):
        if _routing_enabled():
            routed = process_routing(self, "fit", **fit_params)
            return {name: dict(routed[name].fit) for name in names}
        routed = {name: {} for name in names}
        used = set()
        for name, member in zip(names, members):
            for key, value in fit_params.items():
                if has_fit_parameter(member, key):
                    routed[name][key] = value
                    used.add(key)
        unused = sorted(set(fit_params) - used)
        if unused:
            raise ValueError(
                f"fit got {unused}, which no member's fit takes by name. To pass metadata into pipelines, "
                "enable metadata routing (sklearn.set_config(enable_metadata_routing=True)) and request it on "
                "the steps that take it (e.g. step.set_fit_request(domain=True))."
            )
        return routed

    # -- fitting -----------------------------------------------------------

    def _initial_weights(self, n_members):
        if isinstance(self.init, str):
            return np.full(n_members, 1.0 / n_members)
        weights = np.asarray(self.init, dtype=np.float64)
        if weights.shape != (n_members,):
            raise ValueError(f"init has shape {weights.shape}; expected one weight per member, ({n_members},).")
        if not np.all(np.isfinite(weights)) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"init must hold finite non-negative weights, not all zero; got {weights.tolist()}.")
        return weights / weights.sum()

    @_fit_context(
        # the members are validated by their own fit
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y=None, **fit_params):
        """Fit the members on normal training clips; set the weights from ``init``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Normal training clips, as the members take them (waveforms for
            pipelines that start with a feature step). With ``prefit=True``,
            the clips for the ``"fit"`` statistics.
        y : array-like of shape (n_clips,), default=None
            Passed on to every member's ``fit`` (e.g. the auxiliary labels an
            embedder learns); scorers ignore it.
        **fit_params : dict
            Fit metadata for the members (e.g. ``domain``, ``aux_label``),
            routed as the Notes of the class describe. Not allowed with
            ``prefit=True``.

        Returns
        -------
        self : ACPEnsemble
        """
        names, members = self._validate_estimators()
        _check_X(self, X, reset=True)
        weights = self._initial_weights(len(names))
        if self.prefit and fit_params:
            raise ValueError(
                f"fit got metadata {sorted(fit_params)} with prefit=True, but the members are not fitted "
                "again: drop them, or use prefit=False."
            )
        routed = self._route_fit_params(names, members, fit_params)
        if self.prefit:
            for name, member in zip(names, members):
                check_is_fitted(member, msg=f"member {name!r} is not fitted; with prefit=True, fit it first.")
            fitted = list(members)
        else:
            fitted = Parallel(n_jobs=self.n_jobs)(
                delayed(_fit_member)(
                    clone(member),
                    X,
                    y,
                    routed[name],
                    f"[ACPEnsemble] ({index} of {len(names)}) fitted {name!r}" if self.verbose else None,
                )
                for index, (name, member) in enumerate(zip(names, members), start=1)
            )
        self.estimators_ = fitted
        self.named_estimators_ = Bunch(**dict(zip(names, fitted)))
        self.member_names_ = np.asarray(names, dtype=object)
        self.weights_ = weights
        if self.cv is not None and not self.prefit:
            fit_scores = self._out_of_fold_scores(X, y, names, members, routed)
        else:
            fit_scores = self._member_scores(X)
        # Kept: search_weights recalibrates on them unless standardize="dev".
        self._fit_scores = fit_scores
        for name in ("history_", "dev_score_", "member_dev_scores_"):
            self.__dict__.pop(name, None)
        self._dev_fingerprints = frozenset()
        self._set_scaling(fit_scores, "fit")
        self._set_offset(self._fuse(fit_scores))
        return self

    @available_if(BaseScorer._fit_predict_available)
    def fit_predict(self, X, y=None, **fit_params):
        """Fit, then label the training clips: -1 for outliers, +1 for inliers.

        Only with ``novelty=False``. With ``cv`` (and ``prefit=False``), each
        clip is labelled by its out-of-fold score, as
        :class:`~sklearn.neighbors.LocalOutlierFactor` and skasd's
        nearest-neighbour scorers label each training clip without itself: a
        clip among a member's references would look normal to it whatever it
        is. Otherwise ``fit(X).predict(X)``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Training clips.
        y : array-like of shape (n_clips,), default=None
            Passed on to the members' ``fit``.
        **fit_params : dict
            Fit metadata, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_clips,)
        """
        self.fit(X, y, **fit_params)
        if self.cv is not None and not self.prefit:
            scores = -self._fuse(self._fit_scores)
        else:
            scores = -self._fuse(self._member_scores(X))
        return np.where(scores - self.offset_ < 0, -1, 1)

    def _out_of_fold_scores(self, X, y, names, members, routed):
        n_clips = _num_samples(X)
        if n_clips < self.cv:
            raise ValueError(f"cv={self.cv} folds need at least {self.cv} clips in fit; got {n_clips}.")
        X, y = indexable(X, y)
        scores = np.empty((n_clips, len(names)))
        for train, held_out in PredefinedSplit(np.arange(n_clips) % self.cv).split():
            y_train = None if y is None else _safe_indexing(y, train)
            fold = [
                clone(member).fit(
                    _safe_indexing(X, train), y_train, **_check_method_params(X, routed[name], indices=train)
                )
                for name, member in zip(names, members)
            ]
            scores[held_out] = self._member_scores(_safe_indexing(X, held_out), fold)
        return scores

    def _member_scores(self, X, members=None):
        """Raw anomaly scores, (n_clips, n_members); ValueErrors for ragged or non-finite scores."""
        members = self.estimators_ if members is None else members
        names = list(self.member_names_)
        n_clips = _num_samples(X)
        columns = []
        for name, member in zip(names, members):
            scores = np.asarray(member.score_samples(X), dtype=np.float64)
            if scores.ndim == 2 and scores.shape[1] == 1:
                scores = scores[:, 0]
            if scores.ndim != 1:
                raise ValueError(
                    f"member {name!r}: score_samples returned shape {scores.shape}; expected (n_clips,)."
                )
            columns.append(scores)
        lengths = {name: len(scores) for name, scores in zip(names, columns)}
        if any(length != n_clips for length in lengths.values()):
            raise ValueError(
                f"the members' scores have different lengths {lengths} for X of {n_clips} clips: every member "
                "must score each clip once."
            )
        for name, scores in zip(names, columns):
            bad = np.flatnonzero(~np.isfinite(scores))
            if len(bad):
                raise ValueError(
                    f"member {name!r} produced {len(bad)} NaN or infinite score(s) of {n_clips} (rows "
                    f"{bad[:5].tolist()}{', ...' if len(bad) > 5 else ''}): fix or drop that member."
                )
        return -np.column_stack(columns)

    def _scaling(self, scores, source):
        """``(score_mean_, score_scale_, calibrated_on_)`` from the raw anomaly scores of calibration clips."""
        if self.standardize is None:
            return np.zeros(scores.shape[1]), np.ones(scores.shape[1]), None
        return (*_standardization(scores), source)

    def _set_scaling(self, scores, source):
        self.score_mean_, self.score_scale_, self.calibrated_on_ = self._scaling(scores, source)

    def _fuse(self, raw_scores, weights=None):
        weights = self.weights_ if weights is None else weights
        # Summed row by row, not by a matrix-vector product, whose float64 rounding depends on how many rows it
        # is given: a clip's fused score is then the same alone and among others.
        return np.sum((raw_scores - self.score_mean_) / self.score_scale_ * weights, axis=1)

    # -- the weight search -------------------------------------------------

    def _metric(self, metadata):
        scoring = "official" if self.scoring is None else self.scoring
        if callable(scoring):
            return scoring
        if scoring == "auc":
            return _auc
        if metadata.get("domain") is None:
            raise ValueError(
                f"search_weights needs domain ('source' or 'target' per development clip) for "
                f"scoring={self.scoring!r}, which scores with the DCASE 2022-2025 metric; pass domain=..., or "
                "use scoring='auc' or a callable."
            )
        return _dcase_metric(scoring)

    @_fit_context(prefer_skip_nested_validation=True)
    def search_weights(self, X, y, *, domain=None, machine=None, section=None):
        """Choose the weights on labelled development clips, by ``weighting``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Development clips, normal and anomalous, none of them training
            clips of the members; as the members take them.
        y : array-like of shape (n_clips,)
            1 for anomalous, 0 for normal clips; both must occur.
        domain, machine, section : array-like of shape (n_clips,), default=None
            Metadata of the development clips for ``scoring`` (the official
            score needs ``domain``; ``machine`` and ``section`` group the
            clips as :func:`skasd.metrics.dcase_scores` does).

        Returns
        -------
        self : ACPEnsemble
        """
        check_is_fitted(self)
        _check_X(self, X, reset=False)
        n_clips = _num_samples(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_clips:
            raise ValueError(f"y must be 1-D with one label per development clip ({n_clips}); got shape {y.shape}.")
        if not np.isin(y, (0, 1)).all():
            found = sorted(set(np.unique(y).tolist()) - {0, 1}, key=str)
            raise ValueError(f"y must hold 1 (anomalous) and 0 (normal) only; found {found}.")
        y = y.astype(np.int8)
        if len(np.unique(y)) < 2:
            kind = "anomalous" if n_clips and y[0] == 1 else "normal"
            raise ValueError(
                f"y has a single class (all {n_clips} development clips are {kind}): searching weights needs "
                "normal (0) and anomalous (1) development clips."
            )
        metadata = {name: value for name, value in zip(_METADATA, (domain, machine, section)) if value is not None}
        metric = self._metric(metadata)
        raw = self._member_scores(X)
        if self.standardize == "dev":
            calibration, source = raw[y == 0], "dev"
            if len(calibration) < 2:
                raise ValueError(
                    f"standardize='dev' needs at least 2 normal development clips for the score scales; got "
                    f"{len(calibration)}."
                )
        else:
            calibration, source = self._fit_scores, "fit"
        mean, scale, calibrated_on = self._scaling(calibration, source)
        standardized = (raw - mean) / scale
        names = list(self.member_names_)
        n_members = len(names)

        def evaluate(weights):
            return float(metric(y, standardized @ weights, **metadata))

        member_dev_scores = {name: evaluate(np.eye(n_members)[m]) for m, name in enumerate(names)}
        if self.weighting == "acp":
            _, history = acp_weight_search(
                evaluate,
                self._initial_weights(n_members),
                n_iter=self.n_iter,
                step=self.step,
                decay=self.decay,
                random_state=self.random_state,
                verbose=self.verbose,
                label="ACPEnsemble",
            )
        else:
            if self.weighting == "uniform":
                weights = np.full(n_members, 1.0 / n_members)
            else:
                best = int(np.argmax([member_dev_scores[name] for name in names]))
                weights = np.eye(n_members)[best]
            score = evaluate(weights)
            history = {
                "iteration": np.zeros(1, dtype=int),
                "step": np.zeros(1),
                "candidate_weights": weights[np.newaxis].copy(),
                "candidate_score": np.array([score]),
                "accepted": np.ones(1, dtype=bool),
                "weights": weights[np.newaxis].copy(),
                "score": np.array([score]),
            }
        self.score_mean_, self.score_scale_, self.calibrated_on_ = mean, scale, calibrated_on
        self.member_dev_scores_ = member_dev_scores
        self.history_ = history
        self.weights_ = history["weights"][-1].copy()
        self.dev_score_ = float(history["score"][-1])
        self._set_offset(self._fuse(calibration))
        self._dev_fingerprints = frozenset(_row_fingerprints(X))
        return self

    # -- scoring -----------------------------------------------------------

    def _warn_if_tuned_on(self, X, method):
        if not self._dev_fingerprints:
            return
        seen = sum(digest in self._dev_fingerprints for digest in _row_fingerprints(X))
        if seen:
            what = "the weights and score scales" if self.calibrated_on_ == "dev" else "the weights"
            warnings.warn(
                f"{seen} of the {_num_samples(X)} clips passed to ACPEnsemble.{method} are development clips "
                f"that search_weights chose {what} on: their scores overstate what the ensemble does on new "
                "clips. Report on held-out clips (docs/ensemble.md).",
                DevelopmentOverlapWarning,
                stacklevel=_caller_stacklevel(),
            )

    def member_anomaly_scores(self, X, *, standardized=True):
        """Each member's anomaly scores, standardised as the fusion uses them.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Clips, as the members take them.
        standardized : bool, default=True
            True: ``(a_m - score_mean_) / score_scale_``; False: the raw
            ``a_m = -score_samples_m``.

        Returns
        -------
        scores : ndarray of shape (n_clips, n_members)
            Columns in the order of ``member_names_``; the ensemble's
            anomaly score is ``scores @ weights_`` (standardised).
        """
        check_is_fitted(self)
        _check_X(self, X, reset=False)
        self._warn_if_tuned_on(X, "member_anomaly_scores")
        raw = self._member_scores(X)
        return (raw - self.score_mean_) / self.score_scale_ if standardized else raw

    @available_if(BaseScorer._scoring_available)
    def score_samples(self, X):
        """Opposite of the fused anomaly score: higher for more normal clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Clips, as the members take them.

        Returns
        -------
        scores : ndarray of shape (n_clips,), float64
            ``-member_anomaly_scores(X) @ weights_``.
        """
        check_is_fitted(self)
        _check_X(self, X, reset=False)
        self._warn_if_tuned_on(X, "score_samples")
        return -self._fuse(self._member_scores(X))
