"""The published ground truth of DCASE evaluation sets: the organisers' evaluation data lists.

An evaluation set's test clips are named without their label (2022-2025
``section_00_0005.wav``; 2021 ``section_03_source_test_0005.wav``). After the
challenge the organisers published, per year, a list that maps each to the
development-style name it had (``section_00_source_test_anomaly_0005_vel_15.wav``),
which holds its domain, label and attributes. The list is a text file: a
line with a machine type alone starts that machine type's block; each
further line is ``<evaluation name>,<development-style name>``.
"""

import csv
from pathlib import Path

from ._names import parse_dcase_filename

__all__ = ["attach_ground_truth", "read_ground_truth"]


def read_ground_truth(path):
    """Read an evaluation data list into ``{(machine, evaluation file name): metadata}``.

    Parameters
    ----------
    path : str or path-like
        The list, in the organisers' format (see the module notes). It is
        read as text only: nothing in it is run.

    Returns
    -------
    truth : dict
        ``{(machine, name): parsed}`` with ``parsed`` as
        :func:`~skasd.datasets.parse_dcase_filename` returns it for the
        development-style name (``section``, ``domain``, ``label``,
        ``attributes``, ...).

    Raises
    ------
    ValueError
        Naming the file and line: a line before any machine type, a line of
        more than two fields, a development-style name that does not parse
        or has no label, or a file listed twice.
    """
    path = Path(path)
    truth = {}
    machine = None
    with open(path, newline="", encoding="utf-8-sig") as lines:
        for number, row in enumerate(csv.reader(lines), start=1):
            fields = [field.strip() for field in row]
            if not any(fields):
                continue
            where = f"ground truth {str(path)!r}, line {number}"
            if len(fields) == 1:
                machine = fields[0]
                continue
            if len(fields) != 2:
                raise ValueError(f"{where}: expected '<evaluation name>,<development-style name>', got {len(fields)} fields.")
            if machine is None:
                raise ValueError(f"{where}: a file before the first machine type line.")
            parsed = parse_dcase_filename(fields[1])
            if parsed is None or parsed["label"] not in (0, 1) or parsed["domain"] is None:
                raise ValueError(
                    f"{where}: {fields[1]!r} is no development-style DCASE name with a domain and a label "
                    "(section_<ss>_<source|target>_test_<normal|anomaly>_<index>...)."
                )
            key = (machine, Path(fields[0]).name)
            if key in truth:
                raise ValueError(f"{where}: {fields[0]!r} of {machine!r} is listed twice.")
            truth[key] = parsed
    if not truth:
        raise ValueError(f"ground truth {str(path)!r} lists no file.")
    return truth


def attach_ground_truth(records, truth, path):
    """Give the test clips that the list names their domain, label and attributes (in place).

    A clip keeps its own section and index: the list must agree on the
    section. Test clips of a machine type the list covers but that it does
    not name are an error (a list of another year, or of other files); the
    machine types it does not cover are left as they are.

    Returns
    -------
    n_attached : int
    """
    covered = {machine for machine, _ in truth}
    attached, missing = 0, []
    for record in records:
        if record["split"] != "test" or record["machine"] not in covered:
            continue
        parsed = truth.get((record["machine"], Path(record["path"]).name))
        if parsed is None:
            missing.append(record["path"])
            continue
        if parsed["section"] != record["section"]:
            raise ValueError(
                f"ground truth {str(path)!r} gives {Path(record['path']).name!r} of {record['machine']!r} "
                f"section {parsed['section']!r}, but its name says section {record['section']!r}."
            )
        record.update(domain=parsed["domain"], label=parsed["label"], attributes=parsed["attributes"])
        attached += 1
    if missing:
        raise ValueError(
            f"ground truth {str(path)!r} does not list {len(missing)} test clip(s) of the machine types it "
            f"covers, e.g. {missing[0]!r}: is it the list of this data set's year?"
        )
    return attached
