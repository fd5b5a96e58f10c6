"""Two random views of each clip (five time- and frequency-domain transforms) and the log-mel front end."""

import torch
import torchaudio
from torch import nn

from ...features import LogMelSpectrogram
from .._spec_augment import mask_band

__all__ = [
    "AUGMENTATIONS",
    "TwoViewAugmentation",
    "log_mel_front_end",
]

#: The five transforms a view is made with, in the order of their codes.
AUGMENTATIONS = ("time_shift", "time_mask", "frequency_mask", "gain_noise", "speed")
_WAVEFORM_AUGMENTATIONS = ("time_shift", "gain_noise", "speed")
_SPECTROGRAM_AUGMENTATIONS = ("time_mask", "frequency_mask")

# Floor of the mel power before the log: -100 dB, far below any recording.
_LOG_FLOOR = 1e-10


def _time_shift(waveforms):
    """Circular shift of each clip by a uniform random number of samples."""
    n_clips, n_samples = waveforms.shape
    shift = (torch.rand(n_clips, device=waveforms.device) * n_samples).long()
    index = (torch.arange(n_samples, device=waveforms.device)[None, :] - shift[:, None]) % n_samples
    return waveforms.gather(1, index)


def _gain_noise(waveforms, gain_db, snr_db):
    """A random gain in [-gain_db, gain_db] dB, then white noise at a random SNR in ``snr_db``."""
    n_clips = waveforms.shape[0]
    device, dtype = waveforms.device, waveforms.dtype
    gain = (torch.rand(n_clips, device=device, dtype=dtype) * 2 - 1) * gain_db
    scaled = waveforms * torch.pow(10.0, gain / 20)[:, None]
    snr = snr_db[0] + torch.rand(n_clips, device=device, dtype=dtype) * (snr_db[1] - snr_db[0])
    return torchaudio.functional.add_noise(scaled, torch.randn_like(scaled), snr)


def _speed(waveforms, speed_range):
    """Play each clip at a random speed factor in ``speed_range`` (pitch and tempo together).

    Resampled by linear interpolation at positions ``t * factor``, wrapped
    around the clip (machine sounds are stationary) to keep its length.
    """
    n_clips, n_samples = waveforms.shape
    device, dtype = waveforms.device, waveforms.dtype
    low, high = speed_range
    factor = low + torch.rand(n_clips, device=device, dtype=dtype) * (high - low)
    positions = torch.arange(n_samples, device=device, dtype=dtype)[None, :] * factor[:, None]
    left = positions.floor()
    fraction = positions - left
    left = left.long() % n_samples
    right = (left + 1) % n_samples
    return waveforms.gather(1, left) * (1 - fraction) + waveforms.gather(1, right) * fraction


class TwoViewAugmentation(nn.Module):
    """Two random views of each clip, each made by one transform.

    For each clip, two different transforms (``c^1`` and ``c^2`` of SCAN)
    are drawn from ``augmentations`` (the same one twice when it holds only
    one), each with its own random strength; every draw comes from torch's
    global generator on the clips' device, which skasd seeds around ``fit``.

    The transforms (five, in time and frequency):

    - ``"time_shift"``: circular shift by a uniform random number of samples;
    - ``"time_mask"``: a band of up to ``max_mask_fraction`` of the frames
      set to the spectrogram's mean (SpecAugment, torchaudio);
    - ``"frequency_mask"``: the same over the mel bands;
    - ``"gain_noise"``: gain uniform in ``[-gain_db, gain_db]`` dB, then
      white noise at an SNR uniform in ``snr_db`` (torchaudio's ``add_noise``);
    - ``"speed"``: speed factor uniform in ``speed_range`` (pitch and tempo
      together), linear interpolation, wrapped around the clip.
      torchaudio's ``speed`` takes one factor per call; this is the batched
      equivalent, without an anti-aliasing filter (for a factor above 1, the
      little energy above ``sample_rate / 2 / factor`` folds back).

    The waveform transforms run before the front end, the masks after it.

    Parameters
    ----------
    augmentations : sequence of str, default=AUGMENTATIONS
        The transforms to draw from, a subset of the five above.
    max_mask_fraction : float, default=0.2
    gain_db : float, default=6.0
    snr_db : tuple of two floats, default=(10.0, 30.0)
    speed_range : tuple of two floats, default=(0.9, 1.1)
    """

    def __init__(self, augmentations=AUGMENTATIONS, *, max_mask_fraction=0.2, gain_db=6.0, snr_db=(10.0, 30.0),
                 speed_range=(0.9, 1.1)):
        super().__init__()
        unknown = [name for name in augmentations if name not in AUGMENTATIONS]
        if unknown or not augmentations:
            raise ValueError(
                f"augmentations must be a non-empty subset of {AUGMENTATIONS}; got {tuple(augmentations)!r}."
            )
        self.augmentations = tuple(augmentations)
        self.max_mask_fraction = max_mask_fraction
        self.gain_db = gain_db
        self.snr_db = tuple(snr_db)
        self.speed_range = tuple(speed_range)

    def draw_transforms(self, n_clips, device):
        """Indices into ``augmentations`` of each clip's two transforms, shape (n_clips, 2)."""
        n_transforms = len(self.augmentations)
        if n_transforms == 1:
            return torch.zeros((n_clips, 2), dtype=torch.long, device=device)
        return torch.rand(n_clips, n_transforms, device=device).argsort(dim=1)[:, :2]

    def _apply_waveform(self, name, waveforms):
        if name == "time_shift":
            return _time_shift(waveforms)
        if name == "gain_noise":
            return _gain_noise(waveforms, self.gain_db, self.snr_db)
        return _speed(waveforms, self.speed_range)

    def view(self, waveforms, transforms, front_end):
        """Log-mels of ``waveforms``, clip ``i`` transformed by ``augmentations[transforms[i]]``."""
        x = waveforms
        for name in _WAVEFORM_AUGMENTATIONS:
            if name in self.augmentations:
                index = torch.nonzero(transforms == self.augmentations.index(name), as_tuple=True)[0]
                if index.numel():
                    x = x.index_copy(0, index, self._apply_waveform(name, x[index]))
        log_mel = front_end(x)
        for name in _SPECTROGRAM_AUGMENTATIONS:
            if name in self.augmentations:
                index = torch.nonzero(transforms == self.augmentations.index(name), as_tuple=True)[0]
                if index.numel():
                    axis = 2 if name == "time_mask" else 1
                    log_mel = log_mel.index_copy(0, index, mask_band(log_mel[index], axis, self.max_mask_fraction))
        return log_mel

    @torch.no_grad()
    def forward(self, waveforms, front_end):
        """(N, n_samples) waveforms -> (2N, n_mels, n_frames): the first views, then the second."""
        transforms = self.draw_transforms(waveforms.shape[0], waveforms.device)
        return torch.cat([self.view(waveforms, transforms[:, v], front_end) for v in range(2)])


def log_mel_front_end(*, sample_rate, n_fft, hop_length, n_mels):
    """Waveforms (N, n_samples) -> log-mel power in dB (N, n_mels, 1 + n_samples // hop_length).

    :class:`~skasd.LogMelSpectrogram`'s modules (periodic Hann window of
    ``n_fft`` samples, Slaney mel scale and norm), floored at -100 dB.
    """
    features = LogMelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, eps=_LOG_FLOOR
    )
    return features._log_mel_module()
