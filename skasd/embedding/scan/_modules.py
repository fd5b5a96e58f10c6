"""The networks: the one-channel ResNet encoder, the projection head and the SCAN module around them."""

import itertools

from torch import nn

from .._blocks import ResidualBlock2d
from ._augment import AUGMENTATIONS, TwoViewAugmentation, log_mel_front_end

__all__ = [
    "ProjectionHead",
    "ResNetEncoder",
    "SCANModule",
]

class ResNetEncoder(nn.Module):
    """One-channel ResNet with basic blocks: (N, 1, n_mels, n_frames) -> (N, widths[-1]).

    A 7x7 stride-2 stem with batch norm, ReLU and 3x3 stride-2 max pooling,
    then one stage per entry of ``widths`` of ``blocks[i]`` basic residual
    blocks (two 3x3 convolutions; stride 2 at the first block of every stage
    but the first), and global average pooling. The defaults are ResNet-18
    with one input channel instead of three.

    Parameters
    ----------
    widths : tuple of int, default=(64, 128, 256, 512)
        Channels of each stage; the output has ``widths[-1]`` dimensions.
    blocks : tuple of int, default=(2, 2, 2, 2)
        Residual blocks of each stage.
    in_channels : int, default=1
    """

    def __init__(self, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), in_channels=1):
        super().__init__()
        if len(widths) != len(blocks) or not widths:
            raise ValueError(f"widths and blocks must have the same, non-zero length; got {widths!r} and {blocks!r}.")
        layers = [
            nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
        c_in = widths[0]
        for stage, (width, n_blocks) in enumerate(zip(widths, blocks, strict=True)):
            for block in range(n_blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(ResidualBlock2d(c_in, width, stride))
                c_in = width
        self.layers = nn.Sequential(*layers)
        self.n_embedding = widths[-1]

    def forward(self, x):
        return self.layers(x).mean(dim=(-2, -1))


class ProjectionHead(nn.Module):
    """MLP ``z -> h``: linear layers of sizes ``dims`` with ReLU between them (SimCLR's head)."""

    def __init__(self, n_inputs, dims=(512, 128)):
        super().__init__()
        sizes = (n_inputs, *dims)
        layers = []
        for index, (a, b) in enumerate(itertools.pairwise(sizes)):
            if index:
                layers.append(nn.ReLU(inplace=True))
            layers.append(nn.Linear(a, b))
        self.layers = nn.Sequential(*layers)

    def forward(self, z):
        return self.layers(z)


class SCANModule(nn.Module):
    """Waveforms -> log-mel -> batch-normalised input -> ResNet -> ``z`` (and ``h`` in training).

    ``forward(waveforms)`` embeds clips as they are (no augmentation): the
    latent vectors ``z`` that ``transform`` returns. ``views(waveforms)``
    gives the ``2N`` augmented log-mels of a training batch, ``embed`` their
    ``z`` and ``projection`` their ``h``.
    """

    def __init__(self, *, sample_rate, n_fft, hop_length, n_mels, widths, blocks, projection_dims,
                 augmentations=AUGMENTATIONS):
        super().__init__()
        self.front_end = log_mel_front_end(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        self.augmentation = TwoViewAugmentation(augmentations)
        self.input_norm = nn.BatchNorm2d(1)
        self.encoder = ResNetEncoder(tuple(widths), tuple(blocks))
        self.projection = ProjectionHead(self.encoder.n_embedding, tuple(projection_dims))
        self.n_embedding = self.encoder.n_embedding

    def views(self, waveforms):
        return self.augmentation(waveforms, self.front_end)

    def embed(self, log_mel):
        return self.encoder(self.input_norm(log_mel[:, None]))

    def forward(self, waveforms):
        return self.embed(self.front_end(waveforms))
