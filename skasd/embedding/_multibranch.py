"""MultiBranchEmbedder: CNN branches on spectra of several resolutions, trained by auxiliary classification."""

import os
import re
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import validate_data
from torch import nn

from ..utils._torch import resolve_device
from ..utils._waveforms import pcm_as_float
from ._blocks import ResidualBlock2d
from ._losses import AdaProj, ArcFace, SubClusterAdaCos, SubspaceLoss
from ._training import (
    AuxiliaryClassifierNet,
    TrainedEmbedderMixin,
    check_class_labels,
    check_noise,
    validation_split,
)
from ._triplet import SINGLE_MACHINE_TYPE
from ._triplet_net import TripletAuxiliaryNet

_STFT_BRANCH = re.compile(r"stft_(\d+(?:\.\d+)?)ms")
# Floor of the magnitudes before the log, far below any audible level.
_LOG_FLOOR = 1e-6


def parse_branch(branch):
    """Return ``("spectrum", None)`` or ``("stft", window_ms)`` for a branch name.

    Raises
    ------
    ValueError
        If the name is neither ``"spectrum"`` nor ``"stft_<window>ms"``.
    """
    if branch == "spectrum":
        return "spectrum", None
    match = _STFT_BRANCH.fullmatch(branch) if isinstance(branch, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(
            f"branches: {branch!r} is not a branch name; use 'spectrum' (the magnitude of the whole "
            "clip's DFT) or 'stft_<window>ms' (a magnitude STFT with that window, 50 % hop), "
            "e.g. 'stft_256ms'."
        )
    return "stft", float(match.group(1))


def _window_samples(window_ms, sample_rate):
    return max(2, round(window_ms * sample_rate / 1000))


def _embedding_head(n_inputs, embedding_dim):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_inputs, embedding_dim),
        nn.BatchNorm1d(embedding_dim),
        nn.ReLU(inplace=True),
        nn.Linear(embedding_dim, embedding_dim),
    )


def _output_length(cnn, input_shape, axis):
    """The size of ``cnn``'s output along ``axis`` for an input of ``input_shape``, without training statistics."""
    training = cnn.training
    cnn.eval()  # batch normalisation must not count the probe
    with torch.no_grad():
        length = cnn(torch.zeros(input_shape)).shape[axis]
    cnn.train(training)
    return length


def _frequency_axis(features, n_frequency_bands):
    """(batch, channels, frequency) as it is (flattened by the head), or averaged into ``n_frequency_bands``."""
    if n_frequency_bands is None:
        return features
    return nn.functional.adaptive_avg_pool1d(features, n_frequency_bands)


