"""write_dcase_submission in each year's layout, read back the way that year's official evaluator reads it.

The readers below follow the organisers' evaluators (facts taken from
dcase2020_task2_evaluator/evaluator.py, dcase2021_task2_evaluator and
dcase2023_task2_evaluator): which file names they open, how they sort the
rows (``sorted`` over the rows of ``csv.reader``; by file name in 2020) and
which column they take.
"""

import csv
import glob
import re
from operator import itemgetter

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from skasd.datasets import write_dcase_submission
from skasd.datasets._names import format_dcase_filename


@pytest.fixture
def scored():
    """Two machine types, two sections, both domains, normal and anomalous test clips, shuffled."""
    rows = []
    for machine in ("fan", "valve"):
        for section in ("03", "04"):
            for domain in ("source", "target"):
                for label in (0, 1):
                    for index in range(3):
                        rows.append({"machine": machine, "section": section, "domain": domain, "label": label,
                                     "index": index + 10 * label, "split": "test", "attributes": ""})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame["path"] = [
        f"/data/{r.machine}/test/" + format_dcase_filename(r.section, r.domain, "test", r.label, r.index, "")
        for r in frame.itertuples()
    ]
    scores = np.random.default_rng(0).normal(size=len(frame)) + frame["label"].to_numpy()
    return frame, scores


def _name(path):
    return path.rsplit("/", 1)[1]


def _expected(frame, scores, rows):
    """(names, scores) of the clips at the mask ``rows``, in file-name order."""
    names = [_name(p) for p in frame["path"][rows]]
    order = np.argsort(names, kind="stable")
    return [names[i] for i in order], scores[rows][order]


def read_2020(folder, machine):
    """The 2020 evaluator: anomaly_score_<machine>_id* files, rows sorted by file name, id from the path."""
    found = {}
    for path in sorted(glob.glob(f"{folder}/anomaly_score_{machine}_id*")):
        with open(path) as fp:
            rows = sorted(list(csv.reader(fp)), key=itemgetter(0))
        machine_id = re.findall("id_[0-9][0-9]", path)[0]
        found[machine_id] = ([row[0] for row in rows], [float(row[1]) for row in rows])
    return found


def _read_sorted(path):
    """The 2021-2025 evaluators' read_score: the rows of csv.reader, sorted, the second column as floats."""
    with open(path) as fp:
        rows = sorted(list(csv.reader(fp)))
    return [row[0] for row in rows], [float(row[1]) for row in rows]


def read_2021(folder, machine, section, domain):
    """The 2021 evaluator: one file per section and domain."""
    return {kind: _read_sorted(f"{folder}/{kind}_{machine}_section_{section}_{domain}_test.csv")
            for kind in ("anomaly_score", "decision_result")}


def read_2022_to_2025(folder, machine, section):
    """The 2022-2025 evaluators: one file per section."""
    return {kind: _read_sorted(f"{folder}/{kind}_{machine}_section_{section}_test.csv")
            for kind in ("anomaly_score", "decision_result")}


def test_2020_one_score_file_per_machine_id_and_no_decisions(tmp_path, scored):
    frame, scores = scored
    paths = write_dcase_submission(tmp_path, frame, scores, threshold=0.5, year=2020)
    assert sorted(p.name for p in paths) == [f"anomaly_score_{m}_id_{s}.csv" for m in ("fan", "valve")
                                             for s in ("03", "04")]
    assert not list(tmp_path.glob("decision_result_*"))
    for machine in ("fan", "valve"):
        found = read_2020(tmp_path, machine)
        assert sorted(found) == ["id_03", "id_04"]
        for machine_id, (names, values) in found.items():
            rows = ((frame["machine"] == machine) & (frame["section"] == machine_id[3:])).to_numpy()
            expected_names, expected_scores = _expected(frame, scores, rows)
            assert names == expected_names
            np.testing.assert_array_equal(values, expected_scores)
            labels = [int("_anomaly_" in name) for name in names]
            assert roc_auc_score(labels, values) == roc_auc_score(frame["label"][rows], scores[rows])


