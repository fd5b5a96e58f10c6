"""ContrastiveNet: the skorch net whose training step runs selective contrastive learning."""

import numpy as np
import torch
from scipy.stats import chi2
from skorch.callbacks import Callback
from skorch.dataset import unpack_data

from ...scoring._mahalanobis_torch import statistics_dtype
from .._training import TrainingHooksNet
from ._loss import NTXentLoss
from ._pairs import FIRST_POSITIVE_EPOCH, balance_factor, confident_pairs

__all__ = [
    "ConfidentPairRecord",
    "ContrastiveNet",
]

# Embeddings whose spread (mean squared distance to their mean) is below this
# fraction of their mean squared norm have collapsed to a point.
_COLLAPSE_RTOL = 1e-10


class ContrastiveNet(TrainingHooksNet):
    """skorch net training a :class:`SCANModule` with selective contrastive learning.

    The data set's ``y`` holds each clip's index (``np.arange(n_clips)``),
    so that a step knows which clips it saw. A step makes two views of each
    clip of the batch, embeds them (``z``) and projects them (``h``);
    scores the ``2N`` vectors ``z`` and keeps the confident pairs
    (:func:`confident_pairs`, with the threshold of :meth:`threshold` for
    the current epoch); and back-propagates the NT-Xent loss of the kept
    pairs (the criterion, :class:`NTXentLoss`).

    Besides skorch's, the history holds per batch ``confident_pairs``, and
    per epoch ``excluded`` (fraction of the clips seen in the epoch that
    were excluded) and ``threshold`` (``inf`` when every pair was kept),
    recorded by the :class:`ConfidentPairRecord` callback.
    ``confident_history_`` is its list with one int8 array of length
    ``n_clips`` per epoch: 1 confident, 0 excluded, -1 not seen (dropped
    with the last incomplete batch).

    Parameters
    ----------
    module, criterion, **kwargs
        As :class:`skorch.NeuralNet`.
    n_clips : int
        Clips in the training set (the length of the history's rows).
    selection : bool, default=True
        False keeps every pair (plain contrastive learning).
    alpha : float, default=0.05
        ``Theta = chi2_p(1 - alpha)`` with ``p`` the dimension of ``z``.
    balance_factor : bool, default=True
        Scale ``Theta`` by eq. 6's balance factor; False uses ``Theta``
        from the first epoch.
    balance_start : {"warmup", "shift"}, default="warmup"
        What happens while eq. 6 is not positive; see :meth:`threshold`.
    center : {"geometric_median", "mean"}, default="geometric_median"
    shrinkage : {"ledoit_wolf", "oas"}, default="ledoit_wolf"
    """

    def __init__(self, module, criterion=NTXentLoss, *args, n_clips, selection=True, alpha=0.05, balance_factor=True,
                 balance_start="warmup", center="geometric_median", shrinkage="ledoit_wolf", **kwargs):
        super().__init__(module, criterion, *args, **kwargs)
        self.n_clips = n_clips
        self.selection = selection
        self.alpha = alpha
        self.balance_factor = balance_factor
        self.balance_start = balance_start
        self.center = center
        self.shrinkage = shrinkage

    @property
    def chi2_threshold(self):
        """``Theta = chi2_p(1 - alpha)`` (eq. 5), ``p`` the dimension of ``z``."""
        return float(chi2.ppf(1.0 - self.alpha, self.module_.n_embedding))

    def threshold(self, epoch):
        """The threshold of eq. 6 at training epoch ``epoch`` (1-based); None keeps every pair.

        - ``selection=False``: None;
        - ``balance_factor=False``: ``Theta``;
        - ``balance_start="warmup"``: ``Theta * (1 - 1 / log(epoch + eps))``
          once that is positive (from epoch 3); None before, so the first
          two epochs are plain contrastive learning;
        - ``balance_start="shift"``: the schedule starts at its first
          positive value, ``e = epoch + 2`` in eq. 6 (0.09 Theta at epoch 1).
        """
        if not self.selection:
            return None
        theta = self.chi2_threshold
        if not self.balance_factor:
            return theta
        if self.balance_start == "shift":
            epoch = epoch + FIRST_POSITIVE_EPOCH - 1
        factor = balance_factor(epoch)
        return theta * factor if factor > 0 else None

    def get_default_callbacks(self):
        """skorch's, with the record of confident pairs before the epoch log (which then shows it)."""
        callbacks = list(super().get_default_callbacks())
        names = [name for name, _ in callbacks]
        position = names.index("print_log") if "print_log" in names else len(callbacks)
        callbacks.insert(position, ("confident_pairs", ConfidentPairRecord()))
        return callbacks

    @property
    def confident_history_(self):
        """The rows of the :class:`ConfidentPairRecord` callback: one int8 array per epoch."""
        return dict(self.callbacks_)["confident_pairs"].rows_

    def _check_spread(self, z, epoch):
        z = z.detach().to(statistics_dtype(z.device))
        spread = (z - z.mean(0)).square().sum(1).mean()
        scale = z.square().sum(1).mean()
        if not bool(torch.isfinite(spread)) or float(spread) <= _COLLAPSE_RTOL * float(scale):
            batch = len(self.history[-1, "batches"])
            raise ValueError(
                f"The embeddings z collapsed to a point at epoch {epoch}, batch {batch}: the {z.shape[0]} "
                f"views of the batch have spread {float(spread):.3g} (mean squared distance to their mean) "
                f"against a mean squared norm of {float(scale):.3g}, so neither the contrastive loss nor the "
                "Mahalanobis selection is defined. Check that the clips are not all alike (constant or "
                "identical clips and augmentations that cannot change them), or lower lr."
            )

    def infer(self, x, **fit_params):
        """The two views' ``z`` and ``h``, and which of the ``N`` pairs are confident at this epoch.

        Returns
        -------
        z, h : Tensor of shape (2N, ...)
            The first ``N`` rows are the first views of the batch's clips.
        confident : bool Tensor of shape (N,)
        """
        module = self.module_
        n_pairs = x.shape[0]
        epoch = len(self.history)
        z = module.embed(module.views(x))
        self._check_spread(z, epoch)
        h = module.projection(z)
        threshold = self.threshold(epoch)
        if threshold is None:
            confident = torch.ones(n_pairs, dtype=torch.bool, device=z.device)
        else:
            confident, _ = confident_pairs(
                z[:n_pairs].detach(), z[n_pairs:].detach(), threshold, center=self.center, shrinkage=self.shrinkage
            )
        return z, h, confident

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """NT-Xent of the confident pairs' projections ``h`` (the criterion)."""
        _, h, confident = y_pred
        n_pairs = confident.shape[0]
        loss = self.criterion_(h[:n_pairs], h[n_pairs:], mask=confident)
        if not bool(torch.isfinite(loss)):
            raise ValueError(
                f"The contrastive loss is {float(loss)} at epoch {len(self.history)}: lower lr or raise temperature."
            )
        return loss


