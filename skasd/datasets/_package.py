"""The DCASE Task 2 submission package: its layout written from runs' submission files, and its checker.

The layout (DCASE 2022-2025, the zip's content)::

    task2/
        <Lastname>_<Institute>_task2.technical_report.pdf      (the author adds it)
        <Lastname>_<Institute>_task2_<n>/                       n = 1 to 4, one folder per system
            <Lastname>_<Institute>_task2_<n>.meta.yaml
            anomaly_score_<machine>_section_<ss>_test.csv
            decision_result_<machine>_section_<ss>_test.csv
            ...

docs/cli.md ("skasd package") says where each rule comes from.
"""

import csv
import json
import math
import re
import shutil
from pathlib import Path

from ._names import AUDIO_SUFFIXES, parse_dcase_filename

#: The challenge years whose package layout :func:`write_submission_package` writes.
PACKAGE_YEARS = (2022, 2023, 2024, 2025)
#: The most systems one task accepts from one team.
MAX_SYSTEMS = 4
#: The mark of a meta field only the author can fill in.
TODO = "TODO: fill in"

_LABEL = re.compile(r"[A-Za-z0-9-]+_[A-Za-z0-9-]+_task2")
_SYSTEM = re.compile(r"(?P<label>[A-Za-z0-9-]+_[A-Za-z0-9-]+_task2)_(?P<index>[1-9][0-9]*)")
_OUTPUT = re.compile(r"(?P<kind>anomaly_score|decision_result)_(?P<machine>.+)_section_(?P<section>[^_]+)_test\.csv")

#: The meta fields the checker requires, as dotted paths; ``authors`` is checked per author.
REQUIRED_FIELDS = (
    "submission.label", "submission.name", "submission.abbreviation", "submission.authors",
    "system.description.input_sampling_rate", "system.description.acoustic_features",
    "system.description.data_augmentation", "system.description.machine_learning_method",
    "system.description.ensemble_method_subsystem_count", "system.description.decision_making",
    "system.description.external_data_usage", "system.complexity.total_parameters", "system.source_code",
    "results.development_dataset",
)
AUTHOR_FIELDS = ("lastname", "firstname", "email", "affiliation")
#: The most characters of ``submission.abbreviation`` (the template's rule).
MAX_ABBREVIATION = 10


def check_label(label):
    """``label`` if it is ``<Lastname>_<Institute>_task2``; a ValueError saying what is wrong otherwise."""
    label = str(label)
    if _SYSTEM.fullmatch(label):
        raise ValueError(
            f"label {label!r} ends in a system index; give the label without it ({label.rsplit('_', 1)[0]!r}): "
            "the systems are numbered _1 to _4 in the order given."
        )
    if not _LABEL.fullmatch(label):
        raise ValueError(
            f"label {label!r} is not <Lastname>_<Institute>_task2 (letters, digits and hyphens in each part), "
            "e.g. Smith_ACME_task2."
        )
    return label


def development_results(table):
    """Per machine type, the harmonic means over its sections of ``auc_source``, ``auc_target`` and ``pauc``.

    ``table`` is a score table as ``skasd evaluate`` writes ``scores.csv``
    (columns ``machine``, ``section``, ``auc_source``, ``auc_target``,
    ``pauc``); values are fractions (0 to 1), as the official evaluator
    prints them.
    """
    results = {}
    for machine in dict.fromkeys(table["machine"]):
        rows = table[table["machine"] == machine]
        results[str(machine)] = {
            column: _harmonic_mean([float(v) for v in rows[column]]) for column in ("auc_source", "auc_target", "pauc")
        }
    return results


def _harmonic_mean(values):
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return float("nan")
    if min(values) <= 0:
        return 0.0
    return len(values) / sum(1 / v for v in values)


