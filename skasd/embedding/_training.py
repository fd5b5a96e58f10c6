"""skorch machinery shared by skasd's trained embedders.

The sklearn-facing estimators build a skorch net inside ``fit``; what every
training scheme needs lives here once: the seeded random state, the
callbacks for progress, early stopping and checkpoints, the checks on ``y``,
and :class:`AuxiliaryClassifierNet`, the net for auxiliary classification
with mixup on the inputs.
"""

import contextlib

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Checkpoint, EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import to_device


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
    ValueError
        If ``y`` is None, holds a single class (nothing to tell apart), or a
        class has fewer than ``min_clips_per_class`` clips.
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None: fit needs "
            "the auxiliary class label of each clip (for DCASE data, machine type and attributes: the 'aux_label' column of "
            "load_dcase's frame); got y=None."
        )
    classes, counts = np.unique(np.asarray(y), return_counts=True)
    if classes.size < 2:
        raise ValueError(
            f"{estimator_name} learns to tell auxiliary classes apart, but y holds 1 class "
            f"({str(classes[0])!r}); give clips of at least two classes (e.g. several machine types)."
            if classes.size
            else f"{estimator_name} got an empty y."
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


class AuxiliaryClassifierNet(NeuralNet):
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

    def forward_context(self):
        """Context of the training forward pass and loss: none here; autocast under accelerate."""
        return contextlib.nullcontext()

    def backward(self, loss):
        """Gradients of the training loss; through the accelerator under accelerate."""
        loss.backward()

    def train_step_single(self, batch, **fit_params):
        """One optimisation step's forward and backward pass, on a mixed batch."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = to_device(Xi, self.device)
        yi = to_device(yi, self.device)
        Xi, targets = self.mix(Xi, yi)
        with self.forward_context():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, targets, X=Xi, training=True)
        self.backward(loss)
        return {"loss": loss, "y_pred": y_pred}


SINGLE_MACHINE_TYPE = (
    "Triplet positives need a clip of another machine type as background, but the training clips "
    "hold a single machine type; give clips of at least two machine types."
)


def draw_other_machine(anchor_machine, pool_machine, uniform):
    """For each anchor, the index of a pool clip of another machine type.

    Vectorised: the pool is sorted by machine type once, and a uniform draw
    over the clips of the *other* types skips the anchor type's block.

    Parameters
    ----------
    anchor_machine : torch.Tensor of shape (batch,), integer
        Machine-type code of each anchor.
    pool_machine : torch.Tensor of shape (n_pool,), integer
        Machine-type code of each pool clip.
    uniform : torch.Tensor of shape (batch,)
        Uniform draws in [0, 1), one per anchor.

    Returns
    -------
    index : torch.Tensor of shape (batch,), int64
        Rows of the pool.

    Raises
    ------
    ValueError
        If an anchor's machine type is the only one in the pool.
    """
    order = torch.argsort(pool_machine, stable=True)
    sorted_machine = pool_machine[order]
    start = torch.searchsorted(sorted_machine, anchor_machine, side="left")
    end = torch.searchsorted(sorted_machine, anchor_machine, side="right")
    n_other = len(pool_machine) - (end - start)
    if bool((n_other == 0).any()):
        raise ValueError(SINGLE_MACHINE_TYPE)
    rank = torch.minimum((uniform * n_other).long(), n_other - 1)
    # Ranks at or past the anchor type's block jump over it.
    position = torch.where(rank < start, rank, rank + (end - start))
    return order[position]


class TripletAuxiliaryNet(AuxiliaryClassifierNet):
    """Auxiliary classification plus triplet learning: ``L_mlt = L_ss + L_trp``.

    Eq. (12) of Kuroyanagi et al. Each training step computes the auxiliary
    classification loss (the criterion, e.g. the subspace loss) on the batch
    mixed up with probability ``mixup_probability`` (mixup acts on this term
    only), and the triplet loss on the unmixed batch: each clip is the
    anchor; its positive is the anchor plus a clip of another machine type
    from the whole training set at an SNR uniform in ``snr_range`` (eq. 8);
    its negative is the anchor pitch-shifted by a ``beta`` drawn from
    ``pitch_shifter.semitones`` (eq. 9). Anchors, positives and negatives go
    through the module as one batch. Every draw comes from torch's global
    generator, which skasd's estimators fork and seed around ``fit``
    (:func:`seeded_torch`). The two terms are recorded per batch in the
    history as ``ss_loss`` and ``triplet_loss``.

    Parameters
    ----------
    module, criterion, n_classes, mixup_probability, **kwargs
        As :class:`AuxiliaryClassifierNet`.
    class_machine : array-like of shape (n_classes,), integer
        Machine-type code of each class index.
    background : ndarray of shape (n_pool, n_samples), float32
        Clips the positives' backgrounds are drawn from: the training clips.
    background_machine : array-like of shape (n_pool,), integer
        Machine-type code of each background clip.
    sample_rate : int, default=16000
        Sample rate of the clips, for the pitch shifter.
    triplet_temperature, triplet_margin : float, default=0.2, 0.5
        ``tau`` and ``gamma`` of the triplet loss (eqs. 10-11).
    semitones : sequence of float or None, default=None
        The negatives' shifts ``beta``; None: +-6 to +-12 semitones, the paper's.
    snr_range : tuple of float, default=(-5.0, 20.0)
        Range of the positives' SNR alpha in dB.

    Attributes
    ----------
    triplet_loss_ : TripletLoss
    pitch_shifter_ : PitchShifter
        Built by :meth:`initialize_module`.
    """

    def __init__(
        self,
        module,
        criterion,
        *args,
        n_classes,
        class_machine,
        background,
        background_machine,
        sample_rate=16000,
        triplet_temperature=0.2,
        triplet_margin=0.5,
        semitones=None,
        snr_range=(-5.0, 20.0),
        mixup_probability=0.0,
        **kwargs,
    ):
        super().__init__(module, criterion, *args, n_classes=n_classes, mixup_probability=mixup_probability, **kwargs)
        self.class_machine = class_machine
        self.background = background
        self.background_machine = background_machine
        self.sample_rate = sample_rate
        self.triplet_temperature = triplet_temperature
        self.triplet_margin = triplet_margin
        self.semitones = semitones
        self.snr_range = snr_range

    def initialize_module(self):
        """Build the module, then the triplet loss and the pitch shifter (no parameters)."""
        from ._triplet import PitchShifter, TripletLoss

        super().initialize_module()
        self.triplet_loss_ = TripletLoss(temperature=self.triplet_temperature, margin=self.triplet_margin)
        shifter_kwargs = {} if self.semitones is None else {"semitones": self.semitones}
        self.pitch_shifter_ = PitchShifter(self.sample_rate, **shifter_kwargs)
        return self

    def triplets(self, Xi, yi):
        """Positives and negatives for the anchors ``Xi`` of classes ``yi``."""
        from ._triplet import make_positives

        class_machine = torch.as_tensor(np.asarray(self.class_machine), dtype=torch.long)
        pool_machine = torch.as_tensor(np.asarray(self.background_machine), dtype=torch.long)
        anchor_machine = class_machine[yi.long().cpu()]
        partners = draw_other_machine(anchor_machine, pool_machine, torch.rand(len(anchor_machine)))
        backgrounds = torch.as_tensor(self.background[partners.numpy()]).to(device=Xi.device, dtype=Xi.dtype)
        low, high = self.snr_range
        snr_db = low + (high - low) * torch.rand(len(anchor_machine), dtype=torch.float64)
        positives = make_positives(Xi, backgrounds, snr_db.to(Xi.device))
        # The shifter takes a seed; drawing it from torch's (forked, seeded) generator keeps fits reproducible.
        seed = int(torch.randint(np.iinfo(np.int32).max, ()).item())
        negatives, _ = self.pitch_shifter_.negatives(Xi, seed)
        return positives, negatives.to(Xi.dtype)

    def train_step_single(self, batch, **fit_params):
        """``L_ss`` on the mixed batch plus ``L_trp`` on the unmixed triplets."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = to_device(Xi, self.device)
        yi = to_device(yi, self.device)
        mixed, targets = self.mix(Xi, yi)
        positives, negatives = self.triplets(Xi, yi)
        n_clips = Xi.shape[0]
        with self.forward_context():
            embeddings = self.infer(torch.cat([mixed, Xi, positives, negatives]), **fit_params)
            ss_loss = self.get_loss(embeddings[:n_clips], targets, X=mixed, training=True)
            anchor, positive, negative = embeddings[n_clips:].split(n_clips)
            triplet_loss = self.triplet_loss_(anchor, positive, negative)
            loss = ss_loss + triplet_loss
        self.backward(loss)
        self.history.record_batch("ss_loss", ss_loss.item())
        self.history.record_batch("triplet_loss", triplet_loss.item())
        return {"loss": loss, "y_pred": embeddings[:n_clips]}


__all__ = [
    "SINGLE_MACHINE_TYPE",
    "AuxiliaryClassifierNet",
    "TripletAuxiliaryNet",
    "check_class_labels",
    "draw_other_machine",
    "seeded_torch",
    "training_callbacks",
    "validation_split",
]
