"""Outlier estimators on embeddings: anomaly scores for clips.

Every scorer follows scikit-learn's outlier-detector signs (``score_samples``
higher for more normal clips, ``decision_function`` negative for outliers,
``predict`` -1 / +1) and adds ``anomaly_score(X) = -score_samples(X)``.
"""

from ._base import BaseScorer  # noqa: F401  (the base class for writing new scorers)
from ._neighbors import KNNScorer, LocalDensityKNNScorer
from ._domain import DomainStandardizedScorer
from ._kmeans import KMeansCosineScorer
from ._mahalanobis import MahalanobisScorer, geometric_median  # noqa: F401
from ._synthesis import DADSKNNScorer, SMOTEKNNScorer

# The estimators, all exported at skasd's top level too. BaseScorer, for
# writing new scorers, is importable from here.
__all__ = [
    "DomainStandardizedScorer",
    "KMeansCosineScorer",
    "MahalanobisScorer",
    "KNNScorer",
    "LocalDensityKNNScorer",
    "SMOTEKNNScorer",
    "DADSKNNScorer",
]
