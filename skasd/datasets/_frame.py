"""The metadata frame shared by every skasd data set (loaded or generated)."""

import numpy as np
import pandas as pd

#: Columns every metadata frame has, in this order; attribute columns
#: (``attr_<name>``) follow them.
FRAME_COLUMNS = (
    "path",
    "machine",
    "section",
    "domain",
    "split",
    "label",
    "index",
    "attributes",
    "aux_label",
    "n_samples_original",
)

#: ``label`` values: 0 normal, 1 anomalous, -1 unknown (evaluation data).
UNKNOWN_LABEL = -1

ATTRIBUTE_PREFIX = "attr_"


def split_attributes(attributes):
    """Split an attribute string ``"key_value_key_value"`` into a dict.

    DCASE file names (2022-2025) end with alternating attribute names and
    values joined by underscores, e.g. ``"car_C2_spd_34V_mic_1"``. Names
    and values contain no underscore, so pairing the tokens recovers them.
    An odd number of tokens (or ``"noAttribute(s)"``) gives no pairs: the
    raw string is still kept in the ``attributes`` column.
    """
    if not attributes or attributes.lower().startswith("noattribute"):
        return {}
    tokens = attributes.split("_")
    if len(tokens) % 2:
        return {}
    return dict(zip(tokens[0::2], tokens[1::2]))


def aux_label(machine, section, attributes):
    """The auxiliary class label an embedder learns: machine type plus attributes.

    ``"valve|pat_00"``; clips without attributes get their section instead
    (``"fan|section_00"``), the label DCASE 2020-2021 systems classified.
    """
    if attributes and not attributes.lower().startswith("noattribute"):
        return f"{machine}|{attributes}"
    return f"{machine}|section_{section}"


def make_frame(records):
    """Build the metadata frame from one dict per clip.

    Each record holds the keys of :data:`FRAME_COLUMNS` except ``aux_label``
    and the attribute columns, which are derived from ``machine``,
    ``section`` and ``attributes``. Other keys (e.g. a generator's
    ``anomaly_kind``) become extra columns after the attribute columns.
    """
    rows = []
    attribute_names = []
    extra_names = []
    for record in records:
        row = dict(record)
        row["attributes"] = row.get("attributes") or ""
        row["aux_label"] = aux_label(row["machine"], row["section"], row["attributes"])
        for name, value in split_attributes(row["attributes"]).items():
            column = ATTRIBUTE_PREFIX + name
            if column not in attribute_names:
                attribute_names.append(column)
            row[column] = value
        for key in record:
            if key not in FRAME_COLUMNS and key not in extra_names:
                extra_names.append(key)
        rows.append(row)
    columns = list(FRAME_COLUMNS) + attribute_names + extra_names
    frame = pd.DataFrame(rows, columns=columns)
    frame["label"] = frame["label"].astype(np.int8)
    frame["index"] = frame["index"].astype(np.int64)
    frame["n_samples_original"] = frame["n_samples_original"].astype(np.int64)
    return frame


def first_normals_split(frame, *, n_source=30, n_target=5):
    """Select, per machine type and section, the first normal clips of each domain for fitting.

    Where only a labelled test split exists (as for ``../shared/data``'s
    valve clips), fitting on the normal clips with the lowest file indices
    and evaluating on the rest gives a split everyone can reproduce: the
    standard valve split is ``n_source=30, n_target=5`` (35 clips to fit, 165
    to evaluate).

    Parameters
    ----------
    frame : pandas.DataFrame
        A metadata frame of :func:`load_dcase` (columns ``machine``,
        ``section``, ``domain``, ``label``, ``index``).
    n_source, n_target : int, default=30, 5
        Normal clips of the source and target domain with ``index`` below
        these are selected.

    Returns
    -------
    fit : ndarray of shape (n_clips,), dtype bool
        True for the clips to fit on; ``~fit`` are the clips to evaluate.

    Examples
    --------
    >>> import pandas as pd
    >>> from skasd.datasets import first_normals_split
    >>> frame = pd.DataFrame({"machine": "valve", "section": "00", "domain": ["source", "source", "target"],
    ...                       "label": [0, 1, 0], "index": [0, 1, 7]})
    >>> first_normals_split(frame, n_source=30, n_target=5)
    array([ True, False, False])
    """
    normal = frame["label"] == 0
    source = (frame["domain"] == "source") & (frame["index"] < n_source)
    target = (frame["domain"] == "target") & (frame["index"] < n_target)
    return (normal & (source | target)).to_numpy()
