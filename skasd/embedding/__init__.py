"""Embedders: torch models that map waveforms to embeddings.

Trained embedders build a skorch net inside ``fit`` (:mod:`._training` holds
what every training scheme shares); the angular-margin losses they train
with are reusable ``torch.nn.Module`` s in :mod:`._losses`.
"""

from ._losses import AdaProj, ArcFace, SubClusterAdaCos, SubspaceLoss
from ._multibranch import MultiBranchEmbedder

__all__ = ["AdaProj", "ArcFace", "MultiBranchEmbedder", "SubClusterAdaCos", "SubspaceLoss"]