class ConfidentPairRecord(Callback):
    """skorch callback: which clips each epoch kept, and the epoch's exclusion rate and threshold.

    After each training batch of a :class:`ContrastiveNet` (whose ``y`` is
    the clip index and whose ``infer`` returns the confident pairs), it
    writes the batch's clips into the epoch's row and records the batch's
    ``confident_pairs``; after each epoch, ``excluded`` (the fraction of
    the clips seen that were excluded) and ``threshold`` (``inf`` when
    every pair was kept).

    Attributes
    ----------
    rows_ : list of ndarray of shape (n_clips,), int8
        One per epoch: 1 confident, 0 excluded, -1 not seen (dropped with
        the last incomplete batch).
    """

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.rows_ = []

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.rows_.append(np.full(net.n_clips, -1, dtype=np.int8))

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs):
        if not training:
            return
        _, index = unpack_data(batch)
        confident = y_pred[2].cpu().numpy()
        self.rows_[-1][np.asarray(index)] = confident
        net.history.record_batch("confident_pairs", int(confident.sum()))

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        row = self.rows_[-1]
        seen = np.count_nonzero(row >= 0)
        net.history.record("excluded", np.count_nonzero(row == 0) / seen if seen else float("nan"))
        threshold = net.threshold(len(net.history))
        net.history.record("threshold", float("inf") if threshold is None else threshold)
