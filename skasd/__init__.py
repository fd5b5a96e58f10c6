"""skasd: scikit-learn compatible anomalous sound detection."""

from . import ensemble, scoring  # noqa: F401  (skasd.ensemble, as skasd.scoring, is a public subpackage)
from .embedding import (
    ConfidentPairSCAN,
    DenseAutoencoderScorer,
    MaskedTeacherStudentPretrainer,
    MultiBranchEmbedder,
    SoundNetEmbedder,
    TorchModuleEmbedder,
    ViTArcFaceEmbedder,
)
from .ensemble import ACPEnsemble
from .features import DFTSpectrum, LogMelSpectrogram, LogMelStatistics, STFTSpectrogram
from .pseudo_labels import PseudoLabelIterator, WardDAPEmbedder, WardPseudoAttributes
from .scoring import *  # noqa: F403  (every scorer is importable from the top level)

from ._version import __version__  # noqa: F401  (skasd.__version__)

__all__ = [
    "ACPEnsemble",
    "ConfidentPairSCAN",
    "DFTSpectrum",
    "DenseAutoencoderScorer",
    "LogMelSpectrogram",
    "LogMelStatistics",
    "MaskedTeacherStudentPretrainer",
    "MultiBranchEmbedder",
    "PseudoLabelIterator",
    "STFTSpectrogram",
    "SoundNetEmbedder",
    "TorchModuleEmbedder",
    "ViTArcFaceEmbedder",
    "WardDAPEmbedder",
    "WardPseudoAttributes",
    *scoring.__all__,
]

# The other public subpackages and modules load on first use, as scipy's do:
# plotting needs matplotlib, an optional dependency, and the command line's
# start-up stays short.
_LAZY_SUBMODULES = ("datasets", "metrics", "persistence", "pipelines", "plotting", "utils")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY_SUBMODULES})
