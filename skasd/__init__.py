"""skasd: scikit-learn compatible anomalous sound detection."""

from .features import DFTSpectrum, LogMelSpectrogram, LogMelStatistics, STFTSpectrogram

__version__ = "0.1.0.dev0"

__all__ = [
    "DFTSpectrum",
    "LogMelSpectrogram",
    "LogMelStatistics",
    "STFTSpectrogram",
]
