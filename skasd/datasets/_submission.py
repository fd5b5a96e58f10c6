"""The DCASE Task 2 submission files."""

from pathlib import Path

import numpy as np

from ._dcase import format_dcase_filename


def write_dcase_submission(out_dir, frame, anomaly_score, decision=None, *, threshold=None):
    """Write the challenge's CSV files for one system.

    For each machine type and section of ``frame``, two files without a
    header: ``anomaly_score_<machine>_section_<section>_test.csv`` (file
    name, anomaly score) and ``decision_result_<machine>_section_<section>_test.csv``
    (file name, 1 anomalous / 0 normal), as the challenge's evaluator reads
    them, rows in file-name order (the order in which the evaluator lists
    the files).

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write into; created if needed.
    frame : pandas.DataFrame
        Metadata of the scored clips, as in ``load_dcase(...).frame``: the
        ``machine`` and ``section`` columns group the files; file names are
        taken from ``path`` or, for generated clips without one, built from
        the metadata.
    anomaly_score : array-like of shape (n_clips,)
        Higher is more anomalous (``estimator.anomaly_score(X)``).
    decision : array-like of shape (n_clips,), default=None
        1 (or True) for clips decided anomalous. With an estimator,
        ``estimator.predict(X) == -1``.
    threshold : float, default=None
        Used when ``decision`` is None: a clip is anomalous when its
        anomaly score is above ``threshold``.

    Returns
    -------
    paths : list of pathlib.Path
        The files written, anomaly-score and decision file per group.

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
        decision = anomaly_score > threshold
    decision = np.asarray(decision).ravel()
    if len(decision) != len(frame):
        raise ValueError(f"decision has {len(decision)} values but frame has {len(frame)} rows.")
    if not np.isin(decision, (0, 1)).all():
        raise ValueError("decision must hold 0/1 or booleans (1: anomalous).")

    names = [_clip_name(row) for row in frame.to_dict("records")]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    machines = frame["machine"].to_numpy()
    sections = frame["section"].to_numpy()
    for machine, section in dict.fromkeys(zip(machines, sections)):
        rows = np.flatnonzero((machines == machine) & (sections == section))
        rows = rows[np.argsort([names[i] for i in rows], kind="stable")]
        stem = f"{machine}_section_{section}_test.csv"
        score_file = out_dir / f"anomaly_score_{stem}"
        decision_file = out_dir / f"decision_result_{stem}"
        score_file.write_text("".join(f"{names[i]},{float(anomaly_score[i])!r}\n" for i in rows))
        decision_file.write_text("".join(f"{names[i]},{int(decision[i])}\n" for i in rows))
        written += [score_file, decision_file]
    return written


def _clip_name(row):
    path = row.get("path")
    if isinstance(path, str) and path:
        return Path(path).name
    return format_dcase_filename(
        row["section"], row.get("domain"), row.get("split", "test"), row.get("label", -1),
        row["index"], row.get("attributes", ""),
    )
