"""The decision threshold from the training clips' anomaly scores: a percentile, or a gamma quantile.

The DCASE 2020-2025 baseline systems fit a gamma distribution to the anomaly
scores of the training clips (``scipy.stats.gamma.fit``: shape, location
and scale, by maximum likelihood) and decide at its 0.9 quantile; the
empirical percentile is the distribution-free alternative. Either way one
threshold serves every domain: the domain of a test clip is not known when
it is decided.
"""

import warnings

import numpy as np
import scipy.stats

__all__ = ["THRESHOLDS", "training_offset"]

#: The ways ``offset_`` can be set from the training clips' scores.
THRESHOLDS = ("percentile", "gamma")


def training_offset(training_anomaly_scores, contamination, threshold="percentile"):
    """``offset_``: minus the anomaly score above which a fraction ``contamination`` of clips is called anomalous.

    Parameters
    ----------
    training_anomaly_scores : array-like of shape (n_clips,)
        Anomaly scores of the training clips (higher is more anomalous).
    contamination : float in (0, 0.5]
        The fraction of training clips called anomalous: the threshold is
        the ``1 - contamination`` quantile of the scores.
    threshold : {"percentile", "gamma"}, default="percentile"
        ``"percentile"``: the empirical quantile. ``"gamma"``: the quantile
        of a gamma distribution fitted to the scores, as the DCASE
        baselines; when the fit has nothing to fit (all scores equal) or
        gives no finite quantile, the empirical one, with a ``UserWarning``.

    Returns
    -------
    offset : float
        ``decision_function = score_samples - offset``.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.scoring._threshold import training_offset
    >>> scores = np.random.default_rng(0).gamma(2.0, 1.0, size=1000)
    >>> round(-training_offset(scores, 0.1), 2), round(-training_offset(scores, 0.1, "gamma"), 2)
    (3.85, 3.89)
    """
    scores = np.asarray(training_anomaly_scores, dtype=np.float64)
    percentile_offset = float(np.percentile(-scores, 100.0 * contamination))
    if threshold == "percentile":
        return percentile_offset
    if np.ptp(scores) == 0:
        reason = "all training scores are equal"
    else:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # The free location makes the likelihood unbounded near the
            # smallest score; scipy's optimiser warns on the way.
            warnings.simplefilter("ignore", RuntimeWarning)
            shape, loc, scale = scipy.stats.gamma.fit(scores)
            quantile = float(scipy.stats.gamma.ppf(1.0 - contamination, shape, loc=loc, scale=scale))
        if np.isfinite(quantile):
            return -quantile
        reason = f"the fitted gamma distribution (shape {shape:.3g}, scale {scale:.3g}) has no finite quantile"
    warnings.warn(
        f"threshold='gamma': {reason} among the {len(scores)} training clips; the threshold is their "
        f"empirical {100.0 * (1.0 - contamination):g}th percentile instead.",
        UserWarning,
        stacklevel=4,
    )
    return percentile_offset
