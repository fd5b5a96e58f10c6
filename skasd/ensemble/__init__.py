"""Ensembles: weighted fusion of several scorers' anomaly scores.

:class:`ACPEnsemble` fits its members on normal training clips and finds
the fusion weights on labelled development clips by adaptive combination
perturbation (or takes the uniform average, or the best single member).
"""

from ._acp import ACPEnsemble, DevelopmentOverlapWarning

__all__ = ["ACPEnsemble", "DevelopmentOverlapWarning"]
