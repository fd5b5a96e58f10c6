"""Checks of the per-clip labels the pseudo-labelling methods take (machine type, domain, attributes)."""

import numpy as np

__all__ = ["check_labels", "is_absent"]


def check_labels(values, n_clips, name, reference="embeddings"):
    """``values`` as a 1-D object array of ``n_clips`` entries, or a clear error."""
    values = np.asarray(values, dtype=object)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one value per clip; got shape {values.shape}.")
    if len(values) != n_clips:
        raise ValueError(f"{name} has {len(values)} values but {reference} has {n_clips} clips.")
    return values


def is_absent(attribute):
    """True for a missing attribute: None, NaN, "" or DCASE's "noAttribute(s)"."""
    if attribute is None:
        return True
    if isinstance(attribute, float) and np.isnan(attribute):
        return True
    text = str(attribute).strip()
    return text == "" or text.lower().startswith("noattribute")