def write_submission_package(out_dir, label, systems, *, year=2025, overwrite=False):
    """Write the Task 2 submission layout for up to four systems.

    Parameters
    ----------
    out_dir : str or path-like
        The package folder; ``task2/`` is written inside it.
    label : str
        ``<Lastname>_<Institute>_task2``; system ``n`` (from 1) is
        ``<label>_<n>``.
    systems : list of dict
        One per system, in order: ``submission`` (the folder of
        ``anomaly_score_*`` and ``decision_result_*`` files a run wrote),
        and optionally ``known`` (meta fields the run knows: ``name``,
        ``abbreviation``, ``input_sampling_rate``, ``acoustic_features``,
        ``machine_learning_method``, ``ensemble_method_subsystem_count``,
        ``results`` as :func:`development_results` gives them) and
        ``source`` (a line saying where the outputs come from, written as
        a comment).
    year : int, default=2025
        The challenge year whose layout is written, 2022-2025 (the same
        file names each year).
    overwrite : bool, default=False
        Replace the systems' folders if they exist; otherwise an existing
        one is an error.

    Returns
    -------
    folders : list of pathlib.Path
        The systems' folders.
    """
    label = check_label(label)
    if year not in PACKAGE_YEARS:
        raise ValueError(f"year must be one of {list(PACKAGE_YEARS)}; got {year!r}.")
    if not 1 <= len(systems) <= MAX_SYSTEMS:
        raise ValueError(f"a package holds 1 to {MAX_SYSTEMS} systems; got {len(systems)}.")
    task = Path(out_dir) / "task2"
    folders = [task / f"{label}_{n}" for n in range(1, len(systems) + 1)]
    outputs = [_output_files(system["submission"]) for system in systems]
    existing = [str(folder) for folder in folders if folder.exists()]
    if existing and not overwrite:
        raise ValueError(
            f"{existing[0]} exists: the package is not overwritten unless asked (--overwrite), or choose another --out."
        )
    for folder, files, system in zip(folders, outputs, systems):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for path in files:
            shutil.copyfile(path, folder / path.name)
        (folder / f"{folder.name}.meta.yaml").write_text(
            meta_yaml(folder.name, system.get("known", {}), year=year, source=system.get("source"))
        )
    return folders


def _output_files(folder):
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submission folder {str(folder)!r} does not exist (a run of skasd evaluate writes <out>/submission/).")
    files = sorted(p for p in folder.iterdir() if p.is_file() and _OUTPUT.fullmatch(p.name))
    if not files:
        raise ValueError(
            f"{str(folder)!r} holds no anomaly_score_<machine>_section_<ss>_test.csv files: it is not the submission "
            "folder of a 2022-2025 run (skasd evaluate --definition 2022 or later)."
        )
    return files


