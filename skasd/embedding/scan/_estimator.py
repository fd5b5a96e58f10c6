"""ConfidentPairSCAN: the estimator, an embedder and an outlier detector trained by selective contrastive learning."""

import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data
from skorch.callbacks import LRScheduler

from ...scoring._base import BaseScorer
from ...scoring._mahalanobis import MahalanobisScorer
from ...scoring._threshold import THRESHOLDS
from ...utils._torch import (
    resolve_device,
)
from ...utils._waveforms import pcm_as_float
from .._training import TrainedEmbedderMixin
from ._augment import AUGMENTATIONS
from ._loss import NTXentLoss
from ._modules import SCANModule
from ._net import ContrastiveNet

__all__ = [
    "ConfidentPairSCAN",
]

_BALANCE_STARTS = ("warmup", "shift")
_SHRINKAGES = ("ledoit_wolf", "oas")


class ConfidentPairSCAN(TrainedEmbedderMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseScorer):
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
    threshold : {"percentile", "gamma"}, default="percentile"
        With a float ``contamination``: the quantile that sets ``offset_``,
        empirical or of a fitted gamma distribution (see
        :class:`~skasd.KNNScorer`); unused with ``"auto"``.
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
        that epoch). Fitting fewer clips than ``batch_size`` reduces the
        batch size to the number of clips, with a warning, whatever
        ``drop_last`` says (as :class:`~sklearn.neural_network.MLPClassifier`
        clips its ``batch_size``).
    checkpoint_dir : str, path-like or None, default=None
        Directory where skorch's ``Checkpoint`` saves the training state
        after every epoch.
    device : str, default="auto"
        Torch device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
    n_jobs : int or None, default=None
        joblib threads over batches in ``transform`` on CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the batch order and the augmentations.
    verbose : int, default=0
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
    >>> from skasd.embedding.scan import ConfidentPairSCAN
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
        "threshold": [StrOptions(set(THRESHOLDS))],
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
        threshold="percentile",
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
        verbose=0,
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
        self.threshold = threshold
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
            # As scikit-learn's MLPClassifier clips its batch_size: a small set trains on one batch of all its
            # clips rather than on nothing (drop_last would drop the only, incomplete batch).
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the {n_clips} clips given to fit: training on "
                f"batches of all {n_clips} clips.",
                UserWarning,
                stacklevel=3,
            )
            return n_clips
        return self.batch_size

    def _lr_scheduler(self):
        if self.lr_cycle_epochs is None:
            return LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=self.max_epochs)
        return LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingWarmRestarts, T_0=self.lr_cycle_epochs)

    def _net_spec(self, X, y, *, seed, device, batch_size):
        """The net: selective contrastive learning of a :class:`SCANModule`; ``y`` holds the clip indices."""
        return dict(
            net_class=ContrastiveNet,
            module=SCANModule,
            criterion=NTXentLoss,
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
            n_clips=X.shape[0],
            selection=self.selection,
            alpha=self.alpha,
            balance_factor=self.balance_factor,
            balance_start=self.balance_start,
            center=self.center,
            shrinkage=self.shrinkage,
            device=str(device),
        )

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
        X = validate_data(self, pcm_as_float(X), dtype=np.float32, ensure_min_samples=2)
        n_clips = X.shape[0]
        if X.shape[1] < self.hop_length:
            raise ValueError(
                f"Clips of {X.shape[1]} samples (n_features = {X.shape[1]}) are too short for "
                f"hop_length={self.hop_length}: the log-mel needs at least two frames (n_samples >= "
                "hop_length), else it has no time axis to shift, mask or learn from; use longer clips or a "
                "shorter hop_length."
            )
        batch_size = self._check_params(n_clips)
        net = self._fit_net(
            X, np.arange(n_clips, dtype=np.int64), device=resolve_device(self.device), batch_size=batch_size
        )
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


