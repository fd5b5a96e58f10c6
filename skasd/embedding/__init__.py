"""Embedders: torch models that map waveforms to embeddings.

Trained embedders (:class:`MultiBranchEmbedder`) build a skorch net inside ``fit`` (:mod:`._training` holds
what every training scheme shares); the angular-margin losses they train
with are reusable ``torch.nn.Module`` s in :mod:`._losses`. Pretrained
frontends (:class:`SoundNetEmbedder`, :class:`TorchModuleEmbedder`) run a
fixed model and pool its frames with :class:`FramePooling`.
:class:`MaskedTeacherStudentPretrainer` and :class:`ViTArcFaceEmbedder`
pre-train a spectrogram ViT EAT-style on machine sounds and fine-tune it
with ArcFace. :class:`DenseAutoencoderScorer` is the DCASE 2023-2025 Task 2
autoencoder baseline, trained the same way, scoring clips by their
reconstruction error.
"""

from ._autoencoder_scorer import DenseAutoencoderScorer
from ._dense_autoencoder import DenseAutoencoder
from ._losses import AdaProj, ArcFace, SubClusterAdaCos, SubspaceLoss
from ._multibranch import MultiBranchEmbedder
from ._pooling import FramePooling
from ._pretrained import TorchModuleEmbedder
from ._soundnet import SoundNetEmbedder, convert_soundnet_weights
from ._triplet import (
    PitchShifter,
    TripletLoss,
    draw_background_partners,
    draw_snr_db,
    make_positives,
)
from ._vit import MaskedTeacherStudentPretrainer, ViTArcFaceEmbedder
from ._vit_modules import SpectrogramViT
from .scan import ConfidentPairSCAN

__all__ = [
    "AdaProj",
    "ArcFace",
    "ConfidentPairSCAN",
    "DenseAutoencoder",
    "DenseAutoencoderScorer",
    "FramePooling",
    "MaskedTeacherStudentPretrainer",
    "MultiBranchEmbedder",
    "PitchShifter",
    "SoundNetEmbedder",
    "SpectrogramViT",
    "SubClusterAdaCos",
    "SubspaceLoss",
    "TorchModuleEmbedder",
    "TripletLoss",
    "ViTArcFaceEmbedder",
    "convert_soundnet_weights",
    "draw_background_partners",
    "draw_snr_db",
    "make_positives",
]