def _quoted(value):
    """A YAML scalar: null, a number, or a double-quoted string (JSON's quoting is YAML's)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "null" if isinstance(value, float) and math.isnan(value) else repr(value)
    return json.dumps(str(value))


def meta_yaml(system_label, known, *, year=2025, source=None):
    """The text of ``<system_label>.meta.yaml``: the template's fields, ``known`` filled in, the rest marked TODO."""
    lastname, institute = system_label.split("_")[:2]

    def field(key, hint):
        value = known.get(key)
        return _quoted(value) if value is not None or key in known else _quoted(f"{TODO} ({hint})")

    lines = [
        f"# DCASE {year} Task 2 system meta information, written by skasd package.",
        *([f"# Outputs: {source}"] if source else []),
        f'# Fields marked "{TODO}" are for the author; check every field against the DCASE {year} Task 2 template.',
        "submission:",
        "  # [Lastname of the corresponding author]_[Institute abbreviation]_task2_[system index 1-4]",
        f"  label: {_quoted(system_label)}",
        "  # The system's name in the results tables.",
        f"  name: {field('name', 'the system name in the results tables')}",
        f"  # At most {MAX_ABBREVIATION} characters, for tight tables.",
        f"  abbreviation: {field('abbreviation', f'at most {MAX_ABBREVIATION} characters')}",
        "  authors:",
        f"    - lastname: {_quoted(lastname)}",
        f"      firstname: {_quoted(TODO)}",
        f"      email: {_quoted(TODO)}",
        "      corresponding: true",
        "      affiliation:",
        f"        abbreviation: {_quoted(institute)}",
        f"        institute: {_quoted(TODO)}",
        f"        department: {_quoted(TODO)}",
        f"        location: {_quoted(TODO + ' (city, country)')}",
        "system:",
        "  description:",
        f"    input_sampling_rate: {field('input_sampling_rate', 'e.g. 16kHz')}",
        f"    acoustic_features: {field('acoustic_features', 'e.g. log-mel energies')}",
        "    # null where none.",
        f"    data_augmentation: {field('data_augmentation', 'e.g. mixup, or null')}",
        f"    machine_learning_method: {field('machine_learning_method', 'e.g. autoencoder, k-NN')}",
        f"    ensemble_method_subsystem_count: {field('ensemble_method_subsystem_count', 'a number, or null')}",
        f"    decision_making: {field('decision_making', 'how the decision threshold is set')}",
        f"    external_data_usage: {field('external_data_usage', 'e.g. pre-trained model, or null')}",
        "  complexity:",
        f"    total_parameters: {field('total_parameters', 'an integer')}",
        "  # A URL of the code, or null.",
        f"  source_code: {field('source_code', 'a URL, or null')}",
        "results:",
        "  # Development-set results per machine type: harmonic means over its sections, fractions (0 to 1)",
        "  # as the official evaluator prints them; convert if the year's template asks for percentages.",
        "  development_dataset:",
    ]
    results = known.get("results")
    if results:
        for machine, values in results.items():
            lines.append(f"    {_quoted(machine)}:")
            lines += [f"      {key}: {_quoted(round(value, 4) if isinstance(value, float) else value)}"
                      for key, value in values.items()]
    else:
        lines[-1] += " " + _quoted(f"{TODO} (per machine type: auc_source, auc_target, pauc; skasd package --dev "
                                   "fills them from a development-set run)")
    return "\n".join(lines) + "\n"


def check_submission_package(path, *, data=None):
    """Check a Task 2 submission package; returns ``(problems, todos)``, each a list of one-line strings.

    ``problems`` make the package wrong: system folder names and count
    (``<Lastname>_<Institute>_task2_<1-4>``, at most four, one label),
    output file names (two-digit sections, an anomaly-score and a
    decision file for each machine type and section), each file's rows
    (no header, ``name,value``, unique names, finite scores, decisions 0
    or 1), the meta files (YAML that ``yaml.safe_load`` reads, the
    :data:`REQUIRED_FIELDS`, the label equal to the folder's name) and,
    with ``data`` (an evaluation set in the DCASE layout), each file's
    rows against the test clips of its machine type and section.
    ``todos`` is what the author has still to do: meta fields still
    marked TODO, the technical report.
    """
    root = Path(path)
    task = root if root.name == "task2" and not (root / "task2").is_dir() else root / "task2"
    if not task.is_dir():
        return [f"{root}: no task2/ folder (a package holds task2/<Lastname>_<Institute>_task2_<n>/)"], []
    problems, todos = [], []
    shown = task.parent

    def where(p):
        return p.relative_to(shown).as_posix()

    folders = sorted(p for p in task.iterdir() if p.is_dir())
    labels = set()
    for folder in folders:
        match = _SYSTEM.fullmatch(folder.name)
        if not match or not 1 <= int(match["index"]) <= MAX_SYSTEMS:
            problems.append(f"{where(folder)}: folder name is not <Lastname>_<Institute>_task2_<1-{MAX_SYSTEMS}>")
        else:
            labels.add(match["label"])
    if not folders:
        problems.append(f"{where(task)}: no system folders")
    if len(folders) > MAX_SYSTEMS:
        problems.append(f"{where(task)}: {len(folders)} systems; the task accepts at most {MAX_SYSTEMS}")
    if len(labels) > 1:
        problems.append(f"{where(task)}: the system folders have different labels: {', '.join(sorted(labels))}")
    for label in sorted(labels):
        report = task / f"{label}.technical_report.pdf"
        if not report.is_file():
            todos.append(f"{where(report)}: add the technical report")
    for item in sorted(p for p in task.iterdir() if p.is_file()):
        if not (item.name.endswith(".technical_report.pdf") and item.name[: -len(".technical_report.pdf")] in labels):
            problems.append(f"{where(item)}: unexpected file (task2/ holds the system folders and the technical report)")
    clips = _test_clips(Path(data)) if data is not None else None
    for folder in folders:
        problems += _check_outputs(folder, where, clips, data)
        meta_problems, meta_todos = _check_meta(folder, where)
        problems += meta_problems
        todos += meta_todos
    return problems, todos


