"""Embedders: torch models that map waveforms to embeddings.

The angular-margin losses the trained embedders use are reusable
``torch.nn.Module`` s in :mod:`._losses`.
"""

from ._losses import AdaProj, ArcFace, SubClusterAdaCos, SubspaceLoss

__all__ = ["AdaProj", "ArcFace", "SubClusterAdaCos", "SubspaceLoss"]
