"""The dense autoencoder of the DCASE 2023-2025 Task 2 baseline and the skorch net that trains it."""

import torch
from torch import nn

from ._training import TrainingHooksNet

__all__ = [
    "DenseAutoencoder",
    "ReconstructionNet",
]

# The baseline's batch norm: running statistics updated by 1 % per batch, eps 1e-3 (Keras' defaults,
# carried over from the Keras baseline of 2020-2022).
_BATCH_NORM = dict(momentum=0.01, eps=1e-3)


def _dense_block(n_in, n_out):
    return [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out, **_BATCH_NORM), nn.ReLU()]


class DenseAutoencoder(nn.Module):
    """Fully connected autoencoder: (N, n_input) -> (N, n_input), the reconstruction.

    The encoder maps the input through ``hidden_units`` and then to
    ``bottleneck`` units, each a linear layer, batch norm and ReLU; the
    decoder mirrors it (``bottleneck`` -> reversed ``hidden_units``, each
    linear, batch norm, ReLU) and ends in a linear layer back to
    ``n_input``, without activation. The defaults are the DCASE 2023-2025
    Task 2 baseline's network: 640 -> 128 -> 128 -> 128 -> 128 -> 8 ->
    128 -> 128 -> 128 -> 128 -> 640.

    Parameters
    ----------
    n_input : int
        Input (and output) width: frames per window times mel bands.
    hidden_units : tuple of int, default=(128, 128, 128, 128)
        Widths of the encoder's hidden layers (the decoder's, reversed).
    bottleneck : int, default=8
        Width of the code.
    """

    def __init__(self, n_input, hidden_units=(128, 128, 128, 128), bottleneck=8):
        super().__init__()
        widths = [n_input, *hidden_units, bottleneck]
        self.encoder = nn.Sequential(*[layer for a, b in zip(widths[:-1], widths[1:]) for layer in _dense_block(a, b)])
        back = widths[::-1]
        self.decoder = nn.Sequential(
            *[layer for a, b in zip(back[:-2], back[1:-1]) for layer in _dense_block(a, b)],
            nn.Linear(back[-2], back[-1]),
        )
        self.n_input = n_input

    def forward(self, x):
        return self.decoder(self.encoder(x))


class ReconstructionNet(TrainingHooksNet):
    """skorch net training a module to reconstruct its input: the criterion compares the output with ``X``.

    Fitted with ``y=None``; the criterion (``torch.nn.MSELoss``: the mean
    over the batch and the input's width of the squared error, the
    baseline's training loss) takes the module's output and the batch's
    inputs.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The criterion of the reconstruction ``y_pred`` against the inputs ``X``; ``y_true`` is unused."""
        return self.criterion_(y_pred, torch.as_tensor(X).to(y_pred.device))
