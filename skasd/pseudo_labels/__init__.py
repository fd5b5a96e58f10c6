"""Labels for clips that have none: k-means pseudo-labels and pseudo-anomalous external data.

The building blocks of the iterative method of Kuroyanagi et al.
("Pseudo-anomalous set selection and pseudo-label utilization under unlabeled
conditions", Section 4): :func:`kmeans_pseudo_labels` (Section 4.2.2),
:func:`select_external`, :func:`check_external_pool` and
:func:`drop_external` (Section 4.1); and :class:`WardPseudoAttributes`,
Ward pseudo-attributes per machine type (Fang et al., Section 2.4), and
:class:`WardDAPEmbedder`, Fang et al.'s whole embedder as one pipeline step.
"""

from ._external import check_external_pool, drop_external, select_external
from ._iterator import PseudoLabelIterator
from ._kmeans import kmeans_pseudo_labels
from ._ward import WardPseudoAttributes
from ._ward_dap import WardDAPEmbedder

__all__ = [
    "PseudoLabelIterator",
    "WardDAPEmbedder",
    "WardPseudoAttributes",
    "check_external_pool",
    "drop_external",
    "kmeans_pseudo_labels",
    "select_external",
]
