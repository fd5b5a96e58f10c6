"""What the two spectrogram-ViT estimators share: the architecture parameters and the fitting helpers.

The checks and construction of the :class:`SpectrogramViT` an estimator's
parameters describe (:class:`ViTArchitectureMixin`, their docs in
:data:`ARCHITECTURE_DOC`), the global input statistics of the training
log-mels, loading a checkpoint, the clip-length check and the learning-rate
schedule.
"""

import copy
import math
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.utils._param_validation import Interval
from skorch.callbacks import LRScheduler

from ..utils._checkpoints import load_into, load_state_dict
from ..utils._torch import (
    transform_in_batches,
)
from ._vit_modules import LogMelMoments, SpectrogramViT
from ._vit_training import (
    WarmupCosine,
)

__all__ = [
    "ARCHITECTURE_CONSTRAINTS",
    "ARCHITECTURE_DOC",
    "MIN_INPUT_STD",
    "ViTArchitectureMixin",
    "check_clip_length",
    "checkpoint_path",
    "cosine_schedule",
    "load_vit",
    "set_input_statistics",
]

# A global standard deviation of the training log-mels below this (in dB) means silent or constant clips.
MIN_INPUT_STD = 1e-6


# ---------------------------------------------------------------------------
# Shared estimator machinery


def set_input_statistics(vit, X, *, batch_size, device, n_jobs, name):
    """Set ``vit.input_mean`` and ``input_std`` to the global log-mel statistics of the clips ``X``."""
    moments_module = LogMelMoments(copy.deepcopy(vit.front_end).to(device))
    moments = transform_in_batches(
        X, moments_module, batch_size=batch_size, device=device, n_jobs=n_jobs
    ).astype(np.float64)
    mean, mean_square = moments.mean(axis=0)
    std = math.sqrt(max(mean_square - mean**2, 0.0))
    if not std > MIN_INPUT_STD:
        raise ValueError(
            f"{name}: the log-mel spectrograms of the training clips are constant ({mean:.1f} dB everywhere): "
            "the clips are silent or constant, and there is nothing to learn from them. Check the clips."
        )
    with torch.no_grad():
        vit.input_mean.fill_(mean)
        vit.input_std.fill_(std)
    return vit


def checkpoint_path(checkpoint, parameter="weights"):
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise ValueError(f"{parameter}={str(checkpoint)!r} is not an existing file.")
    return path


def load_vit(vit, checkpoint, parameter="weights"):
    """Load a state-dict file into ``vit``, strictly; a ValueError names ``parameter`` and the mismatched keys."""
    path = checkpoint_path(checkpoint, parameter)
    return load_into(vit, load_state_dict(path, None, parameter), path, parameter)


def check_clip_length(vit, n_samples):
    if n_samples < vit.min_samples():
        raise ValueError(
            f"Clips of {n_samples} samples (n_features = {n_samples}) give {vit.n_frames(n_samples)} log-mel "
            f"frame(s) (10 ms hop at sample_rate={vit.sample_rate}), fewer than one patch of "
            f"patch_size[1]={vit.patch_size[1]} frames: they need at least {vit.min_samples()} samples. Use "
            "longer clips or a smaller patch_size."
        )


def cosine_schedule(warmup_steps, total_steps):
    return LRScheduler(
        policy=torch.optim.lr_scheduler.LambdaLR,
        lr_lambda=WarmupCosine(min(warmup_steps, total_steps), total_steps),
        step_every="batch",
    )


ARCHITECTURE_CONSTRAINTS = {
    "sample_rate": [Interval(Integral, 1, None, closed="left")],
    "n_mels": [Interval(Integral, 1, None, closed="left")],
    "patch_size": [tuple, list],
    "embed_dim": [Interval(Integral, 4, None, closed="left")],
    "depth": [Interval(Integral, 1, None, closed="left")],
    "n_heads": [Interval(Integral, 1, None, closed="left")],
    "mlp_ratio": [Interval(Real, 0, None, closed="neither")],
}


class ViTArchitectureMixin:
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


ARCHITECTURE_DOC = """\
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
