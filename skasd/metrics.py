"""The DCASE Task 2 evaluation metric and scorers for model selection.

Anomaly scores follow the DCASE convention: higher is more anomalous. Labels
are 1 for anomalous and 0 for normal clips.
"""

import sys
import warnings

import numpy as np
import pandas as pd
from scipy.stats import hmean
from sklearn.metrics import auc, make_scorer, roc_auc_score, roc_curve

from .utils._validation import check_labels_and_scores

__all__ = [
    "DEFINITIONS",
    "dcase_scores",
    "make_dcase_scorer",
    "official_score",
    "partial_auc",
]

#: The metric definitions by challenge year. 2022-2025 share one definition.
DEFINITIONS = ("2020", "2021", "2022", "2023", "2024", "2025")

DOMAINS = ("source", "target")

# The official evaluator clips every value at machine epsilon before the
# harmonic mean, so that one AUC of 0 does not make the score 0 or undefined.
_EPSILON = sys.float_info.epsilon


def partial_auc(y_true, anomaly_score, *, max_fpr=0.1, standardized=True):
    """Area under the ROC curve for false-positive rates in [0, ``max_fpr``].

    Parameters
    ----------
    y_true : array-like of shape (n_clips,)
        1 for anomalous, 0 for normal clips.
    anomaly_score : array-like of shape (n_clips,)
        Higher is more anomalous.
    max_fpr : float in (0, 1], default=0.1
        The DCASE Task 2 value is p = 0.1.
    standardized : bool, default=True
        True: McClish's standardisation, ``0.5 * (1 + (A - p^2/2) / (p - p^2/2))``
        with ``A`` the partial area, which maps a random scorer to 0.5 and a
        perfect one to 1; this is what the official evaluator and
        ``sklearn.metrics.roc_auc_score(max_fpr=p)`` compute. False: the raw
        normalised area ``A / p``, in [0, 1], a random scorer giving ``p / 2``.

    Returns
    -------
    pauc : float

    References
    ----------
    .. [1] D. K. McClish, "Analyzing a portion of the ROC curve", Medical
       Decision Making 9(3), 1989.

    Examples
    --------
    >>> from skasd.metrics import partial_auc
    >>> y, s = [0, 0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8, 0.3]
    >>> round(partial_auc(y, s), 4), round(partial_auc(y, s, standardized=False), 4)
    (0.7368, 0.5)
    """
    if not 0 < max_fpr <= 1:
        raise ValueError(f"max_fpr must be in (0, 1], got {max_fpr!r}.")
    y_true, anomaly_score = check_labels_and_scores(y_true, anomaly_score)
    fpr, tpr, _ = roc_curve(y_true, anomaly_score, drop_intermediate=False)
    # Keep the curve up to max_fpr: every point with fpr <= max_fpr (the
    # highest tpr among points at exactly max_fpr included), then the
    # straight segment towards the next point, cut at max_fpr.
    stop = np.searchsorted(fpr, max_fpr, side="right")
    if stop < len(fpr):
        cut_tpr = np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1])
        fpr = np.append(fpr[:stop], max_fpr)
        tpr = np.append(tpr[:stop], cut_tpr)
    area = auc(fpr, tpr)
    if not standardized:
        return float(area / max_fpr)
    chance_area = 0.5 * max_fpr**2
    return float(0.5 * (1 + (area - chance_area) / (max_fpr - chance_area)))


def _definition(definition):
    definition = str(definition)
    if definition not in DEFINITIONS:
        raise ValueError(f"definition must be one of {DEFINITIONS}, got {definition!r}.")
    return "2023" if definition in ("2022", "2024", "2025") else definition


def _group_column(values, name, n_clips):
    if values is None:
        return np.full(n_clips, "all", dtype=object)
    values = np.asarray(values, dtype=object).ravel()
    if len(values) != n_clips:
        raise ValueError(f"{name} has {len(values)} values but y_true has {n_clips}.")
    return values


