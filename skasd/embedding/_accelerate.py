"""skasd's training nets with Hugging Face accelerate: several GPUs, mixed precision.

skorch's :class:`skorch.hf.AccelerateMixin` hands the module, the criterion,
the optimizer and the data loaders to an :class:`accelerate.Accelerator`
(``accelerator.prepare``): under ``accelerate launch`` (or ``torchrun``)
each process trains a DistributedDataParallel copy on its own GPU, drawing
batches of ``batch_size`` clips from its own share of the data;
``mixed_precision="fp16"`` or ``"bf16"`` runs the forward pass under
autocast (fp16 with a gradient scaler).

The mixin comes first in the bases, so its ``train_step_single`` (a plain
forward, loss and ``accelerator.backward``) would replace skasd's own, which
first turns the batch into what the network sees (mixup; for the triplet
net, the triplets). The classes here keep skasd's one step
(:meth:`~skasd.embedding._training.TrainingHooksNet.train_step_single`) and
run it the accelerate way through its two hooks: ``forward_context`` (the forward pass and the losses run under
``accelerator.autocast()``; the batch is mixed and the triplets drawn before
it, in full precision) and ``backward`` (``accelerator.backward(loss)``,
which scales the loss for fp16 and synchronises the gradients across
processes).

Three more fixes to the mixin, for skasd's training callbacks:

- the validation loss is averaged over the processes, so that every
  process records the same ``valid_loss`` and ``EarlyStopping`` stops them
  all at the same epoch (else one process stops and the others wait for it
  forever);
- the module is unwrapped after the callbacks' ``on_train_end``, so that
  ``EarlyStopping(load_best=True)`` restores the weights it copied from the
  wrapped module into the wrapped module;
- ``verbose=0`` is silent (the mixin prints the epoch table through
  ``accelerator.print`` whatever ``verbose`` says), and a second
  ``initialize`` (``fit`` after ``initialize``) prepares the new module,
  criterion and optimizer instead of skipping them.

Leave ``device=None``: the accelerator places the module, the criterion and
every batch on its own device (``accelerator.device``).

``accelerate`` is an optional dependency (``pip install accelerate``);
this module imports without it, but the classes need an ``Accelerator``.
See ``docs/gpu.md``.
"""

from skorch.hf import AccelerateMixin

from ._training import AuxiliaryClassifierNet, TrainingHooksNet
from ._triplet_net import TripletAuxiliaryNet

__all__ = [
    "AcceleratedAuxiliaryClassifierNet",
    "AcceleratedTripletAuxiliaryNet",
    "accelerated_net_class",
]


