"""Spectrogram ViT: the torch modules behind the estimators of :mod:`._vit`.

:class:`SpectrogramViT` (log-mel -> patches -> CLS and positions ->
transformer blocks), :class:`PatchDecoder` (the student's light
convolutional decoder), :class:`MaskedTeacherStudentModule` (student, EMA
teacher and decoder), :class:`ViTEmbeddingModule` (the fine-tuned encoder
with SpecAugment) and :class:`LogMelMoments` (each clip's log-mel moments,
from which the estimators set the input statistics); the estimators
:class:`~skasd.MaskedTeacherStudentPretrainer` and
:class:`~skasd.ViTArcFaceEmbedder` are in :mod:`._vit`, the training
machinery (masks, the UFO loss, the EMA update, the schedule, the skorch
net) in :mod:`._vit_training`.
"""

import copy

import torch
from torch import nn

from ..features import LogMelSpectrogram
from ._spec_augment import mask_band

__all__ = [
    "LogMelMoments",
    "MaskedTeacherStudentModule",
    "PatchDecoder",
    "SpectrogramViT",
    "ViTEmbeddingModule",
    "sincos_positions",
]

#: Frame length and shift of the log-mel front end (Fang et al., EAT), in seconds.
FRAME_SECONDS = 0.025
HOP_SECONDS = 0.010
# Floor of the mel power before the log: -100 dB, far below any recording.
_LOG_FLOOR = 1e-10


# ---------------------------------------------------------------------------
# Modules


def sincos_positions(n_freq, n_time, dim, *, device=None, dtype=torch.float32):
    """Fixed 2-D sine-cosine positional embeddings of a patch grid.

    The first half of the ``dim`` channels encodes the frequency index of
    the patch, the second half its time index, each as ``sin`` and ``cos``
    of the index times ``dim / 4`` frequencies ``10000 ** (-k / (dim / 4))``
    (the 1-D embedding of the Transformer, per axis, as in MAE and EAT).
    They hold no parameter, so a checkpoint does not depend on the clip
    length: the same weights embed clips of any duration.

    Parameters
    ----------
    n_freq, n_time : int
        The patch grid.
    dim : int
        Channels, a multiple of 4.

    Returns
    -------
    positions : Tensor of shape (n_freq * n_time, dim)
        Row ``f * n_time + t`` for the patch at frequency ``f``, time ``t``.
    """
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    f = torch.arange(n_freq, dtype=torch.float64)[:, None] * omega
    t = torch.arange(n_time, dtype=torch.float64)[:, None] * omega
    f_code = torch.cat([f.sin(), f.cos()], dim=1)[:, None, :].expand(n_freq, n_time, 2 * quarter)
    t_code = torch.cat([t.sin(), t.cos()], dim=1)[None, :, :].expand(n_freq, n_time, 2 * quarter)
    return torch.cat([f_code, t_code], dim=-1).reshape(n_freq * n_time, 4 * quarter).to(device=device, dtype=dtype)


def _make_buffers_non_persistent(module):
    """Keep ``module``'s buffers (STFT window, mel filterbank) out of its state dict."""
    for submodule in module.modules():
        for name, buffer in list(submodule._buffers.items()):
            submodule.register_buffer(name, buffer, persistent=False)
    return module


