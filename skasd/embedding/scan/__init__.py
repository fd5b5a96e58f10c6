"""ConfidentPairSCAN: contrastive learning that keeps only the pairs it is confident are normal.

The pieces, from the waveform to the anomaly score (Liu et al., SCAN,
Section II), and the module of each:

- :mod:`._augment`: :class:`TwoViewAugmentation`, two random views of each
  clip, each made by one of five time- or frequency-domain transforms
  (:data:`AUGMENTATIONS`), drawn from torch's global generator on the
  training device; and :func:`log_mel_front_end`, a log-mel front end built
  from :mod:`skasd.features`'s modules;
- :mod:`._modules`: :class:`ResNetEncoder` (a one-channel ResNet, ResNet-18
  by default) giving the latent vector ``z``, :class:`ProjectionHead`
  giving ``h``, and :class:`SCANModule` around them and the front end;
- :mod:`._loss`: :func:`nt_xent_loss`, SimCLR's loss, restricted to the
  confident pairs, and :class:`NTXentLoss`, the same as the skorch criterion;
- :mod:`._pairs`: :func:`confident_pairs`, the per-step selection (eqs. 3-7)
  on the batch's ``2N`` latent vectors, with the torch Mahalanobis statistics
  of :mod:`skasd.scoring._mahalanobis_torch` (:func:`geometric_median_torch`,
  :func:`shrinkage_covariance`, :func:`mahalanobis_scores`), and
  :func:`balance_factor`, the schedule of its threshold (eq. 6);
- :mod:`._net`: :class:`ContrastiveNet`, the skorch net whose ``infer``
  makes the views and picks the confident pairs and whose ``get_loss`` is
  their NT-Xent, and :class:`ConfidentPairRecord`, the callback recording
  which clips each epoch kept;
- :mod:`._estimator`: :class:`ConfidentPairSCAN`, the estimator: an embedder
  (``transform``) and an outlier detector (``score_samples``,
  ``anomaly_score``) in one.
"""

from ...scoring._mahalanobis_torch import (
    geometric_median_torch,
    mahalanobis_scores,
    shrinkage_covariance,
)
from ._augment import AUGMENTATIONS, TwoViewAugmentation, log_mel_front_end
from ._estimator import ConfidentPairSCAN
from ._loss import NTXentLoss, nt_xent_loss
from ._modules import ProjectionHead, ResNetEncoder, SCANModule
from ._net import ContrastiveNet
from ._pairs import balance_factor, confident_pairs

__all__ = [
    "AUGMENTATIONS",
    "ConfidentPairSCAN",
    "ContrastiveNet",
    "NTXentLoss",
    "ProjectionHead",
    "ResNetEncoder",
    "SCANModule",
    "TwoViewAugmentation",
    "balance_factor",
    "confident_pairs",
    "geometric_median_torch",
    "log_mel_front_end",
    "mahalanobis_scores",
    "nt_xent_loss",
    "shrinkage_covariance",
]
