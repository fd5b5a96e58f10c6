"""Domain-wise standardisation of any outlier estimator's anomaly scores."""

import warnings

import numpy as np
from sklearn.base import MetaEstimatorMixin, _fit_context, clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.validation import _num_samples, check_is_fitted, has_fit_parameter, validate_data

from ._base import BaseScorer

__all__ = ["DomainStandardizedScorer"]


def check_domain(domain, n_clips, name="domain"):
    """``domain`` as a 1-D object array of ``n_clips`` labels, or a clear error."""
    values = np.asarray(domain, dtype=object)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one label per clip; got shape {values.shape}.")
    if len(values) != n_clips:
        raise ValueError(f"{name} has {len(values)} values but X has {n_clips} clips.")
    return values


def _check_group_sizes(groups, where):
    """The distinct labels and each clip's label index; an error for a label on 1 clip.

    ``groups=None``: no domain was given, and all ``where`` is one group.
    """
    if groups is None:
        raise ValueError(
            f"{where} has a single clip (n_samples=1) and no domain: all clips form one domain, "
            "and standardising its scores needs at least 2 clips per domain."
        )
    labels, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    for label, count in zip(labels, counts):
        if count < 2:
            raise ValueError(
                f"domain {label!r} has a single clip (n_samples={count}) in {where}; "
                "standardising its scores needs at least 2 clips per domain."
            )
    return labels, inverse


def _standardize_by_group(scores, groups, where):
    """``(scores - mean) / std`` within each group of clips (std with ddof=0).

    ``groups=None`` standardises all clips as one group. A group of
    constant scores (std 0, up to rounding) gets 0 for all its clips, as
    :class:`~sklearn.preprocessing.StandardScaler` gives a constant feature.
    """
    standardized = np.empty_like(scores)
    if groups is None and len(scores) >= 2:
        groups = np.zeros(len(scores), dtype=np.intp)
    labels, inverse = _check_group_sizes(groups, where)
    for index in range(len(labels)):
        members = inverse == index
        mean = scores[members].mean()
        std = scores[members].std()
        if std <= 10 * np.finfo(np.float64).eps * abs(mean):  # constant, up to rounding
            standardized[members] = 0.0
        else:
            standardized[members] = (scores[members] - mean) / std
    return standardized


