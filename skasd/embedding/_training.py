"""skorch machinery shared by skasd's trained embedders.

The sklearn-facing estimators build a skorch net inside ``fit``; what every
training scheme needs lives here once: the seed of a fit and the seeded
random state (:func:`draw_seed`, :func:`seeded_torch`), the net itself with
the optimiser, batching, epochs and callbacks every estimator trains with
(:func:`make_training_net`; each estimator supplies its net class, module,
criterion and extra callbacks), the callbacks for progress, early stopping
and checkpoints, the checks on ``y``, the batched transform of a fitted
embedder and the order of a fit, seed to trained net
(:class:`TrainedEmbedderMixin`), the one training step every net takes and
its hooks (:class:`TrainingHooksNet`), noise clips mixed into the training
batches at a random SNR (:class:`NoiseMixer`, :func:`check_noise`), and
:class:`AuxiliaryClassifierNet`, the net for auxiliary classification with
mixup on the inputs.
"""

import contextlib
import copy
import signal
import threading

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet
from skorch.callbacks import Checkpoint, EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import to_device

from ..utils._torch import transform_with_trained_module
from ..utils._waveforms import pcm_as_float
from ._triplet import check_snr_range, draw_snr_db, make_positives


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Run the block with torch's random generators seeded, then restore them.

    skorch and torch draw from torch's global generators (weight
    initialisation, the data loader's shuffling, dropout, mixup). Forking
    them makes one fit reproducible from its seed while the caller's random
    state is left exactly as it was.

    Parameters
    ----------
    seed : int
        Seed for the block.
    device : torch.device
        The training device; its CUDA generator is forked too.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def draw_seed(random_state):
    """The seed of one fit: an int32 drawn from ``random_state`` (None, an int or a RandomState).

    Everything random in the fit derives from it: torch's generators forked
    and seeded with it (:func:`seeded_torch`), the criterion's and the
    validation split's own generators.
    """
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def make_training_net(
    net_class,
    module,
    criterion,
    *,
    estimator,
    batch_size,
    drop_last=True,
    train_split=None,
    early_stopping=False,
    n_iter_no_change=1,
    checkpoint_dir=None,
    callbacks=(),
    **net_params,
):
    """The skorch net of a trained embedder, with the set-up all of them share.

    AdamW with the estimator's ``weight_decay`` and ``lr``, shuffled training
    batches, ``estimator.max_epochs`` epochs, :func:`training_callbacks`
    (progress, early stopping, checkpoints) followed by ``callbacks``, and
    skorch's epoch table when ``estimator.verbose`` is positive.

    Parameters
    ----------
    net_class : type
        A :class:`skorch.NeuralNet` subclass.
    module, criterion
        As :class:`skorch.NeuralNet` (classes or instances).
    estimator : BaseEstimator
        The estimator being fitted: its ``weight_decay``, ``lr``,
        ``max_epochs`` and ``verbose`` are read.
    batch_size : int
    drop_last : bool, default=True
        Drop the last, incomplete training batch of each epoch.
    train_split : callable or None, default=None
        skorch's ``train_split`` (a validation hold-out, or none).
    early_stopping, n_iter_no_change, checkpoint_dir
        As :func:`training_callbacks`.
    callbacks : sequence of (name, Callback), default=()
        The estimator's own callbacks, after the shared ones.
    **net_params
        Everything else of the net: ``module__*``, ``criterion__*``, the net
        class's own parameters, ``device`` (or ``accelerator``).

    Returns
    -------
    net : net_class
        Not initialised: ``fit`` initialises it.
    """
    return net_class(
        module,
        criterion,
        optimizer=torch.optim.AdamW,
        optimizer__weight_decay=estimator.weight_decay,
        lr=estimator.lr,
        batch_size=batch_size,
        iterator_train__shuffle=True,
        iterator_train__drop_last=drop_last,
        max_epochs=estimator.max_epochs,
        train_split=train_split,
        callbacks=[
            *training_callbacks(
                verbose=estimator.verbose,
                early_stopping=early_stopping,
                n_iter_no_change=n_iter_no_change,
                checkpoint_dir=checkpoint_dir,
            ),
            *callbacks,
        ],
        verbose=int(estimator.verbose > 0),
        **net_params,
    )


