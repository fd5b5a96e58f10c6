"""ConfidentPairSCAN: contrastive learning that keeps only the pairs it is confident are normal.

The pieces, from the waveform to the anomaly score (Liu et al., SCAN,
Section II):

- :class:`TwoViewAugmentation`: two random views of each clip, each made by
  one of five time- or frequency-domain transforms, drawn from torch's
  global generator on the training device;
- a log-mel front end built from :mod:`skasd.features`'s modules;
- :class:`ResNetEncoder` (a one-channel ResNet, ResNet-18 by default) giving
  the latent vector ``z`` and :class:`ProjectionHead` giving ``h``;
- :func:`nt_xent_loss`, SimCLR's loss, restricted to the confident pairs;
- :func:`geometric_median_torch`, :func:`shrinkage_covariance`,
  :func:`mahalanobis_scores` and :func:`confident_pairs`, the per-step
  selection (eqs. 3-7) on the batch's ``2N`` latent vectors;
- :class:`ContrastiveNet`, the skorch net whose ``train_step_single`` runs a
  selective step and records which clips were confident;
- :class:`ConfidentPairSCAN`, the estimator: an embedder (``transform``) and
  an outlier detector (``score_samples``, ``anomaly_score``) in one.
"""

import itertools
import math
import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torchaudio
from scipy.stats import chi2
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet
from skorch.callbacks import LRScheduler
from skorch.dataset import unpack_data
from skorch.utils import to_device
from torch import nn

from ..features import LogMelSpectrogram
from ..scoring._base import BaseScorer
from ..scoring._mahalanobis import MahalanobisScorer
from ..utils._torch import (
    resolve_device,
    transform_with_trained_module,
)
from ._blocks import ResidualBlock2d
from ._spec_augment import mask_band
from ._training import draw_seed, make_training_net, seeded_torch

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

#: The five transforms a view is made with, in the order of their codes.
AUGMENTATIONS = ("time_shift", "time_mask", "frequency_mask", "gain_noise", "speed")
_WAVEFORM_AUGMENTATIONS = ("time_shift", "gain_noise", "speed")
_SPECTROGRAM_AUGMENTATIONS = ("time_mask", "frequency_mask")

# Floor of the mel power before the log: -100 dB, far below any recording.
_LOG_FLOOR = 1e-10
# eps of eq. 6, 1 - 1 / log(e + eps).
_BALANCE_EPS = 1e-8
# Embeddings whose spread (mean squared distance to their mean) is below this
# fraction of their mean squared norm have collapsed to a point.
_COLLAPSE_RTOL = 1e-10
_BALANCE_STARTS = ("warmup", "shift")
_SHRINKAGES = ("ledoit_wolf", "oas")


# ---------------------------------------------------------------------------
# Augmentation and front end


def _time_shift(waveforms):
    """Circular shift of each clip by a uniform random number of samples."""
    n_clips, n_samples = waveforms.shape
    shift = (torch.rand(n_clips, device=waveforms.device) * n_samples).long()
    index = (torch.arange(n_samples, device=waveforms.device)[None, :] - shift[:, None]) % n_samples
    return waveforms.gather(1, index)


def _gain_noise(waveforms, gain_db, snr_db):
    """A random gain in [-gain_db, gain_db] dB, then white noise at a random SNR in ``snr_db``."""
    n_clips = waveforms.shape[0]
    device, dtype = waveforms.device, waveforms.dtype
    gain = (torch.rand(n_clips, device=device, dtype=dtype) * 2 - 1) * gain_db
    scaled = waveforms * torch.pow(10.0, gain / 20)[:, None]
    snr = snr_db[0] + torch.rand(n_clips, device=device, dtype=dtype) * (snr_db[1] - snr_db[0])
    return torchaudio.functional.add_noise(scaled, torch.randn_like(scaled), snr)


def _speed(waveforms, speed_range):
    """Play each clip at a random speed factor in ``speed_range`` (pitch and tempo together).

    Resampled by linear interpolation at positions ``t * factor``, wrapped
    around the clip (machine sounds are stationary) to keep its length.
    """
    n_clips, n_samples = waveforms.shape
    device, dtype = waveforms.device, waveforms.dtype
    low, high = speed_range
    factor = low + torch.rand(n_clips, device=device, dtype=dtype) * (high - low)
    positions = torch.arange(n_samples, device=device, dtype=dtype)[None, :] * factor[:, None]
    left = positions.floor()
    fraction = positions - left
    left = left.long() % n_samples
    right = (left + 1) % n_samples
    return waveforms.gather(1, left) * (1 - fraction) + waveforms.gather(1, right) * fraction