def _section_values(y_true, anomaly_score, domain, definition, max_fpr, standardized, where):
    """The metric's values for one machine type and section, as an ordered dict."""

    def area(mask, what):
        labels = y_true[mask]
        if labels.min() == labels.max():
            warnings.warn(
                f"{where}: no AUC for {what}: only one class present. "
                "It is NaN and left out of the means.",
                UserWarning,
                stacklevel=4,
            )
            return np.nan, np.nan
        return (
            roc_auc_score(labels, anomaly_score[mask]),
            partial_auc(labels, anomaly_score[mask], max_fpr=max_fpr, standardized=standardized),
        )

    if not (y_true == 1).any() or not (y_true == 0).any():
        raise ValueError(f"{where}: needs normal and anomalous clips; only one class present.")
    if definition == "2020":
        auc_all, pauc_all = area(np.ones(len(y_true), bool), "all clips")
        return {"auc": auc_all, "pauc": pauc_all}
    anomalous = y_true == 1
    values = {}
    if definition == "2023":
        # Each domain's AUC pits its normals against the anomalies of both
        # domains; the pAUC is over every clip of the section.
        for name in DOMAINS:
            values[f"auc_{name}"] = area(
                (domain == name) | anomalous, f"the {name}-domain normals against all anomalies"
            )[0]
        values["pauc"] = partial_auc(y_true, anomaly_score, max_fpr=max_fpr, standardized=standardized)
    else:  # 2021: AUC and pAUC within each domain.
        paucs = {}
        for name in DOMAINS:
            values[f"auc_{name}"], paucs[f"pauc_{name}"] = area(domain == name, f"the {name}-domain clips")
        values.update(paucs)
    return values


def _decision_values(y_true, decision, domain, definition):
    """Precision, recall and F1 of the decisions, per domain (of the section for 2020).

    As the official 2021-2025 evaluators compute them from each domain's
    confusion matrix (normal and anomalous clips of that domain), with every
    denominator floored at machine epsilon, so that no decision called
    anomalous gives 0, not NaN.
    """
    groups = {"": np.ones(len(y_true), bool)} if definition == "2020" else {f"_{d}": domain == d for d in DOMAINS}
    precision, recall, f1 = {}, {}, {}
    for suffix, mask in groups.items():
        anomalous, decided = y_true[mask] == 1, decision[mask] == 1
        true_positives = np.sum(anomalous & decided)
        p = true_positives / max(np.sum(decided), _EPSILON)
        r = true_positives / max(np.sum(anomalous), _EPSILON)
        precision[f"precision{suffix}"] = p
        recall[f"recall{suffix}"] = r
        f1[f"f1{suffix}"] = 2.0 * p * r / max(p + r, _EPSILON)
    return {**precision, **recall, **f1}


