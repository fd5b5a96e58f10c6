"""SpecAugment masking of log-mel spectrograms, shared by the SCAN augmentations and the ViT's training."""

import torchaudio

__all__ = ["mask_band"]


def mask_band(log_mel, axis, max_fraction):
    """SpecAugment masking of a random band along ``axis`` (1: mel, 2: time) of each spectrogram.

    torchaudio's :func:`~torchaudio.functional.mask_along_axis_iid` draws
    the band of each spectrogram independently; the band is set to the
    spectrogram's mean, not to 0 dB.
    """
    mean = log_mel.mean(dim=(1, 2), keepdim=True)
    mask_param = max(1, round(max_fraction * log_mel.shape[axis]))
    masked = torchaudio.functional.mask_along_axis_iid((log_mel - mean)[:, None], mask_param, 0.0, axis + 1)
    return masked[:, 0] + mean
