"""Step 1 of Fang et al.: :class:`MaskedTeacherStudentPretrainer`, domain-adaptive masked teacher-student pre-training.

It continues the self-supervised pre-training of an audio transformer on
machine sounds (domain-adaptive pre-training, DAP, with EAT's masked
teacher-student objective), from random weights or from a local
checkpoint; its ``transform`` gives the mean of the patch outputs (eq. 8),
the embedding to cluster into pseudo-attributes (step 2,
:class:`~skasd.WardPseudoAttributes`). Step 3 is :mod:`._vit`.
"""

import copy
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
)
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._deprecation import renamed_parameter
from ..utils._torch import (
    resolve_device,
)
from ..utils._waveforms import pcm_as_float
from ._training import (
    TrainedEmbedderMixin,
)
from ._vit_fitting import (
    ARCHITECTURE_CONSTRAINTS,
    ARCHITECTURE_DOC,
    ViTArchitectureMixin,
    check_clip_length,
    cosine_schedule,
    load_vit,
    set_input_statistics,
)
from ._vit_modules import MaskedTeacherStudentModule, ViTEmbeddingModule
from ._vit_training import (
    EMATeacher,
    MaskedTeacherStudentNet,
    UFOLoss,
    n_kept_patches,
)

__all__ = ["MaskedTeacherStudentPretrainer"]


# ---------------------------------------------------------------------------
# Step 1: domain-adaptive pre-training


class MaskedTeacherStudentPretrainer(
    ViTArchitectureMixin, TrainedEmbedderMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
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
    clips), or ``weights``: a local state-dict file of a
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
{ARCHITECTURE_DOC}
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
    weights : str, path-like or None, default=None
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
    verbose : int, default=0
        0: silent; 1: one line per epoch; 2: also a progress bar per epoch.
    checkpoint : str, path-like or None, default="deprecated"
        Former name of ``weights``.

        .. deprecated:: 0.1
           ``checkpoint`` was renamed ``weights`` in 0.1 and will be
           removed in 0.2.

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
        **ARCHITECTURE_CONSTRAINTS,
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
        "weights": [None, str, os.PathLike],
        "device": [str],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "checkpoint": [None, str, os.PathLike, Hidden(StrOptions({"deprecated"}))],
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
        weights=None,
        device="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
        checkpoint="deprecated",
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
        self.weights = weights
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint = checkpoint

    def _net_spec(self, X, y, *, seed, device):
        """The net: the masked teacher-student module around a new (or the ``weights``') ViT.

        Also sets the fitted patch counts, known once the ViT is built.
        """
        n_clips = X.shape[0]
        batch_size = min(self.batch_size, n_clips)
        n_steps = (n_clips // batch_size) * self.max_epochs
        vit = self._build_vit()
        check_clip_length(vit, X.shape[1])
        self.patch_grid_ = vit.patch_grid(X.shape[1])
        self.n_patches_ = self.patch_grid_[0] * self.patch_grid_[1]
        self.n_kept_patches_ = n_kept_patches(self.mask_ratio, self.n_patches_)
        weights = renamed_parameter(self, "checkpoint", "weights")
        if weights is not None:
            load_vit(vit, weights)
        else:
            set_input_statistics(
                vit, X, batch_size=self.batch_size, device=device, n_jobs=self.n_jobs, name=type(self).__name__
            )
        return dict(
            net_class=MaskedTeacherStudentNet,
            module=MaskedTeacherStudentModule(vit, self.decoder_depth),
            criterion=UFOLoss,
            batch_size=batch_size,
            callbacks=[
                ("ema_teacher", EMATeacher(self.ema_decay, self.ema_end_decay, n_steps)),
                ("lr_scheduler", cosine_schedule(self.warmup_steps, n_steps)),
            ],
            mask_ratio=self.mask_ratio,
            n_masks=self.n_masks,
            block_size=self.block_size,
            device=str(device),
        )

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
        X = validate_data(self, pcm_as_float(X), dtype=np.float32)
        self._fit_net(X, None, device=resolve_device(self.device))
        self.n_embedding_ = self.embed_dim
        self._n_features_out = self.n_embedding_
        return self

    def encoder_state_dict(self):
        """A CPU copy of the student's state dict: the weights :class:`ViTArcFaceEmbedder` starts from."""
        check_is_fitted(self)
        return {key: value.detach().cpu().clone() for key, value in self.net_.module_.student.state_dict().items()}

    def _inference_module(self, n_samples=None):
        """The student alone (no teacher, no decoder), mean-pooled as ``transform``, on the CPU (for export)."""
        check_is_fitted(self)
        student = copy.deepcopy(self.net_.module_.student).to("cpu")
        return ViTEmbeddingModule(student, pooling="mean", time_mask_fraction=0.0, frequency_mask_fraction=0.0).eval()

    def save_checkpoint(self, path):
        """Save the student's state dict to ``path`` (``torch.save``), as ``weights`` of either ViT estimator.

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