class SpectrogramViT(nn.Module):
    """Vision transformer on log-mel patches: waveforms -> CLS and patch outputs.

    1. Log-mel front end (:class:`~skasd.LogMelSpectrogram`'s modules): Hann
       windows of 25 ms, a 10 ms shift, ``n_mels`` Slaney mel bands, power in
       dB floored at -100 dB; the frames past the last whole patch are
       dropped. The log-mel is standardised with a global mean and standard
       deviation, the buffers ``input_mean`` and ``input_std`` (saved in the
       state dict, as EAT's fixed AudioSet statistics; the estimators set
       them from the training clips when they start from random weights).
    2. Patch embedding: a convolution with kernel and stride ``patch_size``
       (frequency, time) maps each patch to ``embed_dim`` channels; patches
       are numbered in raster order, frequency-major; fixed 2-D sine-cosine
       positions (:func:`sincos_positions`) are added.
    3. A learned CLS token is prepended, and ``depth`` pre-norm transformer
       blocks (``n_heads`` heads, GELU MLP of ``mlp_ratio * embed_dim``, no
       dropout) and a final layer norm give the outputs.

    ``forward(waveforms)`` returns the final outputs, CLS first, shape
    ``(batch, 1 + n_patches, embed_dim)``; :meth:`embed` pools them into one
    vector per clip; :meth:`log_mel`, :meth:`embed_patches` and
    :meth:`encode` are the steps, which the masked student uses on a subset
    of the patches and the teacher with every block's output.

    Parameters
    ----------
    sample_rate : int, default=16000
    n_mels : int, default=128
        Mel bands, a multiple of ``patch_size[0]``.
    patch_size : tuple of int, default=(16, 16)
        (mel bands, frames) per patch.
    embed_dim : int, default=192
        Width, a multiple of 4 and of ``n_heads``.
    depth : int, default=6
        Transformer blocks.
    n_heads : int, default=3
    mlp_ratio : float, default=4.0
    """

    def __init__(self, *, sample_rate=16000, n_mels=128, patch_size=(16, 16), embed_dim=192, depth=6, n_heads=3,
                 mlp_ratio=4.0):
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.n_mels = int(n_mels)
        self.patch_size = tuple(int(p) for p in patch_size)
        self.embed_dim = int(embed_dim)
        self.depth = int(depth)
        self.win_length = max(1, round(FRAME_SECONDS * self.sample_rate))
        self.hop_length = max(1, round(HOP_SECONDS * self.sample_rate))
        n_fft = 1 << (self.win_length - 1).bit_length()
        features = LogMelSpectrogram(
            sample_rate=self.sample_rate, n_fft=n_fft, win_length=self.win_length, hop_length=self.hop_length,
            n_mels=self.n_mels, eps=_LOG_FLOOR,
        )
        self.front_end = _make_buffers_non_persistent(features._log_mel_module())
        self.register_buffer("input_mean", torch.tensor(0.0))
        self.register_buffer("input_std", torch.tensor(1.0))
        self.patch_embed = nn.Conv2d(1, self.embed_dim, self.patch_size, stride=self.patch_size)
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, self.embed_dim))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                self.embed_dim, n_heads, dim_feedforward=round(mlp_ratio * self.embed_dim), dropout=0.0,
                activation="gelu", batch_first=True, norm_first=True,
            )
            for _ in range(self.depth)
        )
        self.norm = nn.LayerNorm(self.embed_dim)

    def n_frames(self, n_samples):
        """Log-mel frames of a clip of ``n_samples`` (before dropping the partial patch)."""
        return 1 + n_samples // self.hop_length

    def patch_grid(self, n_samples):
        """``(n_frequency_patches, n_time_patches)`` of a clip of ``n_samples``."""
        return self.n_mels // self.patch_size[0], self.n_frames(n_samples) // self.patch_size[1]

    def min_samples(self):
        """The shortest clip with one whole patch: ``(patch_size[1] - 1) * hop_length`` samples."""
        return (self.patch_size[1] - 1) * self.hop_length

    def raw_log_mel(self, waveforms):
        """Log-mel in dB, (batch, n_mels, n_frames), before standardisation and cropping."""
        return self.front_end(waveforms)

    def log_mel(self, waveforms):
        """Standardised log-mel cropped to whole patches, (batch, n_mels, n_time_patches * patch_size[1])."""
        spectrogram = self.raw_log_mel(waveforms)
        n_used = spectrogram.shape[-1] // self.patch_size[1] * self.patch_size[1]
        return (spectrogram[..., :n_used] - self.input_mean) / self.input_std

    def embed_patches(self, log_mel):
        """Patch tokens with positions, (batch, n_patches, embed_dim), and the grid ``(n_freq, n_time)``."""
        patches = self.patch_embed(log_mel[:, None])
        grid = tuple(patches.shape[-2:])
        tokens = patches.flatten(2).transpose(1, 2)
        return tokens + sincos_positions(*grid, self.embed_dim, device=tokens.device, dtype=tokens.dtype), grid

    def encode(self, tokens, *, return_layers=False):
        """CLS + ``tokens`` through the blocks and the final norm.

        Returns
        -------
        outputs : Tensor of shape (batch, 1 + n_tokens, embed_dim)
            After the final layer norm, CLS first.
        layers : list of Tensor or None
            With ``return_layers``, each block's output (before the final
            norm), CLS first.
        """
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        layers = []
        for block in self.blocks:
            x = block(x)
            if return_layers:
                layers.append(x)
        return self.norm(x), (layers if return_layers else None)

    def forward(self, waveforms):
        tokens, _ = self.embed_patches(self.log_mel(waveforms))
        return self.encode(tokens)[0]

    def embed(self, waveforms, pooling="mean"):
        """One vector per clip: the mean of the patch outputs (eq. 8) or the CLS output."""
        outputs = self(waveforms)
        return outputs[:, 0] if pooling == "cls" else outputs[:, 1:].mean(dim=1)