class SingleClassError(ValueError):
    """``y`` holds a single class: a classifier of auxiliary classes has nothing to tell apart."""


def check_class_labels(y, estimator_name, *, min_clips_per_class=1, reason=""):
    """Check the auxiliary labels of a supervised embedder.

    Parameters
    ----------
    y : array-like of shape (n_clips,) or None
        The labels passed to ``fit``.
    estimator_name : str
        Named in the error messages.
    min_clips_per_class : int, default=1
        Fewest clips a class may have.
    reason : str, default=""
        Why that many are needed, completing "... needs at least N clips per
        class <reason>".

    Raises
    ------
    SingleClassError
        A ValueError: if ``y`` holds a single class (nothing to tell apart).
    ValueError
        If ``y`` is None or empty, or a class has fewer than
        ``min_clips_per_class`` clips.
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None: fit needs "
            "the auxiliary class label of each clip (for DCASE data, machine type and attributes: the 'aux_label' column of "
            "load_dcase's frame); got y=None."
        )
    classes, counts = np.unique(np.asarray(y), return_counts=True)
    if classes.size == 0:
        raise ValueError(f"{estimator_name} got an empty y.")
    if classes.size == 1:
        raise SingleClassError(
            f"{estimator_name} learns to tell auxiliary classes apart, but y holds 1 class "
            f"({str(classes[0])!r}); give clips of at least two classes (e.g. several machine types)."
        )
    too_few = classes[counts < min_clips_per_class]
    if too_few.size:
        names = ", ".join(repr(str(name)) for name in too_few[:5])
        more = f" and {too_few.size - 5} more" if too_few.size > 5 else ""
        raise ValueError(
            f"{estimator_name} needs at least {min_clips_per_class} clips per class {reason}; "
            f"class(es) {names}{more} in y have fewer."
        )


def training_callbacks(*, verbose, early_stopping, n_iter_no_change, checkpoint_dir):
    """The skorch callbacks an embedder's net trains with.

    Parameters
    ----------
    verbose : int
        0: silent; 1: a log line per epoch; 2 and more: also a progress bar
        over the batches of each epoch.
    early_stopping : bool
        Stop when the validation loss has not improved for
        ``n_iter_no_change`` epochs and restore the best epoch's weights.
    n_iter_no_change : int
        Patience of early stopping.
    checkpoint_dir : str, path or None
        Where skorch's ``Checkpoint`` saves the parameters, optimizer and
        history: at every new best validation loss with early stopping, else
        after every epoch. None saves nothing.

    Returns
    -------
    callbacks : list of (name, skorch.callbacks.Callback)
    """
    callbacks = []
    if verbose >= 2:
        callbacks.append(("progress_bar", ProgressBar()))
    if early_stopping:
        callbacks.append(
            (
                "early_stopping",
                EarlyStopping(monitor="valid_loss", patience=n_iter_no_change, load_best=True),
            )
        )
    if checkpoint_dir is not None:
        monitor = "valid_loss_best" if early_stopping else None
        callbacks.append(("checkpoint", Checkpoint(dirname=str(checkpoint_dir), monitor=monitor)))
    # The epoch table comes from skorch's default PrintLog, silent with the net's verbose=0.
    return callbacks


def validation_split(early_stopping, validation_fraction, seed):
    """skorch's ``train_split``: a stratified hold-out when early stopping, else none."""
    if not early_stopping:
        return None
    return ValidSplit(validation_fraction, stratified=True, random_state=seed)