class SpectrogramBranch(nn.Module):
    """Log-magnitude STFT -> residual 2-D CNN -> embedding.

    The log magnitude of each frequency is centred on its mean over the clip
    (temporal mean normalisation, as Wilkinghoff's STFT branch): what stays
    constant over the clip is the spectrum branch's job, so the two branches
    see different things. The CNN is a 7x7 stem with max pooling, then one
    residual block per entry of ``channels`` (stride 2 after the first); the
    maximum over time, then the feature map flattened over channels and
    frequency (where in frequency a pattern sits is kept, as in Wilkinghoff's
    model), or with ``n_frequency_bands`` averaged into that many bands, and
    two dense layers give the embedding.
    """

    def __init__(self, win_length, channels, embedding_dim, n_frequency_bands=None):
        super().__init__()
        self.win_length = win_length
        self.hop_length = max(1, win_length // 2)
        self.register_buffer("window", torch.hann_window(win_length))
        self.input_norm = nn.BatchNorm2d(1)
        layers = [
            nn.Conv2d(1, channels[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
        for index, (c_in, c_out) in enumerate(zip((channels[0], *channels[:-1]), channels, strict=True)):
            layers.append(ResidualBlock2d(c_in, c_out, stride=1 if index == 0 else 2))
        self.cnn = nn.Sequential(*layers)
        self.n_frequency_bands = n_frequency_bands
        n_frequencies = n_frequency_bands or _output_length(self.cnn, (1, 1, win_length // 2 + 1, 2), axis=2)
        self.head = _embedding_head(channels[-1] * n_frequencies, embedding_dim)

    def forward(self, waveforms):
        spectrum = torch.stft(
            waveforms,
            n_fft=self.win_length,
            hop_length=self.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        log_magnitude = spectrum.abs().clamp_min(_LOG_FLOOR).log()
        log_magnitude = log_magnitude - log_magnitude.mean(dim=-1, keepdim=True)
        features = self.cnn(self.input_norm(log_magnitude.unsqueeze(1)))
        # (batch, channels, frequency, time): max over time, then the frequency axis as it is, or in bands.
        return self.head(_frequency_axis(features.amax(dim=-1), self.n_frequency_bands))


class SpectrumBranch(nn.Module):
    """Log-magnitude DFT of the whole clip -> strided 1-D CNN -> embedding.

    The DFT of the whole clip resolves the machine's tones to a fraction of
    a hertz. Strided convolutions (kernels 256, 64, 16, 16, ...; strides 64,
    32, 4, 4, ..., zero padding so that any length works) reduce it; the
    feature map flattened over channels and frequency (Wilkinghoff's model:
    where a tone sits is kept), or with ``n_frequency_bands`` averaged into
    that many bands, and two dense layers give the embedding. Flattening
    sizes the first dense layer by the clip length, ``n_samples``.
    """

    _KERNELS = (256, 64, 16)
    _STRIDES = (64, 32, 4)

    def __init__(self, channels, embedding_dim, n_frequency_bands=None, n_samples=None):
        super().__init__()
        self.input_norm = nn.BatchNorm1d(1)
        layers = []
        for index, (c_in, c_out) in enumerate(zip((1, *channels[:-1]), channels, strict=True)):
            kernel = self._KERNELS[min(index, len(self._KERNELS) - 1)]
            stride = self._STRIDES[min(index, len(self._STRIDES) - 1)]
            layers += [
                nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.cnn = nn.Sequential(*layers)
        self.n_frequency_bands = n_frequency_bands
        if n_frequency_bands is None and n_samples is None:
            raise ValueError("SpectrumBranch needs n_samples to flatten the frequency axis (n_frequency_bands=None).")
        # rfft gives n_samples // 2 + 1 bins, of which the DC bin is dropped.
        n_frequencies = n_frequency_bands or _output_length(self.cnn, (1, 1, n_samples // 2), axis=2)
        self.head = _embedding_head(channels[-1] * n_frequencies, embedding_dim)

    def forward(self, waveforms):
        # Drop the DC bin: it only holds the recording's offset.
        magnitude = torch.fft.rfft(waveforms, dim=-1)[:, 1:].abs()
        log_magnitude = magnitude.clamp_min(_LOG_FLOOR).log().unsqueeze(1)
        features = self.cnn(self.input_norm(log_magnitude))
        return self.head(_frequency_axis(features, self.n_frequency_bands))


class MultiBranchNet(nn.Module):
    """Waveforms (batch, n_samples) -> concatenated branch embeddings (batch, n_branches * embedding_dim)."""

    def __init__(self, branches, sample_rate, channels, embedding_dim, n_frequency_bands=None, n_samples=None):
        super().__init__()
        modules = []
        for branch in branches:
            kind, window_ms = parse_branch(branch)
            if kind == "spectrum":
                modules.append(SpectrumBranch(channels, embedding_dim, n_frequency_bands, n_samples))
            else:
                modules.append(SpectrogramBranch(
                    _window_samples(window_ms, sample_rate), channels, embedding_dim, n_frequency_bands,
                ))
        self.branches = nn.ModuleList(modules)

    def forward(self, waveforms):
        return torch.cat([branch(waveforms) for branch in self.branches], dim=-1)


_LOSSES = {"subspace", "scac", "arcface", "adaproj"}


class MultiBranchEmbedder(TrainedEmbedderMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Embed waveforms with CNN branches trained to classify auxiliary labels.

    Each branch turns the waveform into one view of its spectrum (a
    magnitude STFT with a given window and 50 % hop, or the magnitude of the
    DFT of the whole clip) and maps it with its own CNN to an
    ``embedding_dim``-dimensional vector; the embedding is their
    concatenation. The network is trained, through a skorch net, to classify
    the auxiliary label ``y`` of each clip (for DCASE data: machine type and
    attributes) with an angular-margin loss, so that normal clips of a class
    gather on the unit sphere and anomalies fall away from them; a cosine
    scorer (:class:`~skasd.KMeansCosineScorer`, :class:`~skasd.KNNScorer`
    with ``metric="cosine"``, :class:`~skasd.LocalDensityKNNScorer`) then
    scores the embeddings.

    The defaults are the three-branch baseline of Kuroyanagi et al. (256 ms
    and 8 ms STFTs and the full spectrum, subspace loss); Wilkinghoff's
    two-branch model is ``branches=("spectrum", "stft_64ms"), loss="scac"``.

    Parameters
    ----------
    branches : tuple of str, default=("stft_256ms", "stft_8ms", "spectrum")
        The branches, in the order their embeddings are concatenated:
        ``"stft_<window>ms"`` or ``"spectrum"``.
    embedding_dim : int, default=128
        Size of each branch's embedding.
    channels : tuple of int, default=(16, 32, 64, 128)
        Channels of the CNN stages of every branch; fewer and smaller stages
        make a faster, weaker model.
    n_frequency_bands : int or None, default=None
        None flattens each branch's CNN output over channels and frequency
        before the dense layers, as Wilkinghoff's model and the baseline of
        Kuroyanagi et al. do: where in frequency a pattern sits is kept (a
        tone moving by a few bins is an anomaly). An int averages the
        frequency axis into that many bands first (skasd's design before
        this option, 4 bands: fewer weights, blind to where a tone sits).
    loss : {"subspace", "scac", "arcface", "adaproj"}, default="subspace"
        ``"subspace"``: sub-cluster AdaCos on the concatenation (fixed
        centres) plus sub-cluster AdaCos on each branch (trainable centres),
        eq. (1) of Kuroyanagi et al.; ``"scac"``: sub-cluster AdaCos on the
        concatenation only; ``"arcface"``: ArcFace on the concatenation;
        ``"adaproj"``: AdaProj on the concatenation (32-dimensional class
        subspaces).
    n_subclusters : int, default=16
        Sub-cluster centres per class of the sub-cluster AdaCos losses.
    mixup_probability : float, default=0.5
        Probability that a training batch is mixed up: each waveform is
        blended with another clip of the batch with a ratio drawn uniformly
        from [0, 1], and its target alike.
    triplet : bool, default=False
        Add the triplet loss of Kuroyanagi et al. (eq. 12: ``L_mlt = L_ss +
        L_trp``, mixup on ``L_ss`` only): each clip's positive is the clip
        plus a clip of another machine type at an SNR in [-5, 20] dB, its
        negative the clip pitch-shifted by 6 to 12 semitones, up or down. It
        needs clips of at least two machine types (see ``fit``'s ``machine``).
    triplet_temperature : float, default=0.2
        ``tau`` of the triplet similarity (eq. 10).
    triplet_margin : float, default=0.5
        ``gamma`` of the triplet loss (eq. 11).
    noise_snr : (float, float), default=(0.0, 20.0)
        With noise clips given to ``fit`` (``noise=``, e.g. the DCASE 2025
        supplemental noise recordings), every training clip of every batch
        gets a noise clip drawn at random added at an SNR drawn uniformly
        from this range in dB, before mixup and the triplets; the draws come
        from the fit's seed (``random_state``). Unused without noise clips.
    lr : float, default=1e-3
        Learning rate of AdamW.
    weight_decay : float, default=0.01
        Weight decay of AdamW.
    batch_size : int, default=100
        Clips per training batch (and per batch in ``transform``).
    max_epochs : int, default=50
        Training epochs (fewer with early stopping).
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the clips and stop
        when their loss has not improved for ``n_iter_no_change`` epochs,
        keeping the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of the clips held out with early stopping.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    checkpoint_dir : str, path-like or None, default=None
        Directory where skorch's ``Checkpoint`` saves the training state
        (every new best validation loss with early stopping, else every epoch).
    sample_rate : int, default=16000
        Sample rate of the waveforms; turns window lengths in ms into samples.
    device : str, default="auto"
        Torch device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        Ignored when ``accelerator`` is given.
    accelerator : accelerate.Accelerator, default=None
        Train through Hugging Face accelerate (skorch's accelerate
        integration): several GPUs under ``accelerate launch`` or
        ``torchrun``, mixed precision. The accelerator places the network
        and the batches; see ``docs/gpu.md``. None trains on ``device``.
    n_jobs : int or None, default=None
        joblib threads over batches in ``transform`` on CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the network's initialisation, the loss's centres, the batch
        order and mixup: with an int, fitting twice on CPU gives the same
        embeddings.
    verbose : int, default=0
        0: silent; 1: one line per epoch; 2: also a progress bar per epoch.

    Attributes
    ----------
    net_ : AuxiliaryClassifierNet
        The fitted skorch net; ``net_.module_`` is the :class:`MultiBranchNet`,
        ``net_.criterion_`` the loss with its centres, ``net_.history`` the
        training history.
    classes_ : ndarray of shape (n_classes,)
        The auxiliary classes, in the order of the loss's class indices.
    n_features_in_ : int
        Clip length in samples seen in ``fit``.
    n_embedding_ : int
        Size of the output, ``len(branches) * embedding_dim``.

    References
    ----------
    K. Wilkinghoff, "Self-supervised learning for anomalous sound detection",
    ICASSP 2024 (the two-branch model and sub-cluster AdaCos).
    Kuroyanagi et al., "Pseudo-anomalous set selection and pseudo-label
    utilization under unlabeled conditions" (Section 3, the three-branch
    baseline and the subspace loss).

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import MultiBranchEmbedder
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 1600)).astype("float32")
    >>> y = ["fan", "pump"] * 4
    >>> embedder = MultiBranchEmbedder(
    ...     branches=("stft_16ms", "spectrum"), embedding_dim=8, channels=(4,),
    ...     n_subclusters=2, batch_size=4, max_epochs=2, random_state=0, verbose=0,
    ... )
    >>> embedder.fit_transform(X, y).shape
    (8, 16)
    """

    _parameter_constraints: dict = {
        "branches": [tuple, list],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "channels": [tuple, list],
        "n_frequency_bands": [Interval(Integral, 1, None, closed="left"), None],
        "loss": [StrOptions(_LOSSES)],
        "n_subclusters": [Interval(Integral, 1, None, closed="left")],
        "mixup_probability": [Interval(Real, 0, 1, closed="both")],
        "triplet": ["boolean"],
        "triplet_temperature": [Interval(Real, 0, None, closed="neither")],
        "triplet_margin": [Interval(Real, 0, None, closed="left")],
        "noise_snr": [tuple, list],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "checkpoint_dir": [None, str, os.PathLike],
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "accelerator": [None, HasMethods(["prepare", "backward", "autocast"])],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        branches=("stft_256ms", "stft_8ms", "spectrum"),
        embedding_dim=128,
        channels=(16, 32, 64, 128),
        n_frequency_bands=None,
        loss="subspace",
        n_subclusters=16,
        mixup_probability=0.5,
        triplet=False,
        triplet_temperature=0.2,
        triplet_margin=0.5,
        noise_snr=(0.0, 20.0),
        lr=1e-3,
        weight_decay=0.01,
        batch_size=100,
        max_epochs=50,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        checkpoint_dir=None,
        sample_rate=16000,
        device="auto",
        accelerator=None,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.branches = branches
        self.embedding_dim = embedding_dim
        self.channels = channels
        self.n_frequency_bands = n_frequency_bands
        self.loss = loss
        self.n_subclusters = n_subclusters
        self.mixup_probability = mixup_probability
        self.triplet = triplet
        self.triplet_temperature = triplet_temperature
        self.triplet_margin = triplet_margin
        self.noise_snr = noise_snr
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.checkpoint_dir = checkpoint_dir
        self.sample_rate = sample_rate
        self.device = device
        self.accelerator = accelerator
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        if len(self.branches) == 0:
            raise ValueError("branches must name at least one branch, e.g. ('stft_64ms', 'spectrum').")
        parsed = [parse_branch(branch) for branch in self.branches]
        if len(self.channels) == 0 or not all(isinstance(c, Integral) and c >= 1 for c in self.channels):
            raise ValueError(f"channels must be a non-empty sequence of positive ints; got {self.channels!r}.")
        return parsed

    def _min_clip_length(self, parsed):
        """The longest STFT window in samples (shorter clips cannot be framed), at least 2.

        Two samples are the least the spectrum branch needs: one DFT bin
        besides the dropped DC bin.
        """
        windows = [_window_samples(ms, self.sample_rate) for kind, ms in parsed if kind == "stft"]
        return max(windows, default=2)

    def _criterion(self, n_classes, seed):
        generator = torch.Generator().manual_seed(seed)
        dim = self.embedding_dim * len(self.branches)
        if self.loss == "subspace":
            return SubspaceLoss(
                n_classes, [self.embedding_dim] * len(self.branches), n_subclusters=self.n_subclusters, generator=generator
            )
        if self.loss == "scac":
            return SubClusterAdaCos(n_classes, dim, n_subclusters=self.n_subclusters, generator=generator)
        if self.loss == "arcface":
            return ArcFace(n_classes, dim, generator=generator)
        return AdaProj(n_classes, dim, subspace_dim=min(32, dim), generator=generator)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, aux_label=None, machine=None, noise=None):
        """Train the network to classify the auxiliary labels.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, finite.
        y : array-like of shape (n_clips,)
            Auxiliary class label of each clip (e.g. ``"fan|speed_1500"``),
            used when ``aux_label`` is not given.
        aux_label : array-like of shape (n_clips,), default=None
            The auxiliary labels as sample metadata. Inside ``GridSearchCV`` or
            ``cross_validate``, ``y`` holds the anomaly labels the scorer
            needs, so the auxiliary labels travel here instead, routed with
            ``set_fit_request(aux_label=True)``; they take precedence over ``y``.
        machine : array-like of shape (n_clips,), default=None
            Machine type of each clip, used with ``triplet=True`` only (the
            positives' backgrounds come from other machine types). None takes
            the part of each auxiliary label before the first ``"|"``, the
            machine type of DCASE labels such as ``"fan|speed_1500"``.
        noise : array-like of shape (n_noise, n_samples), default=None
            Recordings of background noise alone, at ``sample_rate`` and as
            long as ``X``'s clips (e.g. the clips of kind ``"noise"`` of
            :func:`~skasd.datasets.load_dcase_supplemental`), mixed into the
            training batches at an SNR in ``noise_snr``. None (the default)
            trains on the clips as they are, exactly as without this option.

        Returns
        -------
        self : MultiBranchEmbedder
            The fitted embedder.
        """
        parsed = self._check_params()
        if aux_label is not None:
            y = aux_label
        # Classes of a single clip are common (the target domain's few clips
        # spread over attributes) and harmless to mixup, whose partners come from
        # any class, and to sub-clusters; only a stratified hold-out needs two.
        check_class_labels(
            y,
            type(self).__name__,
            min_clips_per_class=2 if self.early_stopping else 1,
            reason="with early_stopping=True (the validation split is stratified by class)",
        )
        X, y = validate_data(self, pcm_as_float(X), y, dtype=np.float32)
        min_length = self._min_clip_length(parsed)
        if X.shape[1] < min_length:
            raise ValueError(
                f"Clips of {X.shape[1]} samples (n_features = {X.shape[1]}) are too short for the "
                f"branches {tuple(self.branches)}: they need at least {min_length} samples (the "
                f"longest STFT window at sample_rate={self.sample_rate}); use longer clips or "
                "shorter windows."
            )
        noise = check_noise(noise, X.shape[1], self.noise_snr)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        targets = encoder.transform(y).astype(np.int64)
        device = resolve_device(self.device) if self.accelerator is None else self.accelerator.device
        triplet_params = self._triplet_params(X, y, targets, machine) if self.triplet else None
        self._fit_net(X, targets, device=device, noise=noise, triplet_params=triplet_params)
        if self.accelerator is not None:
            # The trained module stays on the accelerator's device: say so, so that
            # the net unpickles there instead of falling back with a DeviceWarning.
            self.net_.device = str(device)
        if self.triplet:
            # The training clips served as backgrounds; a fitted embedder does not carry them.
            self.net_.background = None
        self.n_embedding_ = self.embedding_dim * len(self.branches)
        self._n_features_out = self.n_embedding_
        return self

    def _net_spec(self, X, y, *, seed, device, triplet_params=None):
        """The net: auxiliary classification of the branches' embeddings, with triplets given their arguments."""
        n_train = X.shape[0] if not self.early_stopping else int(X.shape[0] * (1 - self.validation_fraction))
        net_class = AuxiliaryClassifierNet if triplet_params is None else TripletAuxiliaryNet
        placement = {"device": str(device)}
        if self.accelerator is not None:
            from ._accelerate import accelerated_net_class

            net_class = accelerated_net_class(net_class)
            # The accelerator places the module and every batch on its own device.
            placement = {"accelerator": self.accelerator, "device": None}
        return dict(
            net_class=net_class,
            module=MultiBranchNet,
            criterion=self._criterion(len(self.classes_), seed),
            # A last batch of one clip would break batch normalisation: drop the remainder.
            batch_size=max(2, min(self.batch_size, n_train)),
            train_split=validation_split(self.early_stopping, self.validation_fraction, seed),
            early_stopping=self.early_stopping,
            n_iter_no_change=self.n_iter_no_change,
            checkpoint_dir=self.checkpoint_dir,
            module__branches=tuple(self.branches),
            module__sample_rate=self.sample_rate,
            module__channels=tuple(self.channels),
            module__embedding_dim=self.embedding_dim,
            module__n_frequency_bands=self.n_frequency_bands,
            module__n_samples=X.shape[1],
            n_classes=len(self.classes_),
            mixup_probability=self.mixup_probability,
            **placement,
            **(triplet_params or {}),
        )

    def _triplet_params(self, X, y, targets, machine):
        """The TripletAuxiliaryNet arguments: machine codes of the clips and of the classes."""
        machine = np.asarray([str(label).split("|")[0] for label in y] if machine is None else machine)
        if machine.shape != (X.shape[0],):
            raise ValueError(f"machine must hold one machine type per clip ({X.shape[0]}); got shape {machine.shape}.")
        machine_types, machine_codes = np.unique(machine, return_inverse=True)
        if machine_types.size < 2:
            raise ValueError(SINGLE_MACHINE_TYPE)
        class_machine = np.zeros(len(self.classes_), dtype=np.int64)
        class_machine[targets] = machine_codes
        return {
            "class_machine": class_machine,
            "background": X,
            "background_machine": machine_codes,
            "sample_rate": self.sample_rate,
            "triplet_temperature": self.triplet_temperature,
            "triplet_margin": self.triplet_margin,
        }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