class PatchDecoder(nn.Module):
    """The student's light decoder: encoded kept patches + mask tokens -> a prediction per patch.

    The encoded kept patches are put back at their places in the patch
    grid, a learned mask token everywhere else, the fixed positions are
    added, and ``depth`` residual blocks of a 3x3 convolution over the
    grid, a layer norm over the channels and GELU, then a linear layer,
    predict every patch (a CNN decoder as EAT's).
    """

    def __init__(self, embed_dim, depth=4, kernel_size=3):
        super().__init__()
        self.embed_dim = embed_dim
        self.mask_token = nn.Parameter(0.02 * torch.randn(embed_dim))
        self.convs = nn.ModuleList(
            nn.Conv2d(embed_dim, embed_dim, kernel_size, padding=kernel_size // 2) for _ in range(depth)
        )
        self.head = nn.Linear(embed_dim, embed_dim)

    def forward(self, encoded, kept_index, grid):
        """(N, n_kept, D) encoded patches at ``kept_index`` (N, n_kept) -> (N, n_patches, D)."""
        n_copies, _, dim = encoded.shape
        n_freq, n_time = grid
        x = self.mask_token.to(encoded.dtype).expand(n_copies, n_freq * n_time, dim)
        x = x.scatter(1, kept_index[..., None].expand(-1, -1, dim), encoded)
        x = x + sincos_positions(n_freq, n_time, dim, device=x.device, dtype=x.dtype)
        x = x.transpose(1, 2).reshape(n_copies, dim, n_freq, n_time)
        for conv in self.convs:
            h = nn.functional.layer_norm(conv(x).permute(0, 2, 3, 1), (dim,)).permute(0, 3, 1, 2)
            x = x + nn.functional.gelu(h)
        return self.head(x.flatten(2).transpose(1, 2))


class MaskedTeacherStudentModule(nn.Module):
    """Student ViT, EMA teacher ViT (a copy, without gradients) and the student's decoder.

    ``forward(waveforms)`` is the eq. 8 embedding of the student (the mean
    of its final patch outputs, no masking); training steps are run by
    :class:`~skasd.embedding._vit_training.MaskedTeacherStudentNet`.
    """

    def __init__(self, student, decoder_depth=4):
        super().__init__()
        self.student = student
        self.teacher = copy.deepcopy(student).requires_grad_(False)
        self.decoder = PatchDecoder(student.embed_dim, decoder_depth)

    def forward(self, waveforms):
        return self.student.embed(waveforms, "mean")


class ViTEmbeddingModule(nn.Module):
    """A :class:`SpectrogramViT` pooled to one embedding per clip, with SpecAugment in training.

    In training mode, each clip's standardised log-mel gets one band of up
    to ``time_mask_fraction`` of its frames and one of up to
    ``frequency_mask_fraction`` of its mel bands set to its mean
    (SpecAugment, torchaudio's ``mask_along_axis_iid``; 0 disables).
    """

    def __init__(self, vit, pooling="cls", time_mask_fraction=0.1, frequency_mask_fraction=0.1):
        super().__init__()
        self.vit = vit
        self.pooling = pooling
        self.time_mask_fraction = time_mask_fraction
        self.frequency_mask_fraction = frequency_mask_fraction

    def forward(self, waveforms):
        log_mel = self.vit.log_mel(waveforms)
        if self.training:
            if self.time_mask_fraction > 0:
                log_mel = mask_band(log_mel, 2, self.time_mask_fraction)
            if self.frequency_mask_fraction > 0:
                log_mel = mask_band(log_mel, 1, self.frequency_mask_fraction)
        tokens, _ = self.vit.embed_patches(log_mel)
        outputs, _ = self.vit.encode(tokens)
        return outputs[:, 0] if self.pooling == "cls" else outputs[:, 1:].mean(dim=1)


class LogMelMoments(nn.Module):
    """(batch, n_samples) -> (batch, 2): mean and mean square of each clip's log-mel in dB."""

    def __init__(self, front_end):
        super().__init__()
        self.front_end = front_end

    def forward(self, waveforms):
        spectrogram = self.front_end(waveforms).double()
        return torch.stack([spectrogram.mean(dim=(1, 2)), spectrogram.square().mean(dim=(1, 2))], dim=1).float()