def check_noise(noise, n_samples, snr_range, *, name="noise", snr_name="noise_snr"):
    """The noise clips a fit mixes into its training clips, checked: float32 of shape (n_noise, n_samples).

    Parameters
    ----------
    noise : array-like of shape (n_noise, n_samples) or None
        Recordings of background noise alone (e.g. the DCASE 2025
        supplemental clips of kind ``"noise"``), at the training clips'
        sample rate and length.
    n_samples : int
        The training clips' length.
    snr_range : (float, float)
        The range the SNRs are drawn from, in dB.
    name, snr_name : str
        The parameters' names in the error messages.

    Returns
    -------
    noise : ndarray of shape (n_noise, n_samples), float32, or None

    Raises
    ------
    ValueError
        If the clips are not a non-empty 2-D array of finite values as long as
        the training clips, a clip is silent (it cannot be scaled to an SNR),
        or ``snr_range`` is no finite pair with low <= high.
    """
    check_snr_range(snr_range, snr_name)
    if noise is None:
        return None
    noise = np.asarray(pcm_as_float(noise), dtype=np.float32)
    if noise.ndim != 2 or noise.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n_noise, n_samples); got shape {noise.shape}.")
    if noise.shape[1] != n_samples:
        raise ValueError(
            f"{name} clips have {noise.shape[1]} samples but the training clips {n_samples}: load them at the "
            "training clips' length (e.g. load_dcase_supplemental(..., duration=...))."
        )
    if not np.all(np.isfinite(noise)):
        raise ValueError(f"{name} contains NaN or infinite samples.")
    silent = np.flatnonzero(~np.any(noise, axis=1))
    if silent.size:
        raise ValueError(f"{name} clip(s) {silent[:5].tolist()} are silent: they cannot be scaled to an SNR.")
    return noise


class NoiseMixer:
    """Adds a noise clip to every clip of a training batch at an SNR drawn per clip.

    For each clip ``x`` of a batch, a noise clip ``n`` is drawn uniformly
    from ``noise`` and an SNR ``s`` uniformly from ``snr_range`` (dB), both
    from ``numpy.random.default_rng(seed)`` (the clip indices first, as
    ``integers(n_noise, size=batch)``, then the SNRs, as
    :func:`~skasd.embedding._triplet.draw_snr_db`), and the clip becomes
    ``x + g n`` with the gain ``g`` that makes
    ``10 log10(||x||^2 / ||g n||^2) = s`` over the whole clip
    (:func:`~skasd.embedding._triplet.make_positives`). A silent clip stays
    silent. The draws of the last batch are kept in ``last_noise_index_``
    and ``last_snr_db_``.

    Parameters
    ----------
    noise : ndarray of shape (n_noise, n_samples), float32
        As :func:`check_noise` returns it.
    snr_range : (float, float)
        Lowest and highest SNR in dB.
    seed : int
        Seed of the mixer's own generator (the fit's seed): torch's
        generators, and so every other draw of the fit, are left alone.
    """

    def __init__(self, noise, snr_range, seed):
        self.noise = noise
        self.snr_range = check_snr_range(snr_range)
        self.generator = np.random.default_rng(seed)
        self.last_noise_index_ = None
        self.last_snr_db_ = None

    def __call__(self, Xi):
        n_clips = Xi.shape[0]
        index = self.generator.integers(len(self.noise), size=n_clips)
        snr_db = draw_snr_db(n_clips, self.generator, snr_range=self.snr_range)
        self.last_noise_index_, self.last_snr_db_ = index, snr_db.numpy()
        noise = torch.as_tensor(self.noise[index]).to(device=Xi.device, dtype=Xi.dtype)
        return make_positives(Xi, noise, snr_db.to(Xi.device)).to(Xi.dtype)


