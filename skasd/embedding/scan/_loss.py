"""SimCLR's NT-Xent loss, restricted to the confident pairs, as a function and as the skorch criterion."""

import math

import torch
from torch import nn

__all__ = [
    "NTXentLoss",
    "nt_xent_loss",
]

def nt_xent_loss(h1, h2, temperature, mask=None):
    """SimCLR's NT-Xent loss over pairs ``(h1[k], h2[k])``, restricted to ``mask``.

    With the ``2M`` vectors of the kept pairs, cosine similarities
    ``sim(i, n)`` and temperature ``t``, each vector's term is (eq. 1 of SCAN)

    ``l(i, j) = -log(exp(sim(i, j) / t) / sum_{n != i} exp(sim(i, n) / t))``

    with ``j`` its partner; the loss is the mean of the ``2M`` terms, both
    directions of every pair (eq. 2). Pairs outside ``mask`` take no part,
    neither as positives nor as negatives of the others.

    Parameters
    ----------
    h1, h2 : Tensor of shape (N, d)
        Projections of the first and of the second views.
    temperature : float
        ``t``, positive.
    mask : bool Tensor of shape (N,), default=None
        The confident pairs; None keeps all.

    Returns
    -------
    loss : scalar Tensor
        0 (still attached to the graph, so ``backward`` works and changes
        nothing) when fewer than two pairs are kept: a single pair has no
        negatives, and its terms are 0.
    """
    if mask is not None:
        h1, h2 = h1[mask], h2[mask]
    n_pairs = h1.shape[0]
    if n_pairs < 2:
        return (h1.sum() + h2.sum()) * 0.0
    h = nn.functional.normalize(torch.cat([h1, h2]), dim=1)
    logits = h @ h.T / temperature
    self_similarity = torch.eye(2 * n_pairs, dtype=torch.bool, device=h.device)
    logits = logits.masked_fill(self_similarity, -math.inf)
    partner = torch.cat([torch.arange(n_pairs, 2 * n_pairs), torch.arange(n_pairs)]).to(h.device)
    return nn.functional.cross_entropy(logits, partner)


class NTXentLoss(nn.Module):
    """:func:`nt_xent_loss` as a module, the skorch criterion: ``forward(h1, h2, mask=None)``."""

    def __init__(self, temperature=0.007):
        super().__init__()
        self.temperature = temperature

    def forward(self, h1, h2, mask=None):
        return nt_xent_loss(h1, h2, self.temperature, mask)