class DomainStandardizedScorer(MetaEstimatorMixin, BaseScorer):
    """Standardise an outlier estimator's anomaly scores within each domain.

    Domain-wise standardisation of the test score distributions, the
    approach of Saengthong and Shinozaki [2]_ compared in Wilkinghoff et
    al. [1]_ (Section V-A, Table II): the wrapped estimator's anomaly scores
    ``a(x) = -estimator_.score_samples(x)`` of the clips being scored are
    standardised separately within each domain ``d``, with the mean and the
    standard deviation of *those clips'* scores in that domain::

        z(x) = (a(x) - mean_d(a)) / std_d(a)

    so that the source and target score distributions are aligned.
    ``anomaly_score`` is ``z`` and ``score_samples`` is ``-z``.

    .. warning::

       **Test clips are not scored independently.** A clip's score depends
       on the other clips of its domain scored in the same call: scoring
       clips one by one, or in different batches, gives different scores.
       Every domain present needs **at least 2 clips** in each call
       (``ValueError`` otherwise). Wilkinghoff et al. list this as the
       method's main restriction for real-world use (Table III).

    Because the statistics come from the scored clips, every scoring method
    takes their ``domain``: ``score_samples(X, domain)``,
    ``decision_function(X, domain)``, ``predict(X, domain)`` and
    ``anomaly_score(X, domain)``. Any labels work (``"source"`` /
    ``"target"``, or section-domain pairs); clips sharing a label are
    standardised together.

    **Without domain** (``domain=None``) all clips of a call form one
    domain and are standardised together, with a ``UserWarning``: one mean
    and one standard deviation for all scores is an increasing affine map,
    which changes no ranking, so the scores then rank the clips exactly as
    the wrapped estimator's do (every AUC and pAUC is the wrapped
    estimator's; the scale differs, and ``predict`` flags clips relative to
    the batch scored). This keeps the estimator usable where no domain can
    be passed (plain :func:`~sklearn.model_selection.cross_validate`,
    scikit-learn's scorers and estimator checks), and the warning says
    that what is evaluated there is the wrapped estimator, not the
    domain-wise standardisation.

    Parameters
    ----------
    estimator : estimator object, default=None
        An outlier estimator with ``fit`` and ``score_samples`` (higher for
        more normal clips), e.g. any skasd scorer,
        :class:`~sklearn.neighbors.LocalOutlierFactor` with
        ``novelty=True``, :class:`~sklearn.ensemble.IsolationForest` or a
        :class:`~sklearn.pipeline.Pipeline` ending in one. It is cloned in
        ``fit``. ``None`` means ``MahalanobisScorer()``.
    contamination : float in (0, 0.5], default=0.1
        Fraction of training clips ``predict`` would call anomalous.
    threshold : {"percentile", "gamma"}, default="percentile"
        The quantile that sets ``offset_``: empirical, or of a fitted gamma
        distribution (see :class:`KNNScorer`).

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``.
    offset_ : float
        ``decision_function = score_samples - offset_``. Computed from the
        training clips' scores by ``estimator_.score_samples`` (in-sample),
        standardised per training domain with the training clips' own
        statistics, exactly as scoring the training set with its domains
        would: ``predict(X_train, domain_train)`` flags a fraction
        ``contamination`` of it.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    MahalanobisScorer : The default wrapped estimator.
    KMeansCosineScorer : Domain generalisation through per-domain centres instead.

    Notes
    -----
    **Metadata routing.** ``predict`` and ``decision_function`` are routable
    methods in scikit-learn: ``set_predict_request(domain=True)`` and
    ``set_decision_function_request(domain=True)`` let a
    :class:`~sklearn.pipeline.Pipeline` pass ``domain`` to them
    (``pipe.decision_function(X, domain=domain)`` under
    ``sklearn.set_config(enable_metadata_routing=True)``). ``score_samples``
    is not a routable method (scikit-learn 1.9), so ``Pipeline.score_samples``
    cannot pass ``domain``, and neither can scikit-learn's scorers, which
    call the response method with ``X`` only: a scorer of
    :func:`skasd.metrics.make_dcase_scorer` gets the scores without domain
    (one domain, with the ``UserWarning``), whose ranking is the wrapped
    estimator's, so tuning this estimator with it in
    :class:`~sklearn.model_selection.GridSearchCV` or ``cross_validate``
    tunes the wrapped estimator only. Evaluate the standardisation by hand
    instead: ``dcase_scores(y, model.anomaly_score(X, domain), domain)``.

    In ``fit``, ``domain`` is used for the training statistics behind
    ``offset_`` (``None``: one domain), and it is passed on to the wrapped
    estimator's ``fit``: with metadata routing enabled when that estimator
    requests it (``estimator.set_fit_request(domain=True)``, this
    estimator's ``set_fit_request(domain=True)`` for its own use); without
    routing when the wrapped ``fit`` has a ``domain`` parameter.

    References
    ----------
    .. [1] K. Wilkinghoff et al., "Local Density-Based Anomaly Score
       Normalization for Domain Generalization", Section V-A, Tables II and III.
    .. [2] P. Saengthong and T. Shinozaki, "Deep generic representations for
       domain-generalized anomalous sound detection", Proc. ICASSP, 2025.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import DomainStandardizedScorer
    >>> rng = np.random.default_rng(0)
    >>> X_train = np.vstack([rng.normal(0, 1, size=(50, 2)), rng.normal(3, 1, size=(5, 2))])
    >>> scorer = DomainStandardizedScorer().fit(X_train)
    >>> X_test = np.vstack([rng.normal(0, 1, size=(4, 2)), rng.normal(3, 1, size=(4, 2))])
    >>> domain = np.array(["source"] * 4 + ["target"] * 4)
    >>> z = scorer.anomaly_score(X_test, domain=domain)
    >>> print(round(z[:4].mean(), 6) + 0.0, round(z[:4].std(), 6))
    0.0 1.0

    Without domain, all clips are standardised together: a warning, and
    the wrapped estimator's ranking.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     z_all = scorer.anomaly_score(X_test)
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    No domain was given to DomainStandardizedScorer.anomaly_score: all clips of X are taken as one domain...
    >>> raw = scorer.estimator_.anomaly_score(X_test)
    >>> bool((np.argsort(z_all) == np.argsort(raw)).all())
    True
    """

    _parameter_constraints: dict = {
        **BaseScorer._parameter_constraints,
        "estimator": [HasMethods(["fit", "score_samples"]), None],
    }

    def __init__(self, estimator=None, *, contamination=0.1, threshold="percentile"):
        self.estimator = estimator
        self.contamination = contamination
        self.threshold = threshold

    def _get_estimator(self):
        if self.estimator is None:
            from ._mahalanobis import MahalanobisScorer

            return MahalanobisScorer()
        return self.estimator

    @_fit_context(
        # estimator is not validated yet
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y=None, domain=None):
        """Fit the wrapped estimator and set ``offset_`` from the training scores.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Training clips, as the wrapped estimator takes them.
        y : None
            Passed on to the wrapped estimator's ``fit``; outlier estimators
            ignore it.
        domain : array-like of shape (n_clips,), default=None
            Domain of each training clip, for ``offset_`` (each needs at
            least 2 clips) and, where requested, for the wrapped estimator.
            ``None``: all clips form one domain.

        Returns
        -------
        self : object
            This scorer.
        """
        validate_data(self, X, skip_check_array=True)
        n_clips = _num_samples(X)
        groups = None if domain is None else check_domain(domain, n_clips)
        if n_clips >= 2 and groups is not None:  # (fewer: the wrapped estimator's own error is clearer)
            _check_group_sizes(groups, "the training clips")
        estimator = clone(self._get_estimator())
        if _routing_enabled():
            metadata = {} if domain is None else {"domain": domain}
            fit_params = process_routing(self, "fit", **metadata).estimator.fit
        elif domain is not None and has_fit_parameter(estimator, "domain"):
            fit_params = {"domain": domain}
        else:
            fit_params = {}
        self.estimator_ = estimator.fit(X, y, **fit_params)
        training_scores = -np.asarray(self.estimator_.score_samples(X), dtype=np.float64)
        self._set_offset(_standardize_by_group(training_scores, groups, "the training clips"))
        return self

    def _standardized(self, X, domain, method):
        check_is_fitted(self)
        # The wrapped estimator validates X (NaN, shape) with its own rules.
        scores = -np.asarray(self.estimator_.score_samples(X), dtype=np.float64)
        validate_data(self, X, skip_check_array=True, reset=False)
        if domain is None:
            warnings.warn(
                f"No domain was given to {type(self).__name__}.{method}: all clips of X are taken as "
                "one domain and standardised together. That is one increasing affine map of the wrapped "
                "estimator's anomaly scores, so without domains the standardisation does not change the "
                "ranking (every AUC is the wrapped estimator's). Pass the domain of each clip as "
                f"{method}(X, domain=domain) to standardise each domain with its own statistics (for "
                "predict and decision_function also through metadata routing, with "
                "set_predict_request(domain=True) / set_decision_function_request(domain=True)).",
                UserWarning,
                stacklevel=3,
            )
            groups = None
        else:
            groups = check_domain(domain, _num_samples(X))
        return _standardize_by_group(scores, groups, "X")

    def score_samples(self, X, domain=None):
        """Opposite of the domain-wise standardised anomaly scores: higher is more normal.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Clips to score, as the wrapped estimator takes them.
        domain : array-like of shape (n_clips,), default=None
            Domain of each clip. Each domain present needs at least 2
            clips. None: all clips form one domain, with a ``UserWarning``
            (the scores then rank the clips as the wrapped estimator's).

        Returns
        -------
        scores : ndarray of shape (n_clips,)
            ``-z``, float64; within each domain, mean 0 and standard
            deviation 1 (0 for a domain of constant scores).
        """
        return -self._standardized(X, domain, "score_samples")

    def anomaly_score(self, X, domain=None):
        """Domain-wise standardised anomaly scores: higher is more anomalous.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Clips to score.
        domain : array-like of shape (n_clips,), default=None
            Domain of each clip. None: all clips form one domain, with a
            ``UserWarning``.

        Returns
        -------
        scores : ndarray of shape (n_clips,)
            ``z = -score_samples(X, domain)``.
        """
        return self._standardized(X, domain, "anomaly_score")

    def decision_function(self, X, domain=None):
        """Shifted opposite of the standardised anomaly score: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Clips to score.
        domain : array-like of shape (n_clips,), default=None
            Domain of each clip. None: all clips form one domain, with a
            ``UserWarning``.

        Returns
        -------
        decision : ndarray of shape (n_clips,)
            ``score_samples(X, domain) - offset_``.
        """
        return self._decision(X, domain, "decision_function")

    def _decision(self, X, domain, method):
        return -self._standardized(X, domain, method) - self.offset_

    def predict(self, X, domain=None):
        """-1 for clips judged anomalous, +1 for normal ones.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Clips to score.
        domain : array-like of shape (n_clips,), default=None
            Domain of each clip. None: all clips form one domain, with a
            ``UserWarning``.

        Returns
        -------
        labels : ndarray of shape (n_clips,)
        """
        return np.where(self._decision(X, domain, "predict") < 0, -1, 1)

    def fit_predict(self, X, y=None, domain=None):
        """Fit, then label the training clips: -1 for anomalous, +1 for normal.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Training clips.
        y : None
            Passed on to ``fit``.
        domain : array-like of shape (n_clips,), default=None
            Domain of each clip. ``None``: all clips form one domain, with
            a ``UserWarning`` (from ``predict``).

        Returns
        -------
        labels : ndarray of shape (n_clips,)
        """
        self.fit(X, y, domain=domain)
        return self.predict(X, domain)

    def get_metadata_routing(self):
        """Get the metadata routing of this object.

        ``domain`` is consumed by this estimator (``fit``, ``predict``,
        ``decision_function``) and routed to the wrapped estimator's ``fit``.

        Returns
        -------
        routing : MetadataRouter
            The routing information.
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                estimator=self._get_estimator(),
                method_mapping=MethodMapping().add(caller="fit", callee="fit"),
            )
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self._get_estimator())
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags
