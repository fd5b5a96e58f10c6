"""Spectrogram ViT: domain-adaptive masked teacher-student pre-training, then ArcFace fine-tuning.

Fang et al. reach the state of the art on DCASE 2025 for machines without
attribute labels in three steps; this module holds steps 1 and 3:

1. :class:`MaskedTeacherStudentPretrainer` continues the self-supervised
   pre-training of an audio transformer on machine sounds (domain-adaptive
   pre-training, DAP, with EAT's masked teacher-student objective), from
   random weights or from a local checkpoint; its ``transform`` gives the
   mean of the patch outputs (eq. 8), the embedding to cluster into
   pseudo-attributes (step 2, :class:`~skasd.WardPseudoAttributes`);
3. :class:`ViTArcFaceEmbedder` fine-tunes the pre-trained transformer to
   classify machine type and (true or pseudo) attribute with an ArcFace
   head, mixup and SpecAugment; its embeddings go to any skasd scorer.

The torch pieces (:class:`~skasd.embedding._vit_modules.SpectrogramViT`,
its decoder, the teacher-student and fine-tuning modules) are in
:mod:`._vit_modules`; the training machinery (masks, the UFO loss, the EMA
update, the schedule, the skorch net) is in :mod:`._vit_training`; this
module holds the two estimators and their fitting helpers.
"""

import copy
import math
import os
from numbers import Integral, Real
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import LRScheduler

from ..utils._checkpoints import load_into, load_state_dict
from ..utils._torch import (
    resolve_device,
    transform_in_batches,
)
from ._losses import ArcFace
from ._training import (
    AuxiliaryClassifierNet,
    TrainedEmbedderMixin,
    check_class_labels,
    draw_seed,
    make_training_net,
    seeded_torch,
)
from ._vit_modules import LogMelMoments, MaskedTeacherStudentModule, SpectrogramViT, ViTEmbeddingModule
from ._vit_training import (
    EMATeacher,
    MaskedTeacherStudentNet,
    UFOLoss,
    WarmupCosine,
    n_kept_patches,
)

__all__ = [
    "MaskedTeacherStudentPretrainer",
    "ViTArcFaceEmbedder",
]

# A global standard deviation of the training log-mels below this (in dB) means silent or constant clips.
_MIN_INPUT_STD = 1e-6


# ---------------------------------------------------------------------------
# Shared estimator machinery


def _set_input_statistics(vit, X, *, batch_size, device, n_jobs, name):
    """Set ``vit.input_mean`` and ``input_std`` to the global log-mel statistics of the clips ``X``."""
    moments_module = LogMelMoments(copy.deepcopy(vit.front_end).to(device))
    moments = transform_in_batches(
        X, moments_module, batch_size=batch_size, device=device, n_jobs=n_jobs
    ).astype(np.float64)
    mean, mean_square = moments.mean(axis=0)
    std = math.sqrt(max(mean_square - mean**2, 0.0))
    if not std > _MIN_INPUT_STD:
        raise ValueError(
            f"{name}: the log-mel spectrograms of the training clips are constant ({mean:.1f} dB everywhere): "
            "the clips are silent or constant, and there is nothing to learn from them. Check the clips."
        )
    with torch.no_grad():
        vit.input_mean.fill_(mean)
        vit.input_std.fill_(std)
    return vit


def _checkpoint_path(checkpoint, parameter="checkpoint"):
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise ValueError(f"{parameter}={str(checkpoint)!r} is not an existing file.")
    return path


def _load_vit(vit, checkpoint, parameter="checkpoint"):
    """Load a state-dict file into ``vit``, strictly; a ValueError lists the mismatched keys and shapes."""
    path = _checkpoint_path(checkpoint, parameter)
    try:
        return load_into(vit, load_state_dict(path, None), path)
    except ValueError as exc:
        if parameter == "checkpoint":
            raise
        raise ValueError(f"{parameter}: {exc}") from exc


def _check_clip_length(vit, n_samples):
    if n_samples < vit.min_samples():
        raise ValueError(
            f"Clips of {n_samples} samples (n_features = {n_samples}) give {vit.n_frames(n_samples)} log-mel "
            f"frame(s) (10 ms hop at sample_rate={vit.sample_rate}), fewer than one patch of "
            f"patch_size[1]={vit.patch_size[1]} frames: they need at least {vit.min_samples()} samples. Use "
            "longer clips or a smaller patch_size."
        )