class TrainedEmbedderMixin:
    """The training and the embedding every trained embedder does the same way.

    :meth:`_fit_net` trains: the fit's seed (:func:`draw_seed`), torch's
    generators forked and seeded with it (:func:`seeded_torch`), the net of
    :func:`make_training_net` built from what the estimator's
    :meth:`_net_spec` names (its net class, module, criterion, batch size
    and own callbacks), and ``net.fit``. ``transform`` embeds clips in
    batches with the trained module.

    For estimators with ``random_state``, ``lr``, ``weight_decay``,
    ``max_epochs``, ``batch_size``, ``n_jobs`` and ``verbose``. Comes before
    the scikit-learn bases, so that its tags extend theirs.
    """

    def _net_spec(self, X, y, *, seed, device, **spec_params):
        """The arguments of :func:`make_training_net` but ``estimator``: a dict.

        At least ``net_class``, ``module``, ``criterion`` and ``batch_size``.
        Called inside the seeded block, so that a module built here draws
        its initial weights from the fit's seed. ``spec_params`` are those
        given to :meth:`_fit_net`.
        """
        raise NotImplementedError

    def _fit_net(self, X, y, *, device, noise=None, **spec_params):
        """Train the estimator's net on ``(X, y)`` from the estimator's ``random_state``; set ``net_``.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples), float32
        y : ndarray of shape (n_clips,) or None
            The targets the net's criterion takes.
        device : torch.device
            The training device, whose generator is seeded too.
        noise : ndarray of shape (n_noise, n_samples) or None, default=None
            Noise clips (:func:`check_noise`) mixed into every training batch
            by a :class:`NoiseMixer` seeded with the fit's seed, at an SNR
            drawn from the estimator's ``noise_snr``. None trains as without
            this option, draw for draw. The fitted net does not keep them.
        **spec_params
            Passed on to :meth:`_net_spec`.

        Returns
        -------
        net : skorch.NeuralNet
            The trained net, also ``self.net_``.
        """
        seed = draw_seed(self.random_state)
        with seeded_torch(seed, device):
            spec = self._net_spec(X, y, seed=seed, device=device, **spec_params)
            if noise is not None:
                spec["noise_mixer"] = NoiseMixer(noise, self.noise_snr, seed)
            self.net_ = make_training_net(estimator=self, **spec)
            self.net_.fit(X, y)
        if noise is not None:
            self.net_.noise_mixer = None  # a fitted model does not carry the noise clips
        return self.net_

    def _embed(self, X):
        return transform_with_trained_module(
            self.net_.module_, X, batch_size=self.batch_size, n_jobs=self.n_jobs, verbose=self.verbose > 1,
            desc=type(self).__name__,
        )

    def transform(self, X):
        """Embed clips with the trained network (no augmentation).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, as long as those of ``fit``.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_embedding_), dtype float32
        """
        check_is_fitted(self)
        X = validate_data(self, pcm_as_float(X), dtype=np.float32, reset=False)
        return self._embed(X)

    def _embeds_clips(self):
        return hasattr(self, "transform")  # not DenseAutoencoderScorer, whose network reconstructs windows

    @available_if(_embeds_clips)
    def _inference_module(self, n_samples=None):
        """A CPU copy of the trained network in evaluation mode: waveforms to ``transform``'s embeddings (for export)."""
        check_is_fitted(self)
        return copy.deepcopy(self.net_.module_).to("cpu").eval()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


@contextlib.contextmanager
def _sigint_watched():
    """A list that receives SIGINT's number if Ctrl-C comes while the block runs (main thread only).

    skorch's callbacks raise KeyboardInterrupt to stop training (EarlyStopping
    does): only the signal tells Ctrl-C apart. The handler notes it, then
    hands over to the one it replaces, which raises the KeyboardInterrupt.
    """
    signalled = []
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if not callable(previous):  # another thread, or Ctrl-C ignored or left to the system: nothing to watch
        yield signalled
        return

    def note_and_pass_on(number, frame):
        signalled.append(number)
        previous(number, frame)

    signal.signal(signal.SIGINT, note_and_pass_on)
    try:
        yield signalled
    finally:
        signal.signal(signal.SIGINT, previous)


class _TrainingInterrupted(Exception):  # noqa: N818 - it carries a KeyboardInterrupt, it is no error
    """A KeyboardInterrupt on its way through skorch's ``partial_fit``, which would swallow it."""