class TwoViewAugmentation(nn.Module):
    """Two random views of each clip, each made by one transform.

    For each clip, two different transforms (``c^1`` and ``c^2`` of SCAN)
    are drawn from ``augmentations`` (the same one twice when it holds only
    one), each with its own random strength; every draw comes from torch's
    global generator on the clips' device, which skasd seeds around ``fit``.

    The transforms (five, in time and frequency):

    - ``"time_shift"``: circular shift by a uniform random number of samples;
    - ``"time_mask"``: a band of up to ``max_mask_fraction`` of the frames
      set to the spectrogram's mean (SpecAugment, torchaudio);
    - ``"frequency_mask"``: the same over the mel bands;
    - ``"gain_noise"``: gain uniform in ``[-gain_db, gain_db]`` dB, then
      white noise at an SNR uniform in ``snr_db`` (torchaudio's ``add_noise``);
    - ``"speed"``: speed factor uniform in ``speed_range`` (pitch and tempo
      together), linear interpolation, wrapped around the clip.
      torchaudio's ``speed`` takes one factor per call; this is the batched
      equivalent, without an anti-aliasing filter (for a factor above 1, the
      little energy above ``sample_rate / 2 / factor`` folds back).

    The waveform transforms run before the front end, the masks after it.

    Parameters
    ----------
    augmentations : sequence of str, default=AUGMENTATIONS
        The transforms to draw from, a subset of the five above.
    max_mask_fraction : float, default=0.2
    gain_db : float, default=6.0
    snr_db : tuple of two floats, default=(10.0, 30.0)
    speed_range : tuple of two floats, default=(0.9, 1.1)
    """

    def __init__(self, augmentations=AUGMENTATIONS, *, max_mask_fraction=0.2, gain_db=6.0, snr_db=(10.0, 30.0),
                 speed_range=(0.9, 1.1)):
        super().__init__()
        unknown = [name for name in augmentations if name not in AUGMENTATIONS]
        if unknown or not augmentations:
            raise ValueError(
                f"augmentations must be a non-empty subset of {AUGMENTATIONS}; got {tuple(augmentations)!r}."
            )
        self.augmentations = tuple(augmentations)
        self.max_mask_fraction = max_mask_fraction
        self.gain_db = gain_db
        self.snr_db = tuple(snr_db)
        self.speed_range = tuple(speed_range)

    def draw_transforms(self, n_clips, device):
        """Indices into ``augmentations`` of each clip's two transforms, shape (n_clips, 2)."""
        n_transforms = len(self.augmentations)
        if n_transforms == 1:
            return torch.zeros((n_clips, 2), dtype=torch.long, device=device)
        return torch.rand(n_clips, n_transforms, device=device).argsort(dim=1)[:, :2]

    def _apply_waveform(self, name, waveforms):
        if name == "time_shift":
            return _time_shift(waveforms)
        if name == "gain_noise":
            return _gain_noise(waveforms, self.gain_db, self.snr_db)
        return _speed(waveforms, self.speed_range)

    def view(self, waveforms, transforms, front_end):
        """Log-mels of ``waveforms``, clip ``i`` transformed by ``augmentations[transforms[i]]``."""
        x = waveforms
        for name in _WAVEFORM_AUGMENTATIONS:
            if name in self.augmentations:
                index = torch.nonzero(transforms == self.augmentations.index(name), as_tuple=True)[0]
                if index.numel():
                    x = x.index_copy(0, index, self._apply_waveform(name, x[index]))
        log_mel = front_end(x)
        for name in _SPECTROGRAM_AUGMENTATIONS:
            if name in self.augmentations:
                index = torch.nonzero(transforms == self.augmentations.index(name), as_tuple=True)[0]
                if index.numel():
                    axis = 2 if name == "time_mask" else 1
                    log_mel = log_mel.index_copy(0, index, mask_band(log_mel[index], axis, self.max_mask_fraction))
        return log_mel

    @torch.no_grad()
    def forward(self, waveforms, front_end):
        """(N, n_samples) waveforms -> (2N, n_mels, n_frames): the first views, then the second."""
        transforms = self.draw_transforms(waveforms.shape[0], waveforms.device)
        return torch.cat([self.view(waveforms, transforms[:, v], front_end) for v in range(2)])


def log_mel_front_end(*, sample_rate, n_fft, hop_length, n_mels):
    """Waveforms (N, n_samples) -> log-mel power in dB (N, n_mels, 1 + n_samples // hop_length).

    :class:`~skasd.LogMelSpectrogram`'s modules (periodic Hann window of
    ``n_fft`` samples, Slaney mel scale and norm), floored at -100 dB.
    """
    features = LogMelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, eps=_LOG_FLOOR
    )
    return features._log_mel_module()


# ---------------------------------------------------------------------------
# Networks