def test_2021_one_file_per_section_and_domain(tmp_path, scored):
    frame, scores = scored
    paths = write_dcase_submission(tmp_path, frame, scores, threshold=0.5, year=2021)
    assert len(paths) == 2 * 2 * 2 * 2
    for machine in ("fan", "valve"):
        for section in ("03", "04"):
            for domain in ("source", "target"):
                read = read_2021(tmp_path, machine, section, domain)
                rows = ((frame["machine"] == machine) & (frame["section"] == section)
                        & (frame["domain"] == domain)).to_numpy()
                expected_names, expected_scores = _expected(frame, scores, rows)
                assert read["anomaly_score"][0] == expected_names == read["decision_result"][0]
                np.testing.assert_array_equal(read["anomaly_score"][1], expected_scores)
                np.testing.assert_array_equal(read["decision_result"][1], (expected_scores > 0.5).astype(float))


@pytest.mark.parametrize("year", [2022, 2023, 2024, 2025])
def test_2022_to_2025_one_file_per_section(tmp_path, scored, year):
    frame, scores = scored
    decision = scores > 0.3
    write_dcase_submission(tmp_path, frame, scores, decision, year=year)
    for machine in ("fan", "valve"):
        for section in ("03", "04"):
            read = read_2022_to_2025(tmp_path, machine, section)
            rows = ((frame["machine"] == machine) & (frame["section"] == section)).to_numpy()
            expected_names, expected_scores = _expected(frame, scores, rows)
            assert read["anomaly_score"][0] == expected_names == read["decision_result"][0]
            np.testing.assert_array_equal(read["anomaly_score"][1], expected_scores)
            np.testing.assert_array_equal(read["decision_result"][1], (expected_scores > 0.3).astype(float))


def test_integer_and_one_digit_sections_are_written_with_two_digits(tmp_path, scored):
    frame, scores = scored
    frame = frame.assign(section=frame["section"].map({"03": 3, "04": "4"}))
    paths = write_dcase_submission(tmp_path, frame, scores, threshold=0.0)
    assert sorted(p.name for p in paths if p.name.startswith("anomaly")) == [
        "anomaly_score_fan_section_03_test.csv", "anomaly_score_fan_section_04_test.csv",
        "anomaly_score_valve_section_03_test.csv", "anomaly_score_valve_section_04_test.csv",
    ]


def test_bad_submissions_are_refused_before_anything_is_written(tmp_path, scored):
    frame, scores = scored
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"threshold must be a finite number; got nan\."):
        write_dcase_submission(out, frame, scores, threshold=float("nan"))
    comma = frame.assign(path=frame["path"].where(frame.index != 5, "/data/fan/test/a,b.wav"))
    with pytest.raises(ValueError, match=r"File name 'a,b\.wav' holds a comma, a quote or a line break"):
        write_dcase_submission(out, comma, scores, threshold=0.0)
    twice = frame.copy()
    twice.loc[1, ["path", "machine", "section"]] = [frame.loc[0, "path"], frame.loc[0, "machine"],
                                                    frame.loc[0, "section"]]
    name = _name(frame.loc[0, "path"])
    with pytest.raises(ValueError, match=rf"File name '{re.escape(name)}' appears twice among the clips of "):
        write_dcase_submission(out, twice, scores, threshold=0.0)
    with pytest.raises(ValueError, match=r"section 'a' is not a number"):
        write_dcase_submission(out, frame.assign(section="a"), scores, threshold=0.0)
    unknown = frame.copy()
    unknown.at[2, "domain"] = None  # a 2020-style name: no domain
    with pytest.raises(ValueError, match=rf"The 2021 submission has one file per domain, but the clip "
                                         rf"'{re.escape(_name(frame.loc[2, 'path']))}' of .* has no domain; it must be "
                                         r"'source' or 'target'\."):
        write_dcase_submission(out, unknown, scores, threshold=0.0, year=2021)
    with pytest.raises(ValueError, match=r"year must be one of \[2020, 2021, 2022, 2023, 2024, 2025\]; got 2019\."):
        write_dcase_submission(out, frame, scores, threshold=0.0, year=2019)
    assert not out.exists()