class TrainingHooksNet(NeuralNet):
    """skorch's NeuralNet with the one training step every skasd net takes, and its hooks.

    A step: the loader's batch on the net's device, turned into what the
    network sees by :meth:`training_batch` (mixup, triplets: each net's own
    augmentation, drawn in full precision); then, inside
    :meth:`forward_context`, skorch's ``infer`` and ``get_loss``; then
    :meth:`backward`. Nets differ only in those hooks and in ``infer`` and
    ``get_loss``; the accelerate nets (:mod:`skasd.embedding._accelerate`)
    override only ``forward_context`` (autocast) and ``backward``
    (``accelerator.backward``). With a ``noise_mixer`` (:class:`NoiseMixer`),
    the batch gets its noise first, before the net's own augmentation.

    Parameters
    ----------
    module, criterion, **kwargs
        As :class:`skorch.NeuralNet`.
    noise_mixer : callable or None, default=None
        Maps each training batch of waveforms to the batch with noise added;
        None adds none.
    """

    def __init__(self, module, criterion, *args, noise_mixer=None, **kwargs):
        super().__init__(module, criterion, *args, **kwargs)
        self.noise_mixer = noise_mixer

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's training loop, with Ctrl-C passed through: see :meth:`partial_fit`."""
        with _sigint_watched() as signalled:
            try:
                return super().fit_loop(X, y, epochs=epochs, **fit_params)
            except KeyboardInterrupt as exc:
                if signalled:
                    raise _TrainingInterrupted from exc
                raise  # a callback's way to stop training (skorch's EarlyStopping): skorch ends it

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """skorch's ``partial_fit``, but Ctrl-C stops the program instead of only the training.

        skorch ends training on a KeyboardInterrupt and returns as if it had
        finished, which suits an interactive session. An skasd estimator would
        then go on with a half-trained network, and a command-line run would
        write its scores, without a word. A KeyboardInterrupt that a callback
        raises without a signal (``EarlyStopping`` stops training so) still
        ends only the training.
        """
        try:
            return super().partial_fit(X, y, classes=classes, **fit_params)
        except _TrainingInterrupted:
            raise KeyboardInterrupt from None

    def training_batch(self, Xi, yi):
        """The inputs and targets a training step feeds forward: the loader's batch as it is here."""
        return Xi, yi

    def forward_context(self):
        """Context of the training forward pass and loss: none here; autocast under accelerate."""
        return contextlib.nullcontext()

    def backward(self, loss):
        """Gradients of the training loss; through the accelerator under accelerate."""
        loss.backward()

    def train_step_single(self, batch, **fit_params):
        """One optimisation step's forward and backward pass: batch, ``infer``, ``get_loss``, ``backward``."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = to_device(Xi, self.device)
        if yi is not None:
            yi = to_device(yi, self.device)
        if self.noise_mixer is not None:
            Xi = self.noise_mixer(Xi)
        Xi, yi = self.training_batch(Xi, yi)
        with self.forward_context():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self.backward(loss)
        return {"loss": loss, "y_pred": y_pred}


class AuxiliaryClassifierNet(TrainingHooksNet):
    """skorch net training an embedding module to classify auxiliary labels.

    The module maps a batch of inputs (waveforms) to embeddings; the
    criterion is an angular-margin loss module of
    :mod:`skasd.embedding._losses` taking ``(embeddings, targets)``, where the
    targets are class indices or, after mixup, class probabilities. The
    criterion's trainable centres are optimised with the module (skorch's
    ``get_all_learnable_params`` includes them).

    Parameters
    ----------
    module, criterion, **kwargs
        As :class:`skorch.NeuralNet`.
    n_classes : int
        Number of classes; targets are one-hot encoded to this width for mixup.
    mixup_probability : float, default=0.0
        Probability that a training batch is mixed: each clip is blended with
        a random other clip of the batch, ``lam * x_i + (1 - lam) * x_j``,
        ``lam ~ U(0, 1)`` drawn per clip, and the targets alike.
    """

    def __init__(self, module, criterion, *args, n_classes, mixup_probability=0.0, **kwargs):
        super().__init__(module, criterion, *args, **kwargs)
        self.n_classes = n_classes
        self.mixup_probability = mixup_probability

    def mix(self, Xi, yi):
        """Return the batch and its soft targets, mixed with ``mixup_probability``."""
        targets = torch.nn.functional.one_hot(yi.long(), self.n_classes).to(Xi.dtype)
        if self.mixup_probability <= 0 or torch.rand(()).item() >= self.mixup_probability:
            return Xi, targets
        n_clips = Xi.shape[0]
        partner = torch.randperm(n_clips).to(Xi.device)
        lam = torch.rand(n_clips).to(device=Xi.device, dtype=Xi.dtype)
        lam_x = lam.view(n_clips, *([1] * (Xi.ndim - 1)))
        mixed = lam_x * Xi + (1 - lam_x) * Xi[partner]
        return mixed, lam[:, None] * targets + (1 - lam[:, None]) * targets[partner]

    def training_batch(self, Xi, yi):
        """The batch mixed up with ``mixup_probability``, and its soft targets."""
        return self.mix(Xi, yi)


__all__ = [
    "AuxiliaryClassifierNet",
    "NoiseMixer",
    "SingleClassError",
    "TrainedEmbedderMixin",
    "TrainingHooksNet",
    "check_class_labels",
    "check_noise",
    "draw_seed",
    "make_training_net",
    "seeded_torch",
    "training_callbacks",
    "validation_split",
]