class ResNetEncoder(nn.Module):
    """One-channel ResNet with basic blocks: (N, 1, n_mels, n_frames) -> (N, widths[-1]).

    A 7x7 stride-2 stem with batch norm, ReLU and 3x3 stride-2 max pooling,
    then one stage per entry of ``widths`` of ``blocks[i]`` basic residual
    blocks (two 3x3 convolutions; stride 2 at the first block of every stage
    but the first), and global average pooling. The defaults are ResNet-18
    with one input channel instead of three.

    Parameters
    ----------
    widths : tuple of int, default=(64, 128, 256, 512)
        Channels of each stage; the output has ``widths[-1]`` dimensions.
    blocks : tuple of int, default=(2, 2, 2, 2)
        Residual blocks of each stage.
    in_channels : int, default=1
    """

    def __init__(self, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), in_channels=1):
        super().__init__()
        if len(widths) != len(blocks) or not widths:
            raise ValueError(f"widths and blocks must have the same, non-zero length; got {widths!r} and {blocks!r}.")
        layers = [
            nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
        c_in = widths[0]
        for stage, (width, n_blocks) in enumerate(zip(widths, blocks, strict=True)):
            for block in range(n_blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(ResidualBlock2d(c_in, width, stride))
                c_in = width
        self.layers = nn.Sequential(*layers)
        self.n_embedding = widths[-1]

    def forward(self, x):
        return self.layers(x).mean(dim=(-2, -1))


class ProjectionHead(nn.Module):
    """MLP ``z -> h``: linear layers of sizes ``dims`` with ReLU between them (SimCLR's head)."""

    def __init__(self, n_inputs, dims=(512, 128)):
        super().__init__()
        sizes = (n_inputs, *dims)
        layers = []
        for index, (a, b) in enumerate(itertools.pairwise(sizes)):
            if index:
                layers.append(nn.ReLU(inplace=True))
            layers.append(nn.Linear(a, b))
        self.layers = nn.Sequential(*layers)

    def forward(self, z):
        return self.layers(z)


class SCANModule(nn.Module):
    """Waveforms -> log-mel -> batch-normalised input -> ResNet -> ``z`` (and ``h`` in training).

    ``forward(waveforms)`` embeds clips as they are (no augmentation): the
    latent vectors ``z`` that ``transform`` returns. ``views(waveforms)``
    gives the ``2N`` augmented log-mels of a training batch, ``embed`` their
    ``z`` and ``projection`` their ``h``.
    """

    def __init__(self, *, sample_rate, n_fft, hop_length, n_mels, widths, blocks, projection_dims,
                 augmentations=AUGMENTATIONS):
        super().__init__()
        self.front_end = log_mel_front_end(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        self.augmentation = TwoViewAugmentation(augmentations)
        self.input_norm = nn.BatchNorm2d(1)
        self.encoder = ResNetEncoder(tuple(widths), tuple(blocks))
        self.projection = ProjectionHead(self.encoder.n_embedding, tuple(projection_dims))
        self.n_embedding = self.encoder.n_embedding

    def views(self, waveforms):
        return self.augmentation(waveforms, self.front_end)

    def embed(self, log_mel):
        return self.encoder(self.input_norm(log_mel[:, None]))

    def forward(self, waveforms):
        return self.embed(self.front_end(waveforms))


# ---------------------------------------------------------------------------
# Loss


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


# ---------------------------------------------------------------------------
# Selection of confident pairs


def geometric_median_torch(Z, *, max_iter=100, tol=1e-7, return_n_iter=False):
    """Geometric median of the rows of ``Z`` by Weiszfeld's iteration, on ``Z``'s device.

    The torch counterpart of :func:`skasd.scoring.geometric_median`
    (eq. 3 of SCAN), vectorised over leading batch dimensions: started at
    the mean, each step moves to the average of the points weighted by the
    inverse of their distance. Points within ``1e-10`` times the spread of
    the iterate count as coinciding with it, and Vardi and Zhang's
    modification steps away from them (or stays, when that point is the
    median) instead of dividing by zero; and since the iterates approach a
    median that is a data point only slowly, each step also tests the
    optimality condition at the data point nearest to the iterate and
    returns that point when it holds. It stops when a step moves less
    than ``tol`` times the root-mean-square distance of the points to their
    mean, or after ``max_iter`` steps, silently: in training an
    approximate centre is enough.

    Parameters
    ----------
    Z : Tensor of shape (..., n_points, n_features)
    max_iter : int, default=100
    tol : float, default=1e-7
    return_n_iter : bool, default=False

    Returns
    -------
    median : Tensor of shape (..., n_features)
    n_iter : int
        Steps run, when ``return_n_iter``.
    """
    y = Z.mean(dim=-2)
    scale = (Z - y[..., None, :]).square().sum(-1).mean(-1).sqrt()
    coincident = (1e-10 * scale)[..., None]
    # Rounding margin of the optimality test at a data point (as the numpy version's).
    slack = (tol + 64 * torch.finfo(Z.dtype).eps) * Z.shape[-2]
    n_iter = 0
    if bool((scale == 0).all()):
        return (y, n_iter) if return_n_iter else y
    for n_iter in range(1, max_iter + 1):
        difference = Z - y[..., None, :]
        distances = difference.norm(dim=-1)
        on_point = distances <= coincident
        inverse = torch.where(on_point, 0.0, 1.0 / distances.clamp_min(torch.finfo(Z.dtype).tiny))
        total = inverse.sum(-1, keepdim=True)
        step_target = (inverse[..., None] * Z).sum(-2) / total.clamp_min(torch.finfo(Z.dtype).tiny)
        eta = on_point.sum(-1, keepdim=True).to(Z.dtype)
        resultant = (inverse[..., None] * difference).sum(-2).norm(dim=-1, keepdim=True)
        # Vardi-Zhang: gamma = min(1, eta / ||R||); 0 off the data points.
        gamma = torch.where(eta > 0, (eta / resultant.clamp_min(torch.finfo(Z.dtype).tiny)).clamp(max=1.0), 0.0)
        new_y = (1 - gamma) * step_target + gamma * y
        # Weiszfeld crawls towards a median that is a data point: jump to the
        # nearest point when it satisfies the optimality condition.
        nearest = Z.gather(-2, distances.argmin(-1)[..., None, None].expand(*Z.shape[:-2], 1, Z.shape[-1]))
        towards = Z - nearest
        lengths = towards.norm(dim=-1)
        on_nearest = lengths <= coincident
        unit = torch.where(on_nearest, 0.0, 1.0 / lengths.clamp_min(torch.finfo(Z.dtype).tiny))
        pull = (unit[..., None] * towards).sum(-2).norm(dim=-1)
        optimal = pull <= on_nearest.sum(-1).to(Z.dtype) + slack
        new_y = torch.where(optimal[..., None], nearest[..., 0, :], new_y)
        moved = (new_y - y).norm(dim=-1)
        y = new_y
        if bool((moved <= tol * scale).all()):
            break
    return (y, n_iter) if return_n_iter else y


def shrinkage_covariance(X, method="ledoit_wolf"):
    """Shrunk covariance of centred rows: ``(1 - s) S + s * trace(S) / p * I``.

    ``S = X^T X / n`` is the empirical covariance of the rows of ``X``
    around 0 (the caller subtracts the centre first: SCAN's covariance is
    around the geometric median). The shrinkage ``s`` is Ledoit and Wolf's
    or the OAS estimate, computed as scikit-learn's
    :func:`~sklearn.covariance.ledoit_wolf` and :func:`~sklearn.covariance.oas`
    with ``assume_centered=True`` do, in torch on ``X``'s device. Either
    keeps the estimate invertible with fewer rows than dimensions.

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_features)
        Centred data.
    method : {"ledoit_wolf", "oas"}, default="ledoit_wolf"

    Returns
    -------
    covariance : Tensor of shape (n_features, n_features)
    shrinkage : float
    """
    n_samples, n_features = X.shape
    emp_cov = X.T @ X / n_samples
    if n_features == 1:
        return emp_cov, 0.0
    mu = torch.trace(emp_cov) / n_features
    if method == "ledoit_wolf":
        # sklearn.covariance.ledoit_wolf_shrinkage, unblocked.
        beta_ = X.square().sum(1).square().sum()
        delta_ = emp_cov.square().sum()
        beta = (beta_ / n_samples - delta_) / (n_features * n_samples)
        delta = (delta_ - 2.0 * mu * torch.trace(emp_cov) + n_features * mu**2) / n_features
        beta = torch.minimum(beta, delta)
        shrinkage = 0.0 if float(beta) == 0.0 else float(beta / delta)
    elif method == "oas":
        # sklearn.covariance._shrunk_covariance._oas.
        alpha = emp_cov.square().mean()
        num = alpha + mu**2
        den = (n_samples + 1) * (alpha - mu**2 / n_features)
        shrinkage = 1.0 if float(den) == 0.0 else min(float(num / den), 1.0)
    else:
        raise ValueError(f"method must be 'ledoit_wolf' or 'oas'; got {method!r}.")
    covariance = (1.0 - shrinkage) * emp_cov
    covariance.diagonal().add_(shrinkage * mu)
    return covariance, shrinkage


def mahalanobis_scores(Z, center, covariance):
    """Squared Mahalanobis distances ``(z - center)^T covariance^-1 (z - center)`` (eq. 4).

    Through a Cholesky factor; a pseudo-inverse when the covariance is not
    positive definite.
    """
    centred = Z - center
    factor, info = torch.linalg.cholesky_ex(covariance)
    if int(info) == 0:
        whitened = torch.linalg.solve_triangular(factor, centred.T, upper=False)
        return whitened.square().sum(0)
    precision = torch.linalg.pinv(covariance, hermitian=True)
    return ((centred @ precision) * centred).sum(1).clamp_min(0.0)


def _statistics_dtype(device):
    """float64 for the selection's statistics, float32 on MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


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
    Z = torch.cat([z1, z2]).to(_statistics_dtype(z1.device))
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
_FIRST_POSITIVE_EPOCH = math.floor(math.e - _BALANCE_EPS) + 1


# ---------------------------------------------------------------------------
# skorch net


class ContrastiveNet(NeuralNet):
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
    were excluded) and ``threshold`` (``inf`` when every pair was kept).
    ``confident_history_`` is a list with one int8 array of length
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
            epoch = epoch + _FIRST_POSITIVE_EPOCH - 1
        factor = balance_factor(epoch)
        return theta * factor if factor > 0 else None

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.confident_history_ = []

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        self.confident_history_.append(np.full(self.n_clips, -1, dtype=np.int8))

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        row = self.confident_history_[-1]
        seen = np.count_nonzero(row >= 0)
        self.history.record("excluded", np.count_nonzero(row == 0) / seen if seen else float("nan"))
        threshold = self.threshold(len(self.history))
        self.history.record("threshold", float("inf") if threshold is None else threshold)

    def _check_spread(self, z, epoch):
        z = z.detach().to(_statistics_dtype(z.device))
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

    def train_step_single(self, batch, **fit_params):
        """One selective contrastive step: views, ``z``, confident pairs, masked NT-Xent, backward."""
        self._set_training(True)
        Xi, index = unpack_data(batch)
        Xi = to_device(Xi, self.device)
        module = self.module_
        n_pairs = Xi.shape[0]
        epoch = len(self.history)
        z = module.embed(module.views(Xi))
        self._check_spread(z, epoch)
        h = module.projection(z)
        threshold = self.threshold(epoch)
        if threshold is None:
            confident = torch.ones(n_pairs, dtype=torch.bool, device=z.device)
        else:
            confident, _ = confident_pairs(
                z[:n_pairs].detach(), z[n_pairs:].detach(), threshold, center=self.center, shrinkage=self.shrinkage
            )
        loss = self.criterion_(h[:n_pairs], h[n_pairs:], mask=confident)
        if not bool(torch.isfinite(loss)):
            raise ValueError(
                f"The contrastive loss is {float(loss)} at epoch {epoch}: lower lr or raise temperature."
            )
        loss.backward()
        confident = confident.cpu().numpy()
        self.confident_history_[-1][np.asarray(index)] = confident
        self.history.record_batch("confident_pairs", int(confident.sum()))
        return {"loss": loss, "y_pred": z}


# ---------------------------------------------------------------------------
# Estimator


class ConfidentPairSCAN(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseScorer):
    """Selective contrastive learning against anomalies in the training set (SCAN).

    In real plants the "normal" training set holds some anomalous clips by
    mistake. SCAN learns embeddings with SimCLR-style contrastive learning
    but, at every step, keeps only the pairs it is confident are normal
    (Liu et al., Section II):

    1. each clip of a batch of ``N`` gets two views, each made by one of five
       random transforms (time shift, time mask, frequency mask, gain and
       noise, speed; :class:`TwoViewAugmentation`), and each view's log-mel
       (Hann window ``n_fft``, hop ``hop_length``, ``n_mels`` bands) goes
       through a one-channel ResNet (``z``, ``widths[-1]`` dimensions) and
       a projection head (``h``);
    2. the ``2N`` vectors ``z`` are scored by their squared Mahalanobis
       distance to their geometric median (Weiszfeld's iteration) under
       their shrunk covariance (eqs. 3-4);
    3. a pair is confident when both its scores are at most
       ``Theta * (1 - 1 / log(e + eps))`` at epoch ``e``, with
       ``Theta = chi2_p(1 - alpha)`` and ``p = widths[-1]`` (eqs. 5-7);
    4. the NT-Xent loss (temperature ``temperature``, cosine similarity)
       runs over the confident pairs only, as positives and negatives.

    After training, the training clips are embedded (without augmentation),
    and the centre and shrunk covariance of those that were confident in
    the final epochs (:attr:`reference_mask_`) define the anomaly score of
    any clip: its squared Mahalanobis distance (a fitted
    :class:`~skasd.MahalanobisScorer`, :attr:`scorer_`). The estimator is
    both a transformer (``transform`` gives ``z``) and a scorer with
    scikit-learn's outlier-detector signs (``score_samples`` is minus the
    distance, ``anomaly_score`` the distance).

    Two choices the paper leaves open:

    - **Covariance.** A batch of 256 vectors in 512 dimensions has a
      singular empirical covariance. The covariance is shrunk towards a
      multiple of the identity (``shrinkage``: Ledoit-Wolf, as the robust
      Mahalanobis distance of the paper's ref. [23], or OAS), around the
      centre, in the selection and at inference alike.
    - **Start of the balance factor.** Eq. 6 is negative at epochs 1 and 2,
      which would exclude every pair. ``balance_start="warmup"`` keeps every
      pair while it is not positive (two epochs of plain contrastive
      learning) and follows eq. 6 from epoch 3 (0.09 Theta);
      ``"shift"`` starts eq. 6 at its first positive value at epoch 1.

    Parameters
    ----------
    sample_rate : int, default=16000
        Sample rate of the waveforms in Hz.
    n_fft : int, default=2048
        Hann window and FFT length of the log-mel front end.
    hop_length : int, default=1024
        Hop of the front end (50 % overlap with the defaults).
    n_mels : int, default=128
        Mel bands.
    augmentations : tuple of str, default=AUGMENTATIONS
        The transforms each view is drawn from, a subset of
        ``("time_shift", "time_mask", "frequency_mask", "gain_noise",
        "speed")``; two different ones per clip when there are several.
    widths : tuple of int, default=(64, 128, 256, 512)
        Channels of the ResNet stages; ``z`` has ``widths[-1]`` dimensions.
    blocks : tuple of int, default=(2, 2, 2, 2)
        Residual blocks per stage (ResNet-18 with the default widths).
    projection_dims : tuple of int, default=(512, 128)
        Sizes of the projection head's linear layers (the last is ``h``'s).
    temperature : float, default=0.007
        Temperature of the NT-Xent loss (the paper's value).
    alpha : float in (0, 1), default=0.05
        ``Theta = chi2_p(1 - alpha)`` (eq. 5).
    selection : bool, default=True
        Select confident pairs; False is plain contrastive learning (the
        paper's "w/o selecting" ablation).
    balance_factor : bool, default=True
        Scale ``Theta`` by eq. 6; False uses ``Theta`` from the first epoch
        (the "w/o balance factor" ablation).
    balance_start : {"warmup", "shift"}, default="warmup"
        What happens while eq. 6 is not positive (epochs 1 and 2): keep every
        pair, or shift the schedule to start at its first positive value.
    center : {"geometric_median", "mean"}, default="geometric_median"
        Centre of the Mahalanobis distance, in selection and at inference
        (``"mean"`` is the "w/ mean" ablation).
    shrinkage : {"ledoit_wolf", "oas"}, default="ledoit_wolf"
        Shrunk covariance estimator, in selection and at inference.
    reference_epochs : int, default=10
        The final epochs that choose the reference clips of the inference
        statistics: a clip is a reference if it was confident in at least
        half of those of these epochs in which it was seen.
    contamination : "auto" or float in (0, 0.5], default="auto"
        ``"auto"``: the threshold learned in training decides,
        ``offset_ = -threshold_``. A float: ``offset_`` is set so that this
        fraction of the training clips is called anomalous, as the other
        skasd scorers do.
    lr : float, default=1e-3
        Initial learning rate of AdamW (the paper picks it from four
        log-spaced values between 5e-4 and 1e-2).
    weight_decay : float, default=0.01
        Weight decay of AdamW.
    lr_cycle_epochs : int or None, default=100
        Cosine annealing of the learning rate in cycles of this many epochs,
        restarting at ``lr`` (torch's ``CosineAnnealingWarmRestarts``; the
        paper anneals over 100 epochs and trains 400). None anneals once
        over ``max_epochs`` (``CosineAnnealingLR``).
    batch_size : int, default=128
        Clips per training batch (``2 * batch_size`` views), at least 2; also
        the batch of ``transform``.
    max_epochs : int, default=400
        Training epochs.
    drop_last : bool, default=True
        Drop each epoch's last incomplete batch (its clips are "not seen"
        that epoch). Fitting fewer clips than ``batch_size`` then raises a
        ``ValueError``; with False, the batch size is reduced to the number
        of clips.
    checkpoint_dir : str, path-like or None, default=None
        Directory where skorch's ``Checkpoint`` saves the training state
        after every epoch.
    device : str, default="auto"
        Torch device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
    n_jobs : int or None, default=None
        joblib threads over batches in ``transform`` on CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the batch order and the augmentations.
    verbose : int, default=1
        0: silent; 1: one line per epoch (with the exclusion rate and the
        threshold); 2: also a progress bar per epoch.

    Attributes
    ----------
    net_ : ContrastiveNet
        The fitted skorch net; ``net_.module_`` is the :class:`SCANModule`,
        ``net_.history`` the history, with per epoch ``excluded`` (fraction of
        the clips seen that were excluded) and ``threshold``.
    confident_history_ : ndarray of shape (n_epochs, n_clips), dtype int8
        Per epoch and training clip: 1 confident, 0 excluded, -1 not seen
        (dropped with the epoch's last incomplete batch). Every clip is in
        at most one batch per epoch.
    reference_mask_ : ndarray of shape (n_clips,), dtype bool
        Training clips whose embeddings define the inference statistics.
    scorer_ : MahalanobisScorer
        Fitted on the embeddings of the reference clips.
    location_ : ndarray of shape (n_embedding_,)
        The centre ``mu`` of the inference statistics.
    covariance_ : ndarray of shape (n_embedding_, n_embedding_)
        Their shrunk covariance ``Sigma``.
    chi2_threshold_ : float
        ``Theta = chi2_p(1 - alpha)``.
    threshold_ : float
        The scaled threshold of the last epoch (``Theta`` when no threshold
        applied then: ``selection=False`` or a warm-up epoch).
    offset_ : float
        ``decision_function = score_samples - offset_``.
    n_embedding_ : int
        Dimension of the embeddings, ``widths[-1]``.
    n_features_in_ : int
        Clip length in samples seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    MahalanobisScorer : The inference score on any embeddings.
    MultiBranchEmbedder : Embeddings trained with auxiliary labels.

    References
    ----------
    .. [1] Z. Liu, Y. Hou, W. Wang, S. Michiels and D. Hughes, "SCAN: Selective
       Contrastive Learning Against Noisy Data for Acoustic Anomaly
       Detection".
    .. [2] T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A simple framework
       for contrastive learning of visual representations", ICML 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.embedding._scan import ConfidentPairSCAN
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(16, 1600)).astype("float32")
    >>> scan = ConfidentPairSCAN(
    ...     n_fft=256, hop_length=128, n_mels=16, widths=(4, 8), blocks=(1, 1),
    ...     projection_dims=(8, 4), batch_size=8, max_epochs=3, random_state=0, verbose=0,
    ... ).fit(X)
    >>> scan.transform(X).shape
    (16, 8)
    >>> scan.confident_history_.shape  # epochs x clips: 1 kept, 0 excluded, -1 unseen
    (3, 16)
    >>> scan.anomaly_score(X).shape
    (16,)
    """

    _parameter_constraints: dict = {
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 1, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "augmentations": [tuple, list],
        "widths": [tuple, list],
        "blocks": [tuple, list],
        "projection_dims": [tuple, list],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "selection": ["boolean"],
        "balance_factor": ["boolean"],
        "balance_start": [StrOptions(set(_BALANCE_STARTS))],
        "center": [StrOptions({"geometric_median", "mean"})],
        "shrinkage": [StrOptions(set(_SHRINKAGES))],
        "reference_epochs": [Interval(Integral, 1, None, closed="left")],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_cycle_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, None, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "drop_last": ["boolean"],
        "checkpoint_dir": [None, str, os.PathLike],
        "device": [str],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        sample_rate=16000,
        n_fft=2048,
        hop_length=1024,
        n_mels=128,
        augmentations=AUGMENTATIONS,
        widths=(64, 128, 256, 512),
        blocks=(2, 2, 2, 2),
        projection_dims=(512, 128),
        temperature=0.007,
        alpha=0.05,
        selection=True,
        balance_factor=True,
        balance_start="warmup",
        center="geometric_median",
        shrinkage="ledoit_wolf",
        reference_epochs=10,
        contamination="auto",
        lr=1e-3,
        weight_decay=0.01,
        lr_cycle_epochs=100,
        batch_size=128,
        max_epochs=400,
        drop_last=True,
        checkpoint_dir=None,
        device="auto",
        n_jobs=None,
        random_state=None,
        verbose=1,
    ):
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.augmentations = augmentations
        self.widths = widths
        self.blocks = blocks
        self.projection_dims = projection_dims
        self.temperature = temperature
        self.alpha = alpha
        self.selection = selection
        self.balance_factor = balance_factor
        self.balance_start = balance_start
        self.center = center
        self.shrinkage = shrinkage
        self.reference_epochs = reference_epochs
        self.contamination = contamination
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_cycle_epochs = lr_cycle_epochs
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.drop_last = drop_last
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, n_clips):
        """Check what the constraints cannot say; return the training batch size."""

        def positive_ints(values):
            return len(values) > 0 and all(isinstance(v, Integral) and v >= 1 for v in values)

        for name in ("widths", "blocks", "projection_dims"):
            if not positive_ints(getattr(self, name)):
                raise ValueError(f"{name} must be a non-empty sequence of positive ints; got {getattr(self, name)!r}.")
        if len(self.widths) != len(self.blocks):
            raise ValueError(
                f"widths and blocks must have one entry per ResNet stage; got {len(self.widths)} widths "
                f"{tuple(self.widths)} and {len(self.blocks)} block counts {tuple(self.blocks)}."
            )
        augmentations = tuple(self.augmentations)
        if not augmentations or any(a not in AUGMENTATIONS for a in augmentations) or len(set(augmentations)) < len(
            augmentations
        ):
            raise ValueError(
                f"augmentations must be a non-empty subset of {AUGMENTATIONS} without repeats; got {augmentations!r}."
            )
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size={self.batch_size}: contrastive learning needs at least 2 clips per batch (each "
                "clip's negatives are the other clips of its batch)."
            )
        if n_clips < self.batch_size:
            if self.drop_last:
                raise ValueError(
                    f"{type(self).__name__} got {n_clips} clips, fewer than batch_size={self.batch_size}: with "
                    "drop_last=True every batch would be incomplete and dropped, and nothing trained. Lower "
                    f"batch_size to at most {n_clips}, or set drop_last=False to train on batches of all "
                    f"{n_clips} clips."
                )
            return n_clips
        return self.batch_size

    def _lr_scheduler(self):
        if self.lr_cycle_epochs is None:
            return LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=self.max_epochs)
        return LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingWarmRestarts, T_0=self.lr_cycle_epochs)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the embeddings with selective contrastive learning, then the scorer.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, finite, at least 2 (and at least
            ``batch_size`` with ``drop_last=True``) of at least
            ``hop_length`` samples; presumed normal, some perhaps not.
        y : None
            Ignored: training is unsupervised.

        Returns
        -------
        self : ConfidentPairSCAN
            The fitted estimator.
        """
        X = validate_data(self, X, dtype=np.float32, ensure_min_samples=2)
        n_clips = X.shape[0]
        if X.shape[1] < self.hop_length:
            raise ValueError(
                f"Clips of {X.shape[1]} samples (n_features = {X.shape[1]}) are too short for "
                f"hop_length={self.hop_length}: the log-mel needs at least two frames (n_samples >= "
                "hop_length), else it has no time axis to shift, mask or learn from; use longer clips or a "
                "shorter hop_length."
            )
        batch_size = self._check_params(n_clips)
        device = resolve_device(self.device)
        seed = draw_seed(self.random_state)
        net = make_training_net(
            ContrastiveNet,
            SCANModule,
            NTXentLoss,
            estimator=self,
            batch_size=batch_size,
            drop_last=self.drop_last,
            checkpoint_dir=self.checkpoint_dir,
            callbacks=[("lr_scheduler", self._lr_scheduler())],
            module__sample_rate=self.sample_rate,
            module__n_fft=self.n_fft,
            module__hop_length=self.hop_length,
            module__n_mels=self.n_mels,
            module__widths=tuple(self.widths),
            module__blocks=tuple(self.blocks),
            module__projection_dims=tuple(self.projection_dims),
            module__augmentations=tuple(self.augmentations),
            criterion__temperature=self.temperature,
            n_clips=n_clips,
            selection=self.selection,
            alpha=self.alpha,
            balance_factor=self.balance_factor,
            balance_start=self.balance_start,
            center=self.center,
            shrinkage=self.shrinkage,
            device=str(device),
        )
        with seeded_torch(seed, device):
            net.fit(X, np.arange(n_clips, dtype=np.int64))
        self.net_ = net
        self.confident_history_ = np.stack(net.confident_history_)
        self.n_embedding_ = net.module_.n_embedding
        self._n_features_out = self.n_embedding_
        self.chi2_threshold_ = net.chi2_threshold
        last = net.threshold(len(net.history))
        self.threshold_ = self.chi2_threshold_ if last is None else last

        embeddings = self._embed(X)
        self.reference_mask_ = self._reference_mask()
        self.scorer_ = MahalanobisScorer(
            center=self.center,
            covariance=self.shrinkage,
            contamination=0.1 if self.contamination == "auto" else self.contamination,
        ).fit(embeddings[self.reference_mask_])
        self.location_ = self.scorer_.location_
        self.covariance_ = self.scorer_.covariance_
        if self.contamination == "auto":
            self.offset_ = -float(self.threshold_)
        else:
            self._set_offset(-self.scorer_.score_samples(embeddings))
        return self

    def _reference_mask(self):
        recent = self.confident_history_[-self.reference_epochs :]
        seen = np.count_nonzero(recent >= 0, axis=0)
        confident = np.count_nonzero(recent == 1, axis=0)
        reference = (seen > 0) & (2 * confident >= seen)
        if np.count_nonzero(reference) < 2:
            warnings.warn(
                f"{type(self).__name__}: {np.count_nonzero(reference)} training clip(s) were confident in the "
                f"last {self.reference_epochs} epochs; the inference statistics use all {reference.size} "
                "clips instead. The threshold excluded nearly everything: train longer, raise alpha or use "
                "balance_start='warmup'.",
                UserWarning,
                stacklevel=3,
            )
            reference = np.ones_like(reference)
        return reference

    def _embed(self, X):
        return transform_with_trained_module(
            self.net_.module_, X, batch_size=self.batch_size, n_jobs=self.n_jobs, verbose=self.verbose > 1,
            desc=type(self).__name__,
        )

    def transform(self, X):
        """Embed clips with the trained encoder (no augmentation): the latent vectors ``z``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, as long as those of ``fit``.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_embedding_), dtype float32
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self._embed(X)

    def score_samples(self, X):
        """Opposite of the squared Mahalanobis distance of each clip's embedding: higher is more normal.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, as long as those of ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_clips,), float64
        """
        embeddings = self.transform(X)
        return self.scorer_.score_samples(embeddings)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