class _SkasdAccelerateMixin(AccelerateMixin):
    """skorch's AccelerateMixin with the fixes the module docstring lists."""

    def initialize(self):
        """Build the module, criterion and optimizer, and prepare them with the accelerator.

        ``fit`` initialises the net again unless ``warm_start``; the
        mixin would then skip preparing the new module, criterion and
        optimizer, since it had prepared their predecessors.
        """
        self._wrapped_with_accelerator = False
        return super().initialize()

    def _initialize_callbacks(self):
        # AccelerateMixin turns the sink "auto" into accelerator.print, and skorch's
        # PrintLog prints through any sink but the builtin print whatever verbose says.
        if self.callbacks__print_log__sink == "auto" and not self.verbose:
            self.callbacks__print_log__sink = print
        return super()._initialize_callbacks()

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Wait for every process; the module is unwrapped in :meth:`notify`, after the callbacks."""
        self.accelerator.wait_for_everyone()
        # Skip AccelerateMixin.on_train_end, which would unwrap before the callbacks run.
        return super(AccelerateMixin, self).on_train_end(net, X=X, y=y, **kwargs)

    def notify(self, method_name, **cb_kwargs):
        """Run the callbacks; at the end of training, then unwrap the module and the criterion.

        skorch calls the net's own ``on_train_end`` before the callbacks'.
        ``EarlyStopping(load_best=True)`` restores, in its ``on_train_end``,
        weights it copied from the wrapped module during training (under
        several processes, DistributedDataParallel's, whose keys start with
        ``module.``): they load into the wrapped module only.
        """
        super().notify(method_name, **cb_kwargs)
        if method_name == "on_train_end" and self.unwrap_after_train:
            self._unwrap_accelerator()

    # skasd's step, with the accelerate hooks below, not the mixin's plain one.
    train_step_single = TrainingHooksNet.train_step_single

    def forward_context(self):
        # The training forward pass and loss run under the accelerator's
        # autocast; the mixing and the triplets are drawn before it, in full precision.
        return self.accelerator.autocast()

    def backward(self, loss):
        # Scales the loss for fp16 and synchronises gradients across processes.
        self.accelerator.backward(loss)

    def validation_step(self, batch, **fit_params):
        """The validation loss of the batch, averaged over the processes.

        Under several processes each one holds its own share of every
        validation batch; without the average each would record its own
        ``valid_loss``, and ``EarlyStopping`` could stop one process while
        the others wait for it forever. With one process it is the loss as is.
        """
        step = super().validation_step(batch, **fit_params)
        step["loss"] = self.accelerator.reduce(step["loss"].detach(), reduction="mean")
        return step


class AcceleratedAuxiliaryClassifierNet(_SkasdAccelerateMixin, AuxiliaryClassifierNet):
    """:class:`~skasd.embedding._training.AuxiliaryClassifierNet` trained through accelerate.

    Parameters
    ----------
    module, criterion, n_classes, mixup_probability, **kwargs
        As :class:`~skasd.embedding._training.AuxiliaryClassifierNet`.
    accelerator : accelerate.Accelerator
        Decides the devices, the processes and the precision, e.g.
        ``Accelerator(mixed_precision="bf16")`` under ``accelerate launch``,
        or ``Accelerator(cpu=True)`` on a CPU.
    device : None, default=None
        Leave it None: the accelerator places everything.
    unwrap_after_train : bool, default=True
        Give back the plain module and criterion after training (so that
        the net can be pickled and used for inference without accelerate),
        as :class:`skorch.hf.AccelerateMixin`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from accelerate import Accelerator
    >>> from skasd.embedding import ArcFace
    >>> from skasd.embedding._accelerate import AcceleratedAuxiliaryClassifierNet
    >>> X = np.random.default_rng(0).normal(size=(16, 8)).astype("float32")
    >>> y = np.repeat([0, 1], 8)
    >>> net = AcceleratedAuxiliaryClassifierNet(
    ...     torch.nn.Linear, ArcFace(2, 4), module__in_features=8, module__out_features=4,
    ...     n_classes=2, mixup_probability=0.5, accelerator=Accelerator(cpu=True),
    ...     max_epochs=2, batch_size=8, train_split=None, verbose=0,
    ... )
    >>> len(net.fit(X, y).history)
    2
    """


class AcceleratedTripletAuxiliaryNet(_SkasdAccelerateMixin, TripletAuxiliaryNet):
    """:class:`~skasd.embedding._triplet_net.TripletAuxiliaryNet` trained through accelerate.

    Parameters are those of
    :class:`~skasd.embedding._triplet_net.TripletAuxiliaryNet` plus
    ``accelerator``, ``device=None`` and ``unwrap_after_train`` as in
    :class:`AcceleratedAuxiliaryClassifierNet`. The positives and negatives
    are drawn outside autocast, in full precision; under several processes
    each process draws them for its own share of the batch.
    """


_ACCELERATED = {
    AuxiliaryClassifierNet: AcceleratedAuxiliaryClassifierNet,
    TripletAuxiliaryNet: AcceleratedTripletAuxiliaryNet,
}


def accelerated_net_class(net_class):
    """The accelerate-enabled counterpart of one of skasd's skorch net classes.

    Parameters
    ----------
    net_class : type
        :class:`~skasd.embedding._training.AuxiliaryClassifierNet` or
        :class:`~skasd.embedding._triplet_net.TripletAuxiliaryNet` (an
        already accelerated class is returned as it is).

    Returns
    -------
    accelerated_class : type
        Takes the same arguments plus ``accelerator``; pass ``device=None``.

    Raises
    ------
    ValueError
        For a class skasd has no accelerated counterpart of.

    Examples
    --------
    >>> from skasd.embedding._triplet_net import TripletAuxiliaryNet
    >>> from skasd.embedding._accelerate import accelerated_net_class
    >>> accelerated_net_class(TripletAuxiliaryNet).__name__
    'AcceleratedTripletAuxiliaryNet'
    """
    if net_class in _ACCELERATED.values():
        return net_class
    try:
        return _ACCELERATED[net_class]
    except (KeyError, TypeError):
        raise ValueError(
            f"No accelerate-enabled counterpart of {net_class!r}; skasd has one for "
            f"{sorted(cls.__name__ for cls in _ACCELERATED)}. For another net, define "
            "class MyNet(skorch.hf.AccelerateMixin, YourNet) and make its train_step_single "
            "call accelerator.backward(loss)."
        ) from None
