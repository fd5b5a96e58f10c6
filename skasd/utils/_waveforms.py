"""Integer PCM waveforms, as audio readers return them, scaled to the float range [-1, 1]."""

import warnings

import numpy as np

__all__ = ["pcm_as_float"]

# 16-bit and 8-bit PCM, the sample formats of WAV files that
# scipy.io.wavfile.read returns as int16 and uint8 (DCASE audio is 16-bit):
# (offset, full scale). Wider integers are not taken for audio: scikit-learn
# and users pass int32 and int64 arrays of plain numbers.
_PCM_FORMATS = {np.dtype(np.int16): (0.0, 32768.0), np.dtype(np.uint8): (128.0, 128.0)}


def pcm_as_float(X):
    """``X`` as float32 in [-1, 1] if it holds int16 or uint8 PCM samples (with a warning), else ``X`` itself.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from skasd.utils._waveforms import pcm_as_float
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     pcm_as_float(np.array([[-32768, 0, 16384]], dtype=np.int16))
    array([[-1. ,  0. ,  0.5]], dtype=float32)
    """
    dtype = getattr(X, "dtype", None)
    if dtype not in _PCM_FORMATS:
        return X
    offset, full_scale = _PCM_FORMATS[dtype]
    warnings.warn(
        f"X holds {dtype} samples: read as PCM audio and scaled to [-1, 1] ((x - {offset:g}) / {full_scale:g}), "
        "the range of float waveforms. Pass float waveforms to silence this.",
        UserWarning,
        stacklevel=3,
    )
    return ((np.asarray(X, dtype=np.float32) - offset) / full_scale).astype(np.float32)
