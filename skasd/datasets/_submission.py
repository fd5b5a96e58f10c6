"""The DCASE Task 2 submission files."""

from pathlib import Path

import numpy as np

from ..utils._files import write_text_atomically
from ._names import format_dcase_filename

#: The years whose submission layout :func:`write_dcase_submission` writes.
YEARS = (2020, 2021, 2022, 2023, 2024, 2025)

# Characters a name cannot hold in a file the evaluators read with csv.reader
# without quoting, which would make the written name differ from the clip's.
_NEEDS_QUOTING = (",", '"', "\n", "\r")


def write_dcase_submission(out_dir, frame, anomaly_score, decision=None, *, threshold=None, year=2023):
    """Write the challenge's CSV files for one system, in the layout of ``year``.

    Files without a header, rows ``file name,value`` in file-name order
    (the order in which the evaluators sort them), named as each year's
    official evaluator reads them:

    - 2022-2025: per machine type and section,
      ``anomaly_score_<machine>_section_<ss>_test.csv`` and
      ``decision_result_<machine>_section_<ss>_test.csv``;
    - 2021: per machine type, section and domain,
      ``anomaly_score_<machine>_section_<ss>_<source|target>_test.csv`` and
      ``decision_result_..._<source|target>_test.csv``; every clip needs
      its ``domain``;
    - 2020: per machine type and machine ID (``section``),
      ``anomaly_score_<machine>_id_<ss>.csv`` only: 2020 had no decisions.

    ``<ss>`` is the section (or machine ID) zero-padded to two digits, as
    the evaluators' ``section_[0-9][0-9]`` and ``id_[0-9][0-9]`` patterns
    read it.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write into; created if needed.
    frame : pandas.DataFrame
        Metadata of the scored clips, as in ``load_dcase(...).frame``: the
        ``machine`` and ``section`` columns (and for 2021 ``domain``) group
        the files; file names are taken from ``path`` or, for generated
        clips without one, built from the metadata.
    anomaly_score : array-like of shape (n_clips,)
        Higher is more anomalous (``estimator.anomaly_score(X)``).
    decision : array-like of shape (n_clips,), default=None
        1 (or True) for clips decided anomalous. With an estimator,
        ``estimator.predict(X) == -1``.
    threshold : float, default=None
        Used when ``decision`` is None: a clip is anomalous when its
        anomaly score is above ``threshold``; it must be finite.
    year : int, default=2023
        The challenge year whose layout is written, 2020-2025.

    Returns
    -------
    paths : list of pathlib.Path
        The files written, anomaly-score file then decision file per group.

    Raises
    ------
    ValueError
        For scores, decisions or a threshold that are not finite or not
        one per clip, an unknown year, a file name that would need quoting
        (a comma, a quote or a line break), the same file name twice in one
        file, a section that is not a number, and for 2021 a clip whose
        domain is neither source nor target.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> frame = pd.DataFrame({"path": ["a/section_00_0000.wav", "a/section_00_0001.wav"],
    ...                       "machine": ["fan", "fan"], "section": ["00", "00"]})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     paths = write_dcase_submission(folder, frame, [0.2, 1.5], threshold=1.0)
    ...     print([p.name for p in paths])
    ...     print(paths[1].read_text())
    ['anomaly_score_fan_section_00_test.csv', 'decision_result_fan_section_00_test.csv']
    section_00_0000.wav,0
    section_00_0001.wav,1
    <BLANKLINE>
    """
    if year not in YEARS:
        raise ValueError(f"year must be one of {list(YEARS)}; got {year!r}.")
    anomaly_score = np.asarray(anomaly_score, dtype=np.float64).ravel()
    if len(anomaly_score) != len(frame):
        raise ValueError(
            f"anomaly_score has {len(anomaly_score)} values but frame has {len(frame)} rows."
        )
    if not np.all(np.isfinite(anomaly_score)):
        raise ValueError("anomaly_score contains NaN or infinite values.")
    if decision is None:
        if threshold is None:
            raise ValueError("Pass decision= (1 for anomalous clips) or threshold= to derive it.")
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number; got {threshold!r}.")
        decision = anomaly_score > threshold
    decision = np.asarray(decision).ravel()
    if len(decision) != len(frame):
        raise ValueError(f"decision has {len(decision)} values but frame has {len(frame)} rows.")
    if not np.isin(decision, (0, 1)).all():
        raise ValueError("decision must hold 0/1 or booleans (1: anomalous).")

    names = [_clip_name(row) for row in frame.to_dict("records")]
    for name in names:
        if any(character in name for character in _NEEDS_QUOTING):
            raise ValueError(
                f"File name {name!r} holds a comma, a quote or a line break: the evaluators' CSV reader "
                "would not read it back as written. Rename the file."
            )
    stems = [_stem(row, year) for row in frame.to_dict("records")]
    out_dir = Path(out_dir)
    groups = {}
    for position, stem in enumerate(stems):
        groups.setdefault(stem, []).append(position)
    for stem, rows in groups.items():
        seen = set()
        for i in rows:
            if names[i] in seen:
                raise ValueError(f"File name {names[i]!r} appears twice among the clips of {stem}.")
            seen.add(names[i])
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, rows in groups.items():
        rows = sorted(rows, key=lambda i: names[i])
        score_file = out_dir / f"anomaly_score_{stem}.csv"
        write_text_atomically(score_file, "".join(f"{names[i]},{float(anomaly_score[i])!r}\n" for i in rows))
        written.append(score_file)
        if year != 2020:
            decision_file = out_dir / f"decision_result_{stem}.csv"
            write_text_atomically(decision_file, "".join(f"{names[i]},{int(decision[i])}\n" for i in rows))
            written.append(decision_file)
    return written


def _two_digits(row):
    section = str(row["section"])
    if not section.isdigit():
        raise ValueError(f"section {row['section']!r} is not a number; the evaluators read two digits.")
    return f"{int(section):02d}"


def _stem(row, year):
    """The part of a clip's submission file names between the prefix and ``.csv``."""
    machine, section = row["machine"], _two_digits(row)
    if year == 2020:
        return f"{machine}_id_{section}"
    if year == 2021:
        domain = row.get("domain")
        if domain not in ("source", "target"):
            said = "no domain" if domain is None or domain != domain else f"domain {domain!r}"  # None or NaN
            raise ValueError(
                f"The 2021 submission has one file per domain, but the clip {_clip_name(row)!r} of {machine} "
                f"section {section} has {said}; it must be 'source' or 'target'."
            )
        return f"{machine}_section_{section}_{domain}_test"
    return f"{machine}_section_{section}_test"


def _clip_name(row):
    path = row.get("path")
    if isinstance(path, str) and path:
        return Path(path).name
    return format_dcase_filename(
        row["section"], row.get("domain"), row.get("split", "test"), row.get("label", -1),
        row["index"], row.get("attributes", ""),
    )
