"""Ctrl-C during a skasd net's training stops the program; a callback's KeyboardInterrupt only ends the training."""

import signal

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skasd.embedding._training import TrainingHooksNet


class StopAt(Callback):
    """At the end of epoch ``epoch``: raise KeyboardInterrupt (skorch's EarlyStopping does), or send SIGINT."""

    def __init__(self, epoch, how):
        self.epoch = epoch
        self.how = how

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            if self.how == "signal":
                signal.raise_signal(signal.SIGINT)  # what Ctrl-C delivers
            raise KeyboardInterrupt


def tiny_net(how):
    return TrainingHooksNet(
        torch.nn.Linear, torch.nn.MSELoss, module__in_features=3, module__out_features=1, max_epochs=5,
        batch_size=4, train_split=None, verbose=0, callbacks=[("stop", StopAt(2, how))],
    )


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32)


def test_a_callbacks_keyboard_interrupt_ends_only_the_training():
    net = tiny_net("raise").fit(*data())
    assert len(net.history) == 2  # stopped after epoch 2, and fit returned, as skorch's EarlyStopping needs


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler, as in an interactive shell (a process started in the background ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_training_is_not_swallowed(python_sigint_handler):
    with pytest.raises(KeyboardInterrupt):
        tiny_net("signal").fit(*data())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back