def _harmonic_mean(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(hmean(np.maximum(values, _EPSILON)))


def dcase_scores(
    y_true,
    anomaly_score,
    domain=None,
    machine=None,
    section=None,
    *,
    definition="2023",
    max_fpr=0.1,
    standardized=True,
    decision=None,
):
    """The DCASE Task 2 metric: AUCs and pAUC per machine type and section.

    ``definition="2023"`` (the same for 2022, 2024 and 2025), for each
    machine type and section:

    - ``auc_source``: AUC over the source-domain normal clips and *all*
      anomalous clips of the section (both domains);
    - ``auc_target``: likewise for the target domain;
    - ``pauc``: partial AUC at ``max_fpr`` over all clips of the section.

    The official score is the harmonic mean of all these values over all
    machine types and sections, each first clipped at machine epsilon, as
    the official evaluator does. ``"2021"`` computes AUC and pAUC within
    each domain (``auc_source``, ``auc_target``, ``pauc_source``,
    ``pauc_target``: a domain's normals against that domain's anomalies
    only) and takes the harmonic mean likewise; ``"2020"`` has no domains:
    ``auc`` and ``pauc`` over all clips of a section, and the official score
    is their arithmetic mean.

    Parameters
    ----------
    y_true : array-like of shape (n_clips,)
        1 for anomalous, 0 for normal clips.
    anomaly_score : array-like of shape (n_clips,)
        Higher is more anomalous.
    domain : array-like of shape (n_clips,), default=None
        ``"source"`` or ``"target"`` per clip; required except for 2020.
    machine, section : array-like of shape (n_clips,), default=None
        Machine type and section per clip; None treats all clips as one
        group (reported as ``"all"``).
    definition : {"2020", "2021", "2022", "2023", "2024", "2025"}, default="2023"
    max_fpr : float, default=0.1
        The p of the pAUC.
    standardized : bool, default=True
        McClish-standardised pAUC (official); False gives the raw
        normalised partial area (see :func:`partial_auc`).
    decision : array-like of shape (n_clips,), default=None
        1 for the clips decided anomalous, 0 for the others (the decision
        files of a submission). Given, the table adds the precision, recall
        and F1 score of the decisions per domain (``precision_source``,
        ``precision_target``, ``recall_source``, ..., ``f1_target``), as the
        official 2021-2025 evaluators print them; for 2020, which has no
        domains, over each section (``precision``, ``recall``, ``f1``). They
        take no part in the means or the official score.

    Returns
    -------
    table : pandas.DataFrame
        One row per machine type and section: ``machine``, ``section``, the
        definition's values and their mean (``hmean``, or ``mean`` for 2020),
        then the decisions' columns when ``decision`` is given.
        A value that cannot be computed (a domain without normal clips in a
        section) is NaN, left out of the means, with a warning.
    score : float
        The official score over all rows.

    References
    ----------
    .. [1] K. Dohi et al., "Description and discussion on DCASE 2023
       Challenge Task 2: First-shot unsupervised anomalous sound detection
       for machine condition monitoring", DCASE 2023 Workshop.
    .. [2] Y. Kawaguchi et al., "Description and discussion on DCASE 2021
       Challenge Task 2", DCASE 2021 Workshop.

    Examples
    --------
    >>> from skasd.metrics import dcase_scores
    >>> y = [0, 0, 1, 0, 0, 1]
    >>> score = [0.1, 0.2, 0.9, 0.3, 0.8, 0.7]
    >>> domain = ["source"] * 3 + ["target"] * 3
    >>> table, official = dcase_scores(y, score, domain)
    >>> table[["auc_source", "auc_target", "pauc"]].round(3).iloc[0].tolist()
    [1.0, 0.75, 0.737]
    >>> round(official, 4)
    0.8129
    """
    definition = _definition(definition)
    y_true, anomaly_score = check_labels_and_scores(y_true, anomaly_score)
    n_clips = len(y_true)
    if definition != "2020":
        if domain is None:
            raise ValueError(f"domain is required for definition={definition!r}.")
        domain = np.asarray(domain, dtype=object).ravel()
        if len(domain) != n_clips:
            raise ValueError(f"domain has {len(domain)} values but y_true has {n_clips}.")
        unknown = sorted(set(map(str, domain)) - set(DOMAINS))
        if unknown:
            raise ValueError(f"domain must hold only 'source' and 'target'; found {unknown}.")
    machine = _group_column(machine, "machine", n_clips)
    section = _group_column(section, "section", n_clips)
    if decision is not None:
        decision = np.asarray(decision).ravel()
        if len(decision) != n_clips:
            raise ValueError(f"decision has {len(decision)} values but y_true has {n_clips}.")
        if not np.isin(decision, (0, 1)).all():
            raise ValueError("decision must hold 1 (anomalous) or 0 (normal) for each clip.")

    rows = []
    for machine_name, section_name in dict.fromkeys(zip(machine, section)):
        mask = (machine == machine_name) & (section == section_name)
        values = _section_values(
            y_true[mask],
            anomaly_score[mask],
            None if domain is None else domain[mask],
            definition,
            max_fpr,
            standardized,
            where=f"machine {machine_name!r}, section {section_name!r}",
        )
        row = {"machine": machine_name, "section": section_name, **values}
        if definition == "2020":
            row["mean"] = float(np.nanmean(list(values.values())))
        else:
            row["hmean"] = _harmonic_mean(list(values.values()))
        if decision is not None:
            row.update(_decision_values(
                y_true[mask], decision[mask], None if domain is None else domain[mask], definition
            ))
        rows.append(row)
    table = pd.DataFrame(rows)
    value_columns = list(values)
    all_values = table[value_columns].to_numpy(dtype=np.float64).ravel()
    if definition == "2020":
        return table, float(np.nanmean(all_values))
    return table, _harmonic_mean(all_values)


def official_score(y_true, anomaly_score, domain=None, machine=None, section=None, **kwargs):
    """The official score alone: ``dcase_scores(...)[1]``.

    Examples
    --------
    >>> round(official_score([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8],
    ...                      ["source", "source", "target", "target"]), 3)
    1.0
    """
    return dcase_scores(y_true, anomaly_score, domain, machine, section, **kwargs)[1]


_SCORER_VALUES = ("official", "auc_source", "auc_target", "pauc")


def _score_from_score_samples(y_true, score_samples, domain=None, machine=None, section=None, *, value, **kwargs):
    # Every skasd scorer has anomaly_score(X) == -score_samples(X), and
    # Pipeline exposes score_samples: reading score_samples makes the scorer
    # work on bare estimators and on pipelines alike.
    anomaly_score = -np.asarray(score_samples, dtype=np.float64)
    if value == "official":
        return official_score(y_true, anomaly_score, domain, machine, section, **kwargs)
    table, _ = dcase_scores(y_true, anomaly_score, domain, machine, section, **kwargs)
    return float(np.nanmean(table[value]))


def make_dcase_scorer(value="official", *, definition="2023", max_fpr=0.1, standardized=True):
    """A scorer for model selection: ``scorer(estimator, X, y)``.

    The estimator's anomaly scores are ``-estimator.score_samples(X)`` (the
    same as ``estimator.anomaly_score(X)`` for every skasd scorer, and what
    a :class:`~sklearn.pipeline.Pipeline` ending in one provides). ``y`` is
    1 for anomalous and 0 for normal clips. ``domain`` (and ``machine``,
    ``section``) reach the scorer through scikit-learn's metadata routing:
    request them with ``scorer.set_score_request(domain=True)`` under
    ``sklearn.set_config(enable_metadata_routing=True)``.

    Parameters
    ----------
    value : {"official", "auc_source", "auc_target", "pauc"}, default="official"
        The official score, or one column of :func:`dcase_scores`'s table
        averaged over machine types and sections.
    definition, max_fpr, standardized
        As in :func:`dcase_scores`.

    Returns
    -------
    scorer : callable
        Greater is better.

    Examples
    --------
    >>> import numpy as np, sklearn
    >>> from sklearn.neighbors import LocalOutlierFactor
    >>> from skasd.metrics import make_dcase_scorer
    >>> rng = np.random.default_rng(0)
    >>> X_train = rng.normal(size=(40, 3))
    >>> X_test = np.vstack([rng.normal(size=(8, 3)), rng.normal(4, 1, size=(4, 3))])
    >>> y_test = np.r_[np.zeros(8), np.ones(4)].astype(int)
    >>> domain = np.array(["source", "target"] * 6)
    >>> scorer = make_dcase_scorer()
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     scorer = scorer.set_score_request(domain=True)
    ...     model = LocalOutlierFactor(novelty=True).fit(X_train)
    ...     print(round(scorer(model, X_test, y_test, domain=domain), 3))
    1.0
    """
    if value not in _SCORER_VALUES:
        raise ValueError(f"value must be one of {_SCORER_VALUES}, got {value!r}.")
    definition = _definition(definition)
    if value != "official" and definition != "2023":
        raise ValueError(f"value={value!r} exists for the 2022-2025 definition only; use value='official'.")
    return make_scorer(
        _score_from_score_samples,
        response_method=("score_samples",),
        value=value,
        definition=definition,
        max_fpr=max_fpr,
        standardized=standardized,
    )
