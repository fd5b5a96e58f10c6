"""The adaptive combination perturbation (ACP) search for fusion weights, apart from any estimator."""

import warnings

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["acp_weight_search"]


def acp_weight_search(evaluate, weights, *, n_iter, step, decay, random_state=None, verbose=0, label="ACP"):
    """Search non-negative weights summing to one by adaptive combination perturbation.

    From the starting ``weights`` ``w``, each iteration ``t = 1 .. n_iter``
    draws a candidate ``c = normalise(max(w + e, 0))``, ``e`` normal noise of
    standard deviation ``step * decay**(t - 1)`` and ``normalise(v) = v /
    sum(v)``, and keeps it as the new ``w`` if ``evaluate(c)`` is finite and
    strictly greater than ``evaluate(w)``. A candidate of all zeros is not
    evaluated (its score is NaN). The ``UserWarning`` s ``evaluate`` raises
    during the iterations are silenced: those of the starting point are
    shown.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(weights) -> float``, higher is better, for an ndarray of
        shape (n_members,).
    weights : ndarray of shape (n_members,)
        The starting weights, non-negative, summing to one.
    n_iter : int
        Iterations (candidates drawn after the starting point); 0 evaluates
        the starting point only.
    step : float
        Standard deviation of the first iteration's noise.
    decay : float
        Factor of the noise's standard deviation from one iteration to the
        next.
    random_state : int, RandomState instance or None, default=None
        The noise's generator, through
        :func:`sklearn.utils.check_random_state`: one ``normal(0, sigma,
        n_members)`` draw per iteration.
    verbose : int, default=0
        Nonzero: print the progress about ten times.
    label : str, default="ACP"
        What the progress lines start with (in brackets).

    Returns
    -------
    weights : ndarray of shape (n_members,)
        The best weights found (a copy of ``history["weights"][-1]``).
    history : dict of ndarray
        One entry per iteration, iteration 0 being the starting point:
        ``"iteration"``, ``"step"`` (the noise's standard deviation; 0 at
        iteration 0), ``"candidate_weights"`` (n_iter + 1, n_members),
        ``"candidate_score"``, ``"accepted"``, ``"weights"`` (the best
        weights after the iteration) and ``"score"`` (their score).

    Raises
    ------
    ValueError
        If ``evaluate`` gives a non-finite score for the starting weights.

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
    >>> from skasd.ensemble._search import acp_weight_search
    >>> target = np.array([0.7, 0.2, 0.1])
    >>> def evaluate(weights):
    ...     return -float(np.abs(weights - target).sum())
    >>> weights, history = acp_weight_search(
    ...     evaluate, np.full(3, 1 / 3), n_iter=200, step=0.1, decay=0.99, random_state=0
    ... )
    >>> bool(np.isclose(weights.sum(), 1.0)), history["weights"].shape
    (True, (201, 3))
    >>> bool(np.abs(weights - target).max() < 0.05)
    True
    """
    rng = check_random_state(random_state)
    n_members = len(weights)
    size = n_iter + 1
    history = {
        "iteration": np.arange(size),
        "step": np.zeros(size),
        "candidate_weights": np.empty((size, n_members)),
        "candidate_score": np.empty(size),
        "accepted": np.zeros(size, dtype=bool),
        "weights": np.empty((size, n_members)),
        "score": np.empty(size),
    }
    best_score = evaluate(weights)
    if not np.isfinite(best_score):
        raise ValueError(f"scoring gave {best_score} for the starting weights {weights.tolist()}.")
    history["candidate_weights"][0] = weights
    history["candidate_score"][0] = best_score
    history["accepted"][0] = True
    history["weights"][0] = weights
    history["score"][0] = best_score
    report_every = max(1, n_iter // 10)
    with warnings.catch_warnings():
        # The metric's warnings (e.g. a domain without normals in a
        # section) are the same for every candidate: shown once above.
        warnings.simplefilter("ignore", UserWarning)
        for t in range(1, size):
            sigma = step * decay ** (t - 1)
            candidate = np.clip(weights + rng.normal(0.0, sigma, n_members), 0.0, None)
            total = candidate.sum()
            score = np.nan
            if total > 0:
                candidate /= total
                score = evaluate(candidate)
            accepted = bool(np.isfinite(score) and score > best_score)
            if accepted:
                weights, best_score = candidate, score
            history["step"][t] = sigma
            history["candidate_weights"][t] = candidate
            history["candidate_score"][t] = score
            history["accepted"][t] = accepted
            history["weights"][t] = weights
            history["score"][t] = best_score
            if verbose and (t % report_every == 0 or t == size - 1):
                print(
                    f"[{label}] iteration {t}/{n_iter}: step {sigma:.4f}, candidate {score:.4f}, "
                    f"best {best_score:.4f}",
                    flush=True,
                )
    return history["weights"][-1].copy(), history
