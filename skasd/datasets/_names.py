"""DCASE Task 2 file names: the metadata they carry, in every scheme the challenge has used (2020-2025)."""

import re
from pathlib import Path

from ._frame import UNKNOWN_LABEL

__all__ = ["AUDIO_SUFFIXES", "format_dcase_filename", "parse_dcase_filename", "parse_supplemental_filename"]

AUDIO_SUFFIXES = (".wav", ".flac")

# One pattern per naming scheme the challenge has used. Sections, indices and
# attributes are kept as written (zero-padded strings) except the index.
_FILENAME_PATTERNS = (
    # 2021-2025 development and additional training data:
    # section_00_source_train_normal_0001_<attr>_<value>_...
    re.compile(
        r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)"
        r"_(?P<label>normal|anomaly)_(?P<index>\d+)(?:_(?P<attributes>.+))?$"
    ),
    # 2021 evaluation test data: domain known, label withheld.
    re.compile(
        r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)"
        r"_(?P<index>\d+)(?:_(?P<attributes>.+))?$"
    ),
    # 2022-2025 evaluation test data: section_00_0001
    re.compile(r"^section_(?P<section>\d+)_(?P<index>\d+)$"),
    # 2020: normal_id_00_00000000, anomaly_id_00_00000000
    re.compile(r"^(?P<label>normal|anomaly)_id_(?P<section>\d+)_(?P<index>\d+)$"),
    # 2020 evaluation test data: id_05_00000000
    re.compile(r"^id_(?P<section>\d+)_(?P<index>\d+)$"),
)

# 2025 supplemental clips (<machine>/supplemental/): section_00_machine_0001_
# in the organisers' baseline README; the word after the section names what
# the clips are, the index counts them, anything after it is kept as written.
_SUPPLEMENTAL_PATTERN = re.compile(
    r"^section_(?P<section>\d+)_(?P<word>[A-Za-z]+)_(?P<index>\d+)(?:_(?P<attributes>.*))?$"
)


def _stem(name):
    """The file name without its folders and its audio extension."""
    stem = Path(name).name
    for suffix in AUDIO_SUFFIXES:
        if stem.lower().endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def parse_dcase_filename(name):
    """Parse the metadata out of a DCASE Task 2 file name (2020-2025).

    Parameters
    ----------
    name : str or path-like
        A file name or path; folders and the extension are ignored.

    Returns
    -------
    metadata : dict or None
        Keys ``section`` (str, as written, e.g. ``"00"``), ``domain``
        (``"source"``, ``"target"`` or None where the name does not say),
        ``split`` (``"train"``, ``"test"`` or None), ``label`` (0 normal,
        1 anomalous, -1 unknown), ``index`` (int) and ``attributes`` (the raw
        attribute string, ``""`` if none). None if the name matches no
        scheme.

    Examples
    --------
    >>> meta = parse_dcase_filename("section_00_target_test_anomaly_0015_car_A2_spd_6_mic_2.wav")
    >>> meta["domain"], meta["label"], meta["index"], meta["attributes"]
    ('target', 1, 15, 'car_A2_spd_6_mic_2')
    >>> parse_dcase_filename("anomaly_id_02_00000012.wav")["section"]
    '02'
    >>> parse_dcase_filename("notes.wav") is None
    True
    """
    stem = _stem(name)
    for pattern in _FILENAME_PATTERNS:
        match = pattern.match(stem)
        if match is None:
            continue
        fields = match.groupdict()
        label = fields.get("label")
        return {
            "section": fields["section"],
            "domain": fields.get("domain"),
            "split": fields.get("split"),
            "label": {"normal": 0, "anomaly": 1, None: UNKNOWN_LABEL}[label],
            "index": int(fields["index"]),
            "attributes": fields.get("attributes") or "",
        }
    return None


def parse_supplemental_filename(name):
    """Parse the name of a DCASE 2025 supplemental clip (``<machine>/supplemental/``).

    The organisers' baseline README lists them as
    ``section_00_machine_0001_.wav`` ... ``section_00_machine_0100_.wav``:
    the section, a word saying what the clip holds, the clip's index and an
    (empty) attribute part.

    Parameters
    ----------
    name : str or path-like
        A file name or path; folders and the extension are ignored.

    Returns
    -------
    metadata : dict or None
        Keys ``section`` (str, as written), ``word`` (the word after the
        section, as written, e.g. ``"machine"``), ``index`` (int) and
        ``attributes`` (the rest, ``""`` if none). None if the name does
        not have that form.

    Examples
    --------
    >>> parse_supplemental_filename("section_00_machine_0100_.wav")
    {'section': '00', 'word': 'machine', 'index': 100, 'attributes': ''}
    >>> parse_supplemental_filename("section_00_source_train_normal_0001_.wav") is None
    True
    """
    match = _SUPPLEMENTAL_PATTERN.match(_stem(name))
    if match is None:
        return None
    return {
        "section": match["section"],
        "word": match["word"],
        "index": int(match["index"]),
        "attributes": match["attributes"] or "",
    }


def format_dcase_filename(section, domain, split, label, index, attributes="", suffix=".wav"):
    """Build the 2022-2025 style file name; the inverse of :func:`parse_dcase_filename`.

    Clips with an unknown label (-1) get the evaluation-set name
    (``section_00_0001``, or with the domain when it is known).

    Examples
    --------
    >>> format_dcase_filename("00", "source", "train", 0, 1, "pat_00")
    'section_00_source_train_normal_0001_pat_00.wav'
    >>> format_dcase_filename("00", None, "test", -1, 7)
    'section_00_0007.wav'
    """
    parts = [f"section_{section}"]
    if domain is not None:
        parts += [domain, split]
        if label != UNKNOWN_LABEL:
            parts.append("anomaly" if label == 1 else "normal")
    parts.append(f"{int(index):04d}")
    if attributes and domain is not None:
        parts.append(attributes)
    return "_".join(parts) + suffix
