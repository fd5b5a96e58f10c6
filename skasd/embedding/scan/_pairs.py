"""The per-step selection of confident pairs (eqs. 3-7) in torch, and the balance factor of its threshold."""

import math

import torch

from ...scoring._mahalanobis_torch import (
    geometric_median_torch,
    mahalanobis_scores,
    shrinkage_covariance,
    statistics_dtype,
)

__all__ = [
    "FIRST_POSITIVE_EPOCH",
    "balance_factor",
    "confident_pairs",
]

# eps of eq. 6, 1 - 1 / log(e + eps).
_BALANCE_EPS = 1e-8


def confident_pairs(z1, z2, threshold, *, center="geometric_median", shrinkage="ledoit_wolf"):
    """Which pairs ``(z1[k], z2[k])`` are confident: both scores at most ``threshold`` (eqs. 3-7).

    The ``2N`` latent vectors of the batch are scored by their squared
    Mahalanobis distance to their geometric median (or mean) under their
    shrunk covariance around it; the statistics run in float64 (float32 on
    MPS) on the vectors' device.

    Parameters
    ----------
    z1, z2 : Tensor of shape (N, d)
        Latent vectors of the first and second views (detached).
    threshold : float
        The (scaled) threshold of eq. 6.
    center : {"geometric_median", "mean"}, default="geometric_median"
    shrinkage : {"ledoit_wolf", "oas"}, default="ledoit_wolf"

    Returns
    -------
    confident : bool Tensor of shape (N,)
    scores : Tensor of shape (2N,)
        The scores of ``z1`` then of ``z2``.
    """
    Z = torch.cat([z1, z2]).to(statistics_dtype(z1.device))
    mu = geometric_median_torch(Z) if center == "geometric_median" else Z.mean(0)
    covariance, _ = shrinkage_covariance(Z - mu, shrinkage)
    scores = mahalanobis_scores(Z, mu, covariance)
    n_pairs = z1.shape[0]
    return (scores[:n_pairs] <= threshold) & (scores[n_pairs:] <= threshold), scores


def balance_factor(epoch, eps=_BALANCE_EPS):
    """SCAN's balance factor ``1 - 1 / log(epoch + eps)`` (eq. 6).

    Negative for epochs 1 and 2 (``log 2 < 1``), about 0.09 at epoch 3,
    0.38 at 5, 0.78 at 100 and 0.83 at 400.
    """
    return 1.0 - 1.0 / math.log(epoch + eps)


# The first epoch with a positive factor: log(e + eps) > 1.
FIRST_POSITIVE_EPOCH = math.floor(math.e - _BALANCE_EPS) + 1