def _test_clips(data):
    """{(machine, section): set of file names} of the test clips of an evaluation set."""
    if not data.is_dir():
        raise ValueError(f"data folder {str(data)!r} does not exist or is not a folder.")
    clips = {}
    for machine in sorted(p for p in data.iterdir() if (p / "test").is_dir()):
        for clip in (machine / "test").iterdir():
            meta = parse_dcase_filename(clip.name) if clip.suffix.lower() in AUDIO_SUFFIXES else None
            if meta is not None:
                clips.setdefault((machine.name, f"{int(meta['section']):02d}"), set()).add(clip.name)
    if not clips:
        raise ValueError(f"data folder {str(data)!r} has no <machine>/test/ clips with DCASE names.")
    return clips


def _check_outputs(folder, where, clips, data):
    problems = []
    groups = {}
    for item in sorted(folder.iterdir()):
        if item.name == f"{folder.name}.meta.yaml":
            continue
        match = _OUTPUT.fullmatch(item.name) if item.is_file() else None
        if match is None:
            problems.append(f"{where(item)}: unexpected file (a system folder holds its meta file and "
                            "anomaly_score_/decision_result_<machine>_section_<ss>_test.csv files)")
            continue
        if not re.fullmatch(r"[0-9]{2}", match["section"]):
            problems.append(f"{where(item)}: section {match['section']!r} is not two digits (section_00)")
            continue
        groups.setdefault((match["machine"], match["section"]), {})[match["kind"]] = item
    if not groups and not problems:
        problems.append(f"{where(folder)}: no anomaly_score_<machine>_section_<ss>_test.csv files")
    for (machine, section), files in sorted(groups.items()):
        for kind, other in (("anomaly_score", "decision_result"), ("decision_result", "anomaly_score")):
            if kind not in files:
                problems.append(f"{where(folder)}: {kind}_{machine}_section_{section}_test.csv is missing "
                                f"(there is {other}_{machine}_section_{section}_test.csv)")
        names = {}
        for kind, path in files.items():
            file_problems, names[kind] = _check_rows(path, kind, where)
            problems += file_problems
            if clips is not None and names[kind] is not None:
                problems += _against_data(path, names[kind], clips.get((machine, section)), machine, section, where,
                                          data)
        if len(names) == 2 and None not in names.values() and set(names["anomaly_score"]) != set(
                names["decision_result"]):
            problems.append(f"{where(folder)}: anomaly_score_ and decision_result_{machine}_section_{section}_test.csv "
                            "list different files")
    if clips is not None:
        for machine, section in sorted(set(clips) - set(groups)):
            problems.append(f"{where(folder)}: anomaly_score_{machine}_section_{section}_test.csv is missing "
                            f"({data} has {len(clips[(machine, section)])} test clips of {machine} section {section})")
    return problems