def _cosine_schedule(warmup_steps, total_steps):
    return LRScheduler(
        policy=torch.optim.lr_scheduler.LambdaLR,
        lr_lambda=WarmupCosine(min(warmup_steps, total_steps), total_steps),
        step_every="batch",
    )


_ARCHITECTURE_CONSTRAINTS = {
    "sample_rate": [Interval(Integral, 1, None, closed="left")],
    "n_mels": [Interval(Integral, 1, None, closed="left")],
    "patch_size": [tuple, list],
    "embed_dim": [Interval(Integral, 4, None, closed="left")],
    "depth": [Interval(Integral, 1, None, closed="left")],
    "n_heads": [Interval(Integral, 1, None, closed="left")],
    "mlp_ratio": [Interval(Real, 0, None, closed="neither")],
}


class _ViTArchitectureMixin:
    """Checks and construction of the :class:`SpectrogramViT` an estimator's parameters describe."""

    def _check_architecture(self):
        patch = tuple(self.patch_size)
        if len(patch) != 2 or not all(isinstance(p, Integral) and not isinstance(p, bool) and p >= 1 for p in patch):
            raise ValueError(
                f"patch_size must be two positive ints (mel bands, frames), e.g. (16, 16); got {self.patch_size!r}."
            )
        if self.n_mels % patch[0]:
            raise ValueError(
                f"n_mels={self.n_mels} must be a multiple of patch_size[0]={patch[0]} (the patches tile the mel "
                "axis)."
            )
        if self.embed_dim % 4 or self.embed_dim % self.n_heads:
            raise ValueError(
                f"embed_dim={self.embed_dim} must be a multiple of 4 (the 2-D sine-cosine positions) and of "
                f"n_heads={self.n_heads}."
            )

    def _build_vit(self):
        return SpectrogramViT(
            sample_rate=self.sample_rate, n_mels=self.n_mels, patch_size=tuple(self.patch_size),
            embed_dim=self.embed_dim, depth=self.depth, n_heads=self.n_heads, mlp_ratio=self.mlp_ratio,
        )


_ARCHITECTURE_DOC = """\
    sample_rate : int, default=16000
        Sample rate of the waveforms in Hz. The log-mel frames are 25 ms
        long with a 10 ms shift at any rate.
    n_mels : int, default=128
        Mel bands, a multiple of ``patch_size[0]``.
    patch_size : tuple of int, default=(16, 16)
        (mel bands, frames) per patch. A 10 s clip at 16 kHz has 1001
        frames: 8 x 62 patches of 16 x 16 (the last 9 frames are dropped).
    embed_dim : int, default=192
        Width of the transformer, a multiple of 4 and of ``n_heads``.
    depth : int, default=6
        Transformer blocks.
    n_heads : int, default=3
        Attention heads.
    mlp_ratio : float, default=4.0
        Hidden width of each block's MLP, relative to ``embed_dim``."""


# ---------------------------------------------------------------------------
# Step 1: domain-adaptive pre-training


