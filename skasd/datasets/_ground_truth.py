"""The published ground truth of DCASE evaluation sets: the organisers' evaluation data lists.

An evaluation set's test clips are named without their label (2022-2025
``section_00_0005.wav``; 2021 ``section_03_source_test_0005.wav``; 2020
``id_01_00000005.wav``). After the challenge the organisers published, per
year, a list that maps each to the development-style name it had
(``section_00_source_test_anomaly_0005_vel_15.wav``), which holds its
domain, label and attributes. The list is a text file: a line with a
machine type alone starts that machine type's block; each further line is
``<evaluation name>,<development-style name>``. Two lists depart from that:

- 2020: ``id_01_00000000.wav,normal_id_01_00000098.wav,0``, the 2020 names
  (no domain) and a third field, the label (0 normal, 1 anomalous), which
  must agree with the name;
- 2024: RoboticArm's names lack ``_test_``
  (``section_00_source_normal_0035_weight15_BckgF.wav``); they are read as
  if they had it.

The organisers' renaming tool takes the same two first fields of each line
(the evaluation name and the name it gets) and the later scoring reads the
label and domain from the new name: so does skasd.
"""

import csv
import re
from pathlib import Path

from ._names import parse_dcase_filename

__all__ = ["attach_ground_truth", "read_ground_truth"]


# 2024 RoboticArm: section_00_source_normal_0035_... (no "_test" after the domain).
_WITHOUT_SPLIT = re.compile(r"^(section_\d+_(?:source|target))_(?=(?:normal|anomaly)_\d)")


def _parse_listed_name(name):
    """Parse a development-style name of a list, reading a name without ``_test_`` as a test clip's."""
    return parse_dcase_filename(_WITHOUT_SPLIT.sub(r"\1_test_", Path(name).name, count=1))


def read_ground_truth(path):
    """Read an evaluation data list into ``{(machine, evaluation file name): metadata}``.

    Reads the lists of every year, 2020-2025 (see the module notes for the
    2020 and 2024 departures from the common format).

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
        ``attributes``, ...). ``domain`` is None for the 2020 list, whose
        names have none.

    Raises
    ------
    ValueError
        Naming the file and line: a line before any machine type, a line of
        more than three fields, a development-style name that does not
        parse or has no label, a third field other than the name's label, a
        list that mixes names with and without a domain, or a file listed
        twice.
    """
    path = Path(path)
    truth = {}
    machine = None
    with_domain = None
    with open(path, newline="", encoding="utf-8-sig") as lines:
        for number, row in enumerate(csv.reader(lines), start=1):
            fields = [field.strip() for field in row]
            if not any(fields):
                continue
            where = f"ground truth {str(path)!r}, line {number}"
            if len(fields) == 1:
                machine = fields[0]
                continue
            if len(fields) > 3:
                raise ValueError(
                    f"{where}: expected '<evaluation name>,<development-style name>' (2020: "
                    f"'<evaluation name>,<development-style name>,<label>'), got {len(fields)} fields."
                )
            if machine is None:
                raise ValueError(f"{where}: a file before the first machine type line.")
            parsed = _parse_listed_name(fields[1])
            if parsed is None or parsed["label"] not in (0, 1):
                raise ValueError(
                    f"{where}: {fields[1]!r} is no development-style DCASE name with a label "
                    "(section_<ss>_<source|target>_test_<normal|anomaly>_<index>..., or 2020's "
                    "<normal|anomaly>_id_<ss>_<index>)."
                )
            if len(fields) == 3 and fields[2] != str(parsed["label"]):
                raise ValueError(
                    f"{where}: the third field {fields[2]!r} is not the label of {fields[1]!r} "
                    f"({parsed['label']}: 0 normal, 1 anomalous)."
                )
            if with_domain is None:
                with_domain = parsed["domain"] is not None
            elif with_domain != (parsed["domain"] is not None):
                raise ValueError(
                    f"{where}: {fields[1]!r} {'has no' if with_domain else 'has a'} domain, unlike the "
                    "names before it: a list holds the names of one year."
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
    section, and on the domain where the clip's name has one (2021). Test clips of a machine type the list covers but that it does
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
        if record["domain"] is not None and parsed["domain"] != record["domain"]:
            raise ValueError(
                f"ground truth {str(path)!r} gives {Path(record['path']).name!r} of {record['machine']!r} "
                f"domain {parsed['domain']!r}, but its name says domain {record['domain']!r}."
            )
        record.update(domain=parsed["domain"], label=parsed["label"], attributes=parsed["attributes"])
        attached += 1
    if missing:
        raise ValueError(
            f"ground truth {str(path)!r} does not list {len(missing)} test clip(s) of the machine types it "
            f"covers, e.g. {missing[0]!r}: is it the list of this data set's year?"
        )
    return attached
