"""Spectrogram ViT: domain-adaptive masked teacher-student pre-training, then ArcFace fine-tuning.

Fang et al. reach the state of the art on DCASE 2025 for machines without
attribute labels in three steps; skasd holds steps 1 and 3:

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
update, the schedule, the skorch net) is in :mod:`._vit_training`; what the
two estimators share (architecture parameters, input statistics,
checkpoints) is in :mod:`._vit_fitting`; step 1's estimator is in
:mod:`._vit_pretrainer`; this module holds step 3's,
:class:`ViTArcFaceEmbedder`, and re-exports step 1's.
"""

import copy
import math
import os
from numbers import Integral, Real
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
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._deprecation import renamed_parameter
from ..utils._torch import (
    resolve_device,
)
from ..utils._waveforms import pcm_as_float
from ._losses import ArcFace
from ._training import (
    AuxiliaryClassifierNet,
    TrainedEmbedderMixin,
    check_class_labels,
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
from ._vit_modules import ViTEmbeddingModule
from ._vit_pretrainer import MaskedTeacherStudentPretrainer

__all__ = [
    "MaskedTeacherStudentPretrainer",
    "ViTArcFaceEmbedder",
]


# ---------------------------------------------------------------------------
# Step 3: fine-tuning on machine attributes


class ViTArcFaceEmbedder(
    ViTArchitectureMixin, TrainedEmbedderMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
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

    **Where the weights come from** (``weights``):

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
    weights : None, str, path-like or MaskedTeacherStudentPretrainer, default=None
        The starting weights, see above.
{ARCHITECTURE_DOC}
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
        same embeddings. An unfitted pre-trainer passed as ``weights`` is
        seeded by its own ``random_state``.
    verbose : int, default=0
        0: silent; 1: one line per epoch; 2: also a progress bar per epoch.
    encoder : None, str, path-like or MaskedTeacherStudentPretrainer, default="deprecated"
        Former name of ``weights``.

        .. deprecated:: 0.1
           ``encoder`` was renamed ``weights`` in 0.1 and will be removed
           in 0.2.

    Attributes
    ----------
    net_ : AuxiliaryClassifierNet
        The fitted skorch net; ``net_.module_`` is the
        :class:`ViTEmbeddingModule`, ``net_.criterion_`` the ArcFace head.
    classes_ : ndarray of shape (n_classes,)
        The classes, in the order of the ArcFace centres.
    pretrainer_ : MaskedTeacherStudentPretrainer
        The pre-trainer fitted in ``fit`` (only when ``weights`` was an
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
        "weights": [None, str, os.PathLike, MaskedTeacherStudentPretrainer],
        **ARCHITECTURE_CONSTRAINTS,
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
        "encoder": [None, str, os.PathLike, MaskedTeacherStudentPretrainer, Hidden(StrOptions({"deprecated"}))],
    }

    def __init__(
        self,
        *,
        weights=None,
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
        verbose=0,
        encoder="deprecated",
    ):
        self.weights = weights
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
        self.encoder = encoder

    def _initial_vit(self, X, device):
        """The ViT to fine-tune, on the CPU, and the pre-trainer fitted for it (or None)."""
        weights = renamed_parameter(self, "encoder", "weights")
        if isinstance(weights, MaskedTeacherStudentPretrainer):
            try:
                check_is_fitted(weights)
                pretrainer = weights
            except NotFittedError:
                pretrainer = clone(weights)
                # Nested parameters are not validated by this fit's context: validate them here.
                pretrainer._validate_params()
                pretrainer.fit(X)
            vit = copy.deepcopy(pretrainer.net_.module_.student).to("cpu")
            check_clip_length(vit, X.shape[1])
            return vit, (pretrainer if pretrainer is not weights else None)
        self._check_architecture()
        vit = self._build_vit()
        check_clip_length(vit, X.shape[1])
        if weights is None:
            set_input_statistics(
                vit, X, batch_size=self.batch_size, device=device, n_jobs=self.n_jobs, name=type(self).__name__
            )
        else:
            load_vit(vit, weights)
        return vit, None

    def _net_spec(self, X, y, *, seed, device):
        """The net: ArcFace classification of the (new, pre-trained or given) ViT's pooled output."""
        n_clips = X.shape[0]
        batch_size = min(self.batch_size, n_clips)
        n_steps = (n_clips // batch_size) * self.max_epochs
        vit, pretrainer = self._initial_vit(X, device)
        if pretrainer is not None:
            self.pretrainer_ = pretrainer
        return dict(
            net_class=AuxiliaryClassifierNet,
            module=ViTEmbeddingModule(vit, self.pooling, self.time_mask_fraction, self.frequency_mask_fraction),
            criterion=ArcFace(
                len(self.classes_), vit.embed_dim, scale=self.scale, margin=self.margin,
                generator=torch.Generator().manual_seed(seed),
            ),
            batch_size=batch_size,
            callbacks=[("lr_scheduler", cosine_schedule(self.warmup_steps, n_steps))],
            n_classes=len(self.classes_),
            mixup_probability=self.mixup_probability,
            device=str(device),
        )

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
        X, y = validate_data(self, pcm_as_float(X), y, dtype=np.float32)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        targets = encoder.transform(y).astype(np.int64)
        self._fit_net(X, targets, device=resolve_device(self.device))
        self.n_embedding_ = self.net_.module_.vit.embed_dim
        self._n_features_out = self.n_embedding_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