def _check_rows(path, kind, where):
    """Problems of one output file's rows, and its file names (None when it cannot be read)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{where(path)}: cannot be read ({exc})"], None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return [f"{where(path)}: no rows"], None
    problems, names, seen = [], [], set()
    for number, row in enumerate(rows, start=1):
        if len(row) != 2:
            problems.append(f"{where(path)}: line {number}: {len(row)} fields, expected 2 (file name,value)")
            continue
        name, value = row[0].strip(), row[1].strip()
        if kind == "anomaly_score":
            try:
                number_value = float(value)
            except ValueError:
                said = " (no header: rows only)" if number == 1 else ""
                problems.append(f"{where(path)}: line {number}: score {value!r} is not a number{said}")
                continue
            if not math.isfinite(number_value):
                problems.append(f"{where(path)}: line {number}: score {value!r} is not a finite number")
        elif value not in ("0", "1"):
            said = " (no header: rows only)" if number == 1 and not value.lstrip("-").isdigit() else ""
            problems.append(f"{where(path)}: line {number}: decision {value!r} is not 0 or 1{said}")
        if name in seen:
            problems.append(f"{where(path)}: line {number}: {name!r} appears twice")
        seen.add(name)
        names.append(name)
    return problems, names


def _against_data(path, names, expected, machine, section, where, data):
    if expected is None:
        return [f"{where(path)}: {data} has no test clips of {machine} section {section}"]
    problems = []
    if len(names) != len(expected):
        problems.append(f"{where(path)}: {len(names)} rows, but {data} has {len(expected)} test clips of {machine} "
                        f"section {section}")
    unknown = [name for name in names if name not in expected]
    if unknown:
        problems.append(f"{where(path)}: {len(unknown)} file name(s) not among the test clips of {machine} section "
                        f"{section} in {data}, e.g. {unknown[0]!r}")
    return problems


def _check_meta(folder, where):
    path = folder / f"{folder.name}.meta.yaml"
    if not path.is_file():
        return [f"{where(folder)}: {path.name} is missing"], []
    try:
        import yaml
    except ImportError:
        return [f"{where(path)}: checking meta files needs PyYAML (pip install pyyaml)"], []
    try:
        meta = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        return [f"{where(path)}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}"], []
    if not isinstance(meta, dict):
        return [f"{where(path)}: not a YAML mapping of submission, system and results"], []
    problems = []
    for dotted in REQUIRED_FIELDS:
        found, _ = _lookup(meta, dotted)
        if not found:
            problems.append(f"{where(path)}: missing field {dotted}")
    found, label = _lookup(meta, "submission.label")
    if found and label != folder.name:
        problems.append(f"{where(path)}: submission.label {label!r} differs from the folder name {folder.name!r}")
    found, abbreviation = _lookup(meta, "submission.abbreviation")
    if found and isinstance(abbreviation, str) and not abbreviation.startswith("TODO") and len(
            abbreviation) > MAX_ABBREVIATION:
        problems.append(f"{where(path)}: submission.abbreviation {abbreviation!r} is longer than {MAX_ABBREVIATION} "
                        "characters")
    found, authors = _lookup(meta, "submission.authors")
    if found:
        if not isinstance(authors, list) or not authors:
            problems.append(f"{where(path)}: submission.authors is not a list of authors")
        else:
            for i, author in enumerate(authors):
                for key in AUTHOR_FIELDS:
                    if not isinstance(author, dict) or key not in author:
                        problems.append(f"{where(path)}: missing field submission.authors[{i}].{key}")
    marked = _todo_fields(meta)
    todos = [f"{where(path)}: {len(marked)} field(s) to fill in: {', '.join(marked)}"] if marked else []
    return problems, todos


def _lookup(meta, dotted):
    value = meta
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def _todo_fields(value, prefix=""):
    """The dotted paths of the fields whose value is a string starting with TODO."""
    if isinstance(value, dict):
        return [f for key, item in value.items() for f in _todo_fields(item, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(value, list):
        return [f for i, item in enumerate(value) for f in _todo_fields(item, f"{prefix}[{i}]")]
    return [prefix] if isinstance(value, str) and value.startswith("TODO") else []