class MaskedTeacherStudentPretrainer(
    _ViTArchitectureMixin, TrainedEmbedderMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    __doc__ = f"""Domain-adaptive, self-supervised pre-training of a spectrogram ViT (masked teacher-student, EAT).

    Step 1 of Fang et al.: continue the self-supervised pre-training of an
    audio transformer on machine sounds, so that its embeddings adapt to
    the machines' domain and keep the differences between operating states
    (which classifying all clips of a machine as one class would erase).
    ``fit(X)`` needs no labels; ``transform(X)`` gives the embedding to
    cluster into pseudo-attributes (eq. 8): the mean of the student's
    final patch outputs, without masking.

    **The model** (:class:`SpectrogramViT`): 25 ms / 10 ms log-mel frames,
    ``n_mels`` bands, standardised; ``patch_size`` patches embedded by a
    strided convolution, fixed 2-D sine-cosine positions, a CLS token,
    ``depth`` transformer blocks and a final layer norm.

    **One training step** (EAT's utterance-frame objective, eqs. 4-6):

    - the *teacher*, an exponential moving average of the student, encodes
      the whole spectrogram; the frame targets ``Y`` are its block outputs,
      each instance-normalised over the patches, averaged over the blocks;
      the utterance target ``y`` is the average over blocks and patches of
      its (layer-normalised) outputs;
    - each clip is copied ``n_masks`` times, each copy masked with an
      *inverse block mask*: ``block_size x block_size`` blocks of patches
      are kept until exactly ``round((1 - mask_ratio) * n_patches)``
      patches are kept; the *student* encodes only those (and its CLS
      token), and a light CNN decoder (``decoder_depth`` blocks) predicts
      every patch from them and mask tokens;
    - ``L_UFO = L_f + L_u`` with ``L_f = ||X_o - Y_o||^2`` over the masked
      patches and ``L_u = ||c - y||^2`` for the CLS output ``c``, each the
      mean squared error per element;
    - AdamW steps the student and the decoder; then the teacher moves:
      ``teacher <- m teacher + (1 - m) student``, ``m`` ramped linearly
      from ``ema_decay`` to ``ema_end_decay`` over the run.

    The learning rate warms up linearly over ``warmup_steps`` steps and
    decays to 0 along a cosine.

    **Starting point.** Random weights (then ``input_mean`` and
    ``input_std``, the log-mel statistics, are set from the training
    clips), or ``checkpoint``: a local state-dict file of a
    :class:`SpectrogramViT` of the same architecture (keys, shapes and the
    input statistics), e.g. an AudioSet-pretrained model converted to it, or
    the output of :meth:`save_checkpoint`. Student and teacher both start
    from it. Nothing is ever downloaded.

    **Which network embeds.** The student: it is what the gradient trains
    and what EAT and data2vec 2.0 release and fine-tune; with ``m`` near
    0.9999 over a short domain-adaptive run, the teacher lags the student
    by thousands of steps. :meth:`save_checkpoint` saves the student too, so
    that :class:`ViTArcFaceEmbedder` fine-tunes what was embedded.

    Parameters
    ----------
{_ARCHITECTURE_DOC}
    decoder_depth : int, default=4
        Convolution blocks of the student's decoder (0: a linear layer).
    mask_ratio : float in (0, 1), default=0.8
        Fraction of the patches masked for the student (EAT: about 0.8).
    block_size : int, default=5
        Side, in patches, of the blocks of kept patches.
    n_masks : int, default=4
        Masked copies of each clip per step (EAT's multi-mask: the teacher
        runs once for all of them).
    ema_decay : float in [0, 1], default=0.999
        ``m`` at the first step.
    ema_end_decay : float in [0, 1] or None, default=0.9999
        ``m`` at the last step, reached linearly; None keeps ``ema_decay``.
    lr : float, default=5e-4
        Peak learning rate of AdamW.
    weight_decay : float, default=0.01
        Weight decay of AdamW.
    warmup_steps : int, default=100
        Steps of linear warm-up of the learning rate, before the cosine
        decay.
    batch_size : int, default=32
        Clips per training batch (the paper's; capped at the number of
        clips; the last incomplete batch of each epoch is dropped), and per
        batch in ``transform``.
    max_epochs : int, default=10
        Training epochs.
    checkpoint : str, path-like or None, default=None
        Local state-dict file of the starting weights (see above); None
        starts from random weights.
    device : str, default="auto"
        Torch device: ``"auto"`` (CUDA when available), ``"cpu"``,
        ``"cuda"``, ``"cuda:<index>"``, ``"mps"``; a device this machine
        lacks is a ``ValueError``.
    n_jobs : int or None, default=None
        joblib threads over batches in ``transform`` on CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the batch order and the masks: with an
        int, fitting twice on CPU gives the same embeddings. torch's global
        generators are left as they were.
    verbose : int, default=1
        0: silent; 1: one line per epoch; 2: also a progress bar per epoch.

    Attributes
    ----------
    net_ : MaskedTeacherStudentNet
        The fitted skorch net; ``net_.module_`` holds the ``student``, the
        ``teacher`` and the ``decoder``; ``net_.history`` has per batch the
        ``loss``, ``frame_loss``, ``utterance_loss``, ``ema_decay`` and the
        learning rate ``event_lr``, and per epoch ``train_loss``,
        ``frame_loss`` and ``utterance_loss`` (means over the batches).
    patch_grid_ : tuple of int
        (frequency, time) patches of a training clip.
    n_patches_ : int
        Patches of a training clip.
    n_kept_patches_ : int
        Patches the student sees per clip, ``round((1 - mask_ratio) *
        n_patches_)``.
    n_embedding_ : int
        Size of the embeddings, ``embed_dim``.
    n_features_in_ : int
        Clip length in samples seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    ViTArcFaceEmbedder : Step 3, fine-tuning the pre-trained ViT on machine attributes.
    WardPseudoAttributes : Step 2, pseudo-attributes from these embeddings.

    References
    ----------
    .. [1] X. Fang, G. Zhong, Q. Wang, F. Chu, L. Wang, M. Qian, M. Cai,
       J. Wu, J. Gao and J. Du, "Improving anomalous sound detection with
       attribute-aware representation from domain-adaptive pre-training"
       (Section 2.3, eqs. 4-8).
    .. [2] W. Chen, Y. Liang, Z. Ma, Z. Zheng and X. Chen, "EAT:
       Self-supervised pre-training with efficient audio transformer," in
       Proc. IJCAI, 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import MaskedTeacherStudentPretrainer
    >>> X = np.random.default_rng(0).normal(size=(8, 4000)).astype("float32")
    >>> dap = MaskedTeacherStudentPretrainer(
    ...     n_mels=16, patch_size=(8, 8), embed_dim=16, depth=1, n_heads=2, decoder_depth=1,
    ...     mask_ratio=0.5, batch_size=4, max_epochs=2, warmup_steps=1, random_state=0, verbose=0,
    ... ).fit(X)
    >>> dap.patch_grid_, dap.n_kept_patches_
    ((2, 3), 3)
    >>> dap.transform(X).shape
    (8, 16)
    """

    _parameter_constraints: ClassVar[dict] = {
        **_ARCHITECTURE_CONSTRAINTS,
        "decoder_depth": [Interval(Integral, 0, None, closed="left")],
        "mask_ratio": [Interval(Real, 0, 1, closed="neither")],
        "block_size": [Interval(Integral, 1, None, closed="left")],
        "n_masks": [Interval(Integral, 1, None, closed="left")],
        "ema_decay": [Interval(Real, 0, 1, closed="both")],
        "ema_end_decay": [Interval(Real, 0, 1, closed="both"), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "warmup_steps": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "checkpoint": [None, str, os.PathLike],
        "device": [str],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        sample_rate=16000,
        n_mels=128,
        patch_size=(16, 16),
        embed_dim=192,
        depth=6,
        n_heads=3,
        mlp_ratio=4.0,
        decoder_depth=4,
        mask_ratio=0.8,
        block_size=5,
        n_masks=4,
        ema_decay=0.999,
        ema_end_decay=0.9999,
        lr=5e-4,
        weight_decay=0.01,
        warmup_steps=100,
        batch_size=32,
        max_epochs=10,
        checkpoint=None,
        device="auto",
        n_jobs=None,
        random_state=None,
        verbose=1,
    ):
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.depth = depth
        self.n_heads = n_heads
        self.mlp_ratio = mlp_ratio
        self.decoder_depth = decoder_depth
        self.mask_ratio = mask_ratio
        self.block_size = block_size
        self.n_masks = n_masks
        self.ema_decay = ema_decay
        self.ema_end_decay = ema_end_decay
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.checkpoint = checkpoint
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pre-train the ViT on the clips, self-supervised.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, finite, each at least one patch
            long (``(patch_size[1] - 1) * hop`` samples, hop = 10 ms).
        y : None
            Ignored: pre-training is self-supervised.

        Returns
        -------
        self : MaskedTeacherStudentPretrainer
            The fitted pre-trainer.
        """
        self._check_architecture()
        X = validate_data(self, X, dtype=np.float32)
        name = type(self).__name__
        device = resolve_device(self.device)
        seed = draw_seed(self.random_state)
        n_clips = X.shape[0]
        batch_size = min(self.batch_size, n_clips)
        n_steps = (n_clips // batch_size) * self.max_epochs
        with seeded_torch(seed, device):
            vit = self._build_vit()
            _check_clip_length(vit, X.shape[1])
            grid = vit.patch_grid(X.shape[1])
            n_patches = grid[0] * grid[1]
            n_keep = n_kept_patches(self.mask_ratio, n_patches)
            if self.checkpoint is not None:
                _load_vit(vit, self.checkpoint)
            else:
                _set_input_statistics(
                    vit, X, batch_size=self.batch_size, device=device, n_jobs=self.n_jobs, name=name
                )
            module = MaskedTeacherStudentModule(vit, self.decoder_depth)
            net = make_training_net(
                MaskedTeacherStudentNet,
                module,
                UFOLoss,
                estimator=self,
                batch_size=batch_size,
                callbacks=[
                    ("ema_teacher", EMATeacher(self.ema_decay, self.ema_end_decay, n_steps)),
                    ("lr_scheduler", _cosine_schedule(self.warmup_steps, n_steps)),
                ],
                mask_ratio=self.mask_ratio,
                n_masks=self.n_masks,
                block_size=self.block_size,
                device=str(device),
            )
            net.fit(X, None)
        self.net_ = net
        self.patch_grid_ = grid
        self.n_patches_ = n_patches
        self.n_kept_patches_ = n_keep
        self.n_embedding_ = self.embed_dim
        self._n_features_out = self.n_embedding_
        return self

    def transform(self, X):
        """The eq. 8 embedding: the mean of the student's final patch outputs, without masking.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, as long as those of ``fit``.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_embedding_), dtype float32
        """
        return super().transform(X)

    def encoder_state_dict(self):
        """A CPU copy of the student's state dict: the weights :class:`ViTArcFaceEmbedder` starts from."""
        check_is_fitted(self)
        return {key: value.detach().cpu().clone() for key, value in self.net_.module_.student.state_dict().items()}

    def save_checkpoint(self, path):
        """Save the student's state dict to ``path`` (``torch.save``), for ``checkpoint`` or ``encoder``.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        path : pathlib.Path
        """
        path = Path(path)
        torch.save(self.encoder_state_dict(), path)
        return path


# ---------------------------------------------------------------------------
# Step 3: fine-tuning on machine attributes


class ViTArcFaceEmbedder(
    _ViTArchitectureMixin, TrainedEmbedderMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    __doc__ = f"""Fine-tune a spectrogram ViT to classify machine attributes with ArcFace; embed clips.

    Step 3 of Fang et al. (model adaptation): the (domain-adaptively
    pre-trained) transformer is fine-tuned on machine attribute
    classification, each class a machine type with a true or pseudo
    attribute (``y``, e.g. ``"fan|speed_1500"`` or ``"valve|pseudo_3"``),
    with an ArcFace head (:class:`~skasd.embedding.ArcFace`) on the clip
    embedding. Mixup (a batch mixed with probability
    ``mixup_probability``: each waveform blended with another clip of the
    batch, the targets alike) and SpecAugment (a time band and a mel band
    of each standardised log-mel set to its mean) augment the training
    clips. The learning rate warms up linearly over ``warmup_steps`` steps
    and decays to 0 along a cosine (the paper: peak 5e-5, 120 warm-up
    steps, batches of 32). ``transform`` gives the embeddings, without
    augmentation, for any scorer: a k-NN scorer as in the paper
    (:class:`~skasd.KNNScorer`, cosine or Euclidean).

    **Where the weights come from** (``encoder``):

    - None: random weights, the architecture of the parameters below, the
      log-mel statistics of the training clips;
    - a path: a local state-dict file of a :class:`SpectrogramViT` with the
      architecture of the parameters below (see
      :meth:`MaskedTeacherStudentPretrainer.save_checkpoint`); a file that
      does not match is a ``ValueError`` listing the missing, unexpected
      and mismatched keys with both shapes;
    - a :class:`MaskedTeacherStudentPretrainer`: if fitted, a copy of its
      student; if not, a clone of it is first fitted on the same ``X``
      (domain-adaptive pre-training, then fine-tuning, in one ``fit``;
      kept in ``pretrainer_``). The architecture is the pre-trainer's and
      the architecture parameters below are not used. Note that
      ``clone`` (``GridSearchCV``, ``cross_validate``) hands an *unfitted*
      copy of a fitted pre-trainer, which then pre-trains again on each
      training fold: to reuse one pre-training, pass its checkpoint path.

    Parameters
    ----------
    encoder : None, str, path-like or MaskedTeacherStudentPretrainer, default=None
        The starting weights, see above.
{_ARCHITECTURE_DOC}
    pooling : {{"cls", "mean"}}, default="cls"
        The clip embedding: the CLS output (EAT's utterance-level
        representation for classification) or the mean of the patch
        outputs (eq. 8).
    margin : float, default=0.5
        ArcFace's additive angular margin, in radians.
    scale : float, default=30.0
        ArcFace's scale.
    mixup_probability : float in [0, 1], default=0.5
        Probability that a training batch is mixed up.
    time_mask_fraction : float in [0, 1), default=0.1
        SpecAugment: each training log-mel gets one band of up to this
        fraction of its frames masked (0: none).
    frequency_mask_fraction : float in [0, 1), default=0.1
        SpecAugment: one band of up to this fraction of the mel bands.
    lr : float, default=5e-5
        Peak learning rate of AdamW (the paper's).
    weight_decay : float, default=0.01
        Weight decay of AdamW.
    warmup_steps : int, default=120
        Steps of linear warm-up (the paper's).
    batch_size : int, default=32
        Clips per training batch (capped at the number of clips; the last
        incomplete batch of each epoch is dropped) and per batch in
        ``transform``.
    max_epochs : int, default=10
        Training epochs.
    device : str, default="auto"
        Torch device: ``"auto"`` (CUDA when available), ``"cpu"``,
        ``"cuda"``...; a device this machine lacks is a ``ValueError``.
    n_jobs : int or None, default=None
        joblib threads over batches in ``transform`` on CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the ArcFace centres, the batch order,
        mixup and SpecAugment: with an int, fitting twice on CPU gives the
        same embeddings. An unfitted pre-trainer passed as ``encoder`` is
        seeded by its own ``random_state``.
    verbose : int, default=1
        0: silent; 1: one line per epoch; 2: also a progress bar per epoch.

    Attributes
    ----------
    net_ : AuxiliaryClassifierNet
        The fitted skorch net; ``net_.module_`` is the
        :class:`ViTEmbeddingModule`, ``net_.criterion_`` the ArcFace head.
    classes_ : ndarray of shape (n_classes,)
        The classes, in the order of the ArcFace centres.
    pretrainer_ : MaskedTeacherStudentPretrainer
        The pre-trainer fitted in ``fit`` (only when ``encoder`` was an
        unfitted one).
    n_embedding_ : int
        Size of the embeddings, the ViT's width.
    n_features_in_ : int
        Clip length in samples seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    MaskedTeacherStudentPretrainer : Step 1, the pre-training.
    MultiBranchEmbedder : CNN embeddings trained on the same task.

    References
    ----------
    .. [1] X. Fang, G. Zhong, Q. Wang, F. Chu, L. Wang, M. Qian, M. Cai,
       J. Wu, J. Gao and J. Du, "Improving anomalous sound detection with
       attribute-aware representation from domain-adaptive pre-training"
       (Sections 2.2 and 2.5).
    .. [2] J. Deng, J. Guo, N. Xue and S. Zafeiriou, "ArcFace: Additive
       angular margin loss for deep face recognition", in Proc. CVPR, 2019.
    .. [3] D. S. Park et al., "SpecAugment: A simple data augmentation
       method for automatic speech recognition", in Proc. Interspeech, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import ViTArcFaceEmbedder
    >>> X = np.random.default_rng(0).normal(size=(8, 4000)).astype("float32")
    >>> y = ["fan|a", "fan|b"] * 4
    >>> embedder = ViTArcFaceEmbedder(
    ...     n_mels=16, patch_size=(8, 8), embed_dim=16, depth=1, n_heads=2, lr=1e-3, warmup_steps=1,
    ...     batch_size=4, max_epochs=2, random_state=0, verbose=0,
    ... )
    >>> embedder.fit_transform(X, y).shape
    (8, 16)
    """

    _parameter_constraints: ClassVar[dict] = {
        "encoder": [None, str, os.PathLike, MaskedTeacherStudentPretrainer],
        **_ARCHITECTURE_CONSTRAINTS,
        "pooling": [StrOptions({"cls", "mean"})],
        "margin": [Interval(Real, 0, math.pi, closed="left")],
        "scale": [Interval(Real, 0, None, closed="neither")],
        "mixup_probability": [Interval(Real, 0, 1, closed="both")],
        "time_mask_fraction": [Interval(Real, 0, 1, closed="left")],
        "frequency_mask_fraction": [Interval(Real, 0, 1, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "warmup_steps": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        encoder=None,
        sample_rate=16000,
        n_mels=128,
        patch_size=(16, 16),
        embed_dim=192,
        depth=6,
        n_heads=3,
        mlp_ratio=4.0,
        pooling="cls",
        margin=0.5,
        scale=30.0,
        mixup_probability=0.5,
        time_mask_fraction=0.1,
        frequency_mask_fraction=0.1,
        lr=5e-5,
        weight_decay=0.01,
        warmup_steps=120,
        batch_size=32,
        max_epochs=10,
        device="auto",
        n_jobs=None,
        random_state=None,
        verbose=1,
    ):
        self.encoder = encoder
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.depth = depth
        self.n_heads = n_heads
        self.mlp_ratio = mlp_ratio
        self.pooling = pooling
        self.margin = margin
        self.scale = scale
        self.mixup_probability = mixup_probability
        self.time_mask_fraction = time_mask_fraction
        self.frequency_mask_fraction = frequency_mask_fraction
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _initial_vit(self, X, device):
        """The ViT to fine-tune, on the CPU, and the pre-trainer fitted for it (or None)."""
        if isinstance(self.encoder, MaskedTeacherStudentPretrainer):
            try:
                check_is_fitted(self.encoder)
                pretrainer = self.encoder
            except NotFittedError:
                pretrainer = clone(self.encoder)
                # Nested parameters are not validated by this fit's context: validate them here.
                pretrainer._validate_params()
                pretrainer.fit(X)
            vit = copy.deepcopy(pretrainer.net_.module_.student).to("cpu")
            _check_clip_length(vit, X.shape[1])
            return vit, (pretrainer if pretrainer is not self.encoder else None)
        self._check_architecture()
        vit = self._build_vit()
        _check_clip_length(vit, X.shape[1])
        if self.encoder is None:
            _set_input_statistics(
                vit, X, batch_size=self.batch_size, device=device, n_jobs=self.n_jobs, name=type(self).__name__
            )
        else:
            _load_vit(vit, self.encoder, "encoder")
        return vit, None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, aux_label=None):
        """Fine-tune the ViT to classify the machine attributes.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, finite, each at least one patch long.
        y : array-like of shape (n_clips,)
            Class of each clip: machine type and true or pseudo attribute
            (e.g. ``"fan|speed_1500"``), used when ``aux_label`` is not given.
        aux_label : array-like of shape (n_clips,), default=None
            The classes as sample metadata, taking precedence over ``y``
            (inside ``GridSearchCV`` or ``cross_validate``, ``y`` holds the
            anomaly labels; route these with ``set_fit_request(aux_label=True)``).

        Returns
        -------
        self : ViTArcFaceEmbedder
            The fitted embedder.
        """
        if aux_label is not None:
            y = aux_label
        check_class_labels(y, type(self).__name__)
        X, y = validate_data(self, X, y, dtype=np.float32)
        device = resolve_device(self.device)
        seed = draw_seed(self.random_state)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        targets = encoder.transform(y).astype(np.int64)
        n_clips = X.shape[0]
        batch_size = min(self.batch_size, n_clips)
        n_steps = (n_clips // batch_size) * self.max_epochs
        with seeded_torch(seed, device):
            vit, pretrainer = self._initial_vit(X, device)
            if pretrainer is not None:
                self.pretrainer_ = pretrainer
            module = ViTEmbeddingModule(vit, self.pooling, self.time_mask_fraction, self.frequency_mask_fraction)
            criterion = ArcFace(
                len(self.classes_), vit.embed_dim, scale=self.scale, margin=self.margin,
                generator=torch.Generator().manual_seed(seed),
            )
            net = make_training_net(
                AuxiliaryClassifierNet,
                module,
                criterion,
                estimator=self,
                batch_size=batch_size,
                callbacks=[("lr_scheduler", _cosine_schedule(self.warmup_steps, n_steps))],
                n_classes=len(self.classes_),
                mixup_probability=self.mixup_probability,
                device=str(device),
            )
            net.fit(X, targets)
        self.net_ = net
        self.n_embedding_ = vit.embed_dim
        self._n_features_out = self.n_embedding_
        return self

    def transform(self, X):
        """Embed clips with the fine-tuned ViT (no augmentation).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, as long as those of ``fit``.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_embedding_), dtype float32
            The CLS output or the mean patch output, after ``pooling``.
        """
        return super().transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

