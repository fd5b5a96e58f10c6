"""skasd package: the Task 2 submission layout written from runs, and its checker on good and broken packages."""

import shutil
from pathlib import Path

import pytest

from skasd.cli import main
from skasd.datasets import make_machine_sounds
from skasd.datasets._package import (
    TODO,
    check_submission_package,
    development_results,
    meta_yaml,
    write_submission_package,
)

yaml = pytest.importorskip("yaml")

LABEL = "Smith_ACME_task2"
SYSTEM = f"{LABEL}_1"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A generated evaluation-like folder and a skasd evaluate run on it (logmel-knn, models saved)."""
    folder = tmp_path_factory.mktemp("package")
    data = folder / "data"
    make_machine_sounds(
        machine_types=("fan", "gearbox"), n_sections=2, n_source_train=8, n_target_train=2, n_test_normal=4,
        n_test_anomalous=4, duration=0.5, random_state=0, out_dir=str(data),
    )
    out = folder / "run"
    status = main(["evaluate", "--data", str(data), "--pipeline", "logmel-knn", "--out", str(out), "--no-plots",
                   "--save", str(out / "model.skasd"), "--quiet"])
    assert status == 0
    return data, out


def package(capsys, run, tmp_path, *extra):
    """A package of the run, written by the command line; returns its folder and the system's folder."""
    data, out = run
    status = main(["package", "--label", LABEL, "--system", str(out), "--dev", str(out), "--data", str(data),
                   "--out", str(tmp_path / "pkg"), *extra])
    printed = capsys.readouterr().out
    assert status == 0, printed
    return tmp_path / "pkg", tmp_path / "pkg" / "task2" / SYSTEM


def check(capsys, folder, *extra):
    status = main(["package", "--check", str(folder), *extra])
    return status, capsys.readouterr().out.splitlines()


def test_a_package_of_a_run_is_well_formed_and_marks_what_the_author_fills_in(run, tmp_path, capsys):
    data, out = run
    root, system = package(capsys, run, tmp_path)
    names = sorted(p.name for p in system.iterdir())
    assert names == [f"{SYSTEM}.meta.yaml"] + [
        f"{kind}_{machine}_section_{section}_test.csv" for kind in ("anomaly_score", "decision_result")
        for machine in ("fan", "gearbox") for section in ("00", "01")
    ]
    for name in names[1:]:  # the run's files, byte for byte
        assert (system / name).read_bytes() == (out / "submission" / name).read_bytes()
    meta = yaml.safe_load((system / f"{SYSTEM}.meta.yaml").read_text())
    assert meta["submission"]["label"] == SYSTEM
    assert meta["submission"]["name"] == "logmel-knn (skasd)"  # the pipeline, from the model file in the run
    assert meta["submission"]["abbreviation"] == "logmel-knn"
    author = meta["submission"]["authors"][0]
    assert author["lastname"] == "Smith" and author["affiliation"]["abbreviation"] == "ACME"
    for value in (author["firstname"], author["email"], author["affiliation"]["institute"],
                  meta["system"]["complexity"]["total_parameters"], meta["system"]["source_code"],
                  meta["system"]["description"]["data_augmentation"]):
        assert value.startswith(TODO)
    description = meta["system"]["description"]
    assert description["input_sampling_rate"] == "16kHz"
    assert description["acoustic_features"] == "log-mel energies"
    assert description["machine_learning_method"].startswith("LogMelStatistics -> KNNScorer")
    assert description["ensemble_method_subsystem_count"] is None
    results = meta["results"]["development_dataset"]
    assert set(results) == {"fan", "gearbox"} and set(results["fan"]) == {"auc_source", "auc_target", "pauc"}
    assert all(0 <= v <= 1 for values in results.values() for v in values.values())

    status, lines = check(capsys, root, "--data", str(data))
    assert status == 0
    assert lines[-1] == f"{root}: the package is well-formed against the test clips of {data}"
    assert f"todo: task2/{LABEL}.technical_report.pdf: add the technical report" in lines
    assert any(line.startswith(f"todo: task2/{SYSTEM}/{SYSTEM}.meta.yaml: 10 field(s) to fill in: "
                               "submission.authors[0].firstname,") for line in lines)
    assert check_submission_package(root / "task2", data=data)[0] == []  # the task2 folder itself, too


def _rewrite(path, edit):
    path.write_text(edit(path.read_text()))


def _line(index, value):
    def edit(text):
        rows = text.splitlines()
        rows[index] = f"{rows[index].split(',')[0]},{value}"
        return "\n".join(rows) + "\n"

    return edit


def _five_systems(root):
    for n in range(2, 6):
        target = root / "task2" / f"{LABEL}_{n}"
        shutil.copytree(root / "task2" / SYSTEM, target)
        meta = target / f"{SYSTEM}.meta.yaml"
        meta.rename(target / f"{LABEL}_{n}.meta.yaml")
        _rewrite(target / f"{LABEL}_{n}.meta.yaml", lambda t, n=n: t.replace(f'"{SYSTEM}"', f'"{LABEL}_{n}"'))


S = f"task2/{SYSTEM}"
BROKEN = {
    "missing decision file": (
        lambda root, system: (system / "decision_result_fan_section_00_test.csv").unlink(),
        f"{S}: decision_result_fan_section_00_test.csv is missing (there is anomaly_score_fan_section_00_test.csv)",
    ),
    "wrong row count": (
        lambda root, system: _rewrite(system / "anomaly_score_gearbox_section_01_test.csv",
                                      lambda t: "".join(t.splitlines(keepends=True)[:-1])),
        f"{S}/anomaly_score_gearbox_section_01_test.csv: 15 rows, but {{data}} has 16 test clips of gearbox section 01",
    ),
    "NaN score": (
        lambda root, system: _rewrite(system / "anomaly_score_fan_section_01_test.csv", _line(1, "nan")),
        f"{S}/anomaly_score_fan_section_01_test.csv: line 2: score 'nan' is not a finite number",
    ),
    "decision 2": (
        lambda root, system: _rewrite(system / "decision_result_gearbox_section_00_test.csv", _line(0, "2")),
        f"{S}/decision_result_gearbox_section_00_test.csv: line 1: decision '2' is not 0 or 1",
    ),
    "header": (
        lambda root, system: _rewrite(system / "anomaly_score_fan_section_00_test.csv", lambda t: "file,score\n" + t),
        f"{S}/anomaly_score_fan_section_00_test.csv: line 1: score 'score' is not a number (no header: rows only)",
    ),
    "duplicate name": (
        lambda root, system: _rewrite(system / "decision_result_fan_section_00_test.csv",
                                      lambda t: t + t.splitlines(keepends=True)[0]),
        f"{S}/decision_result_fan_section_00_test.csv: line 17: "
        "'section_00_source_test_anomaly_0001_spd_1200_load_40.wav' appears twice",
    ),
    "one-digit section": (
        lambda root, system: (system / "anomaly_score_fan_section_00_test.csv").rename(
            system / "anomaly_score_fan_section_0_test.csv"),
        f"{S}/anomaly_score_fan_section_0_test.csv: section '0' is not two digits (section_00)",
    ),
    "meta file missing a field": (
        lambda root, system: _rewrite(system / f"{SYSTEM}.meta.yaml", lambda t: "\n".join(
            line for line in t.splitlines() if "acoustic_features:" not in line) + "\n"),
        f"{S}/{SYSTEM}.meta.yaml: missing field system.description.acoustic_features",
    ),
    "meta file missing an author's email": (
        lambda root, system: _rewrite(system / f"{SYSTEM}.meta.yaml", lambda t: "\n".join(
            line for line in t.splitlines() if "email:" not in line) + "\n"),
        f"{S}/{SYSTEM}.meta.yaml: missing field submission.authors[0].email",
    ),
    "meta file not YAML": (
        lambda root, system: _rewrite(system / f"{SYSTEM}.meta.yaml", lambda t: t + "  - [unclosed\n"),
        None,
    ),
    "more than 4 systems": (
        lambda root, system: _five_systems(root),
        "task2: 5 systems; the task accepts at most 4",
    ),
    "label mismatch": (
        lambda root, system: _rewrite(system / f"{SYSTEM}.meta.yaml",
                                      lambda t: t.replace(f'label: "{SYSTEM}"', 'label: "Jones_ACME_task2_1"')),
        f"{S}/{SYSTEM}.meta.yaml: submission.label 'Jones_ACME_task2_1' differs from the folder name '{SYSTEM}'",
    ),
    "folder name": (
        lambda root, system: system.rename(root / "task2" / "Smith_task2_1"),
        "task2/Smith_task2_1: folder name is not <Lastname>_<Institute>_task2_<1-4>",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_the_checker_names_each_problem_on_its_own_line(case, run, tmp_path, capsys):
    data, _ = run
    root, system = package(capsys, run, tmp_path)
    breaking, expected = BROKEN[case]
    breaking(root, system)
    status, lines = check(capsys, root, "--data", str(data))
    assert status == 2
    assert lines[-1].endswith(f"problem(s) in {root}")
    if expected is None:  # the parser's own words follow the line number
        assert any(line.startswith(f"{S}/{SYSTEM}.meta.yaml: not valid YAML at line ") for line in lines), lines
    else:
        assert expected.format(data=data) in lines, lines


def test_rows_are_checked_against_the_evaluation_set_only_with_data(run, tmp_path, capsys):
    root, system = package(capsys, run, tmp_path)
    _rewrite(system / "anomaly_score_gearbox_section_01_test.csv", lambda t: "".join(t.splitlines(True)[:-1]))
    _rewrite(system / "decision_result_gearbox_section_01_test.csv", lambda t: "".join(t.splitlines(True)[:-1]))
    assert check(capsys, root)[0] == 0
    data, _ = run
    shutil.copytree(data, tmp_path / "more")
    shutil.copy(next((data / "fan" / "test").iterdir()), tmp_path / "more" / "fan" / "test" / "section_02_0000.wav")
    status, lines = check(capsys, root, "--data", str(tmp_path / "more"))
    assert status == 2
    assert (f"{S}: anomaly_score_fan_section_02_test.csv is missing ({tmp_path / 'more'} has 1 test clips of fan "
            "section 02)") in lines


def test_the_command_refuses_what_would_make_a_bad_package(run, tmp_path, capsys):
    _, out = run
    status = main(["package", "--label", LABEL, *["--system", str(out)] * 5, "--out", str(tmp_path / "p")])
    assert status == 2
    assert "5 --system folders; the task accepts at most 4 systems" in capsys.readouterr().err
    status = main(["package", "--label", f"{LABEL}_1", "--system", str(out), "--out", str(tmp_path / "p")])
    assert status == 2 and "ends in a system index" in capsys.readouterr().err
    status = main(["package", "--label", LABEL, "--system", str(out), "--system", str(out), "--pipeline",
                   "logmel-knn", "--out", str(tmp_path / "p")])
    assert status == 2 and "--pipeline is given 1 time(s) for 2 --system folder(s)" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_an_existing_package_is_overwritten_only_when_asked(run, tmp_path, capsys):
    root, system = package(capsys, run, tmp_path)
    (system / "anomaly_score_fan_section_00_test.csv").write_text("edited")
    _, out = run
    status = main(["package", "--label", LABEL, "--system", str(out), "--out", str(root)])
    assert status == 2 and "exists: the package is not overwritten unless asked" in capsys.readouterr().err
    assert (system / "anomaly_score_fan_section_00_test.csv").read_text() == "edited"
    status = main(["package", "--label", LABEL, "--system", str(out), "--out", str(root), "--overwrite"])
    assert status == 0 and (system / "anomaly_score_fan_section_00_test.csv").read_text() != "edited"
    capsys.readouterr()


def test_two_systems_with_their_pipelines_given(run, tmp_path, capsys):
    _, out = run
    status = main(["package", "--label", LABEL, "--system", str(out), "--system", str(out),
                   "--pipeline", "logmel-knn", "--pipeline", "mean-ensemble", "--out", str(tmp_path / "p")])
    assert status == 0, capsys.readouterr().out
    meta = yaml.safe_load((tmp_path / "p" / "task2" / f"{LABEL}_2" / f"{LABEL}_2.meta.yaml").read_text())
    assert meta["submission"]["name"] == "mean-ensemble (skasd)"
    assert meta["submission"]["abbreviation"].startswith(TODO)  # mean-ensemble is 13 characters: too long
    description = meta["system"]["description"]
    assert description["ensemble_method_subsystem_count"] == 3
    assert description["acoustic_features"] == "log-mel energies, raw waveform"
    assert description["input_sampling_rate"].startswith(TODO)  # no --data
    assert meta["results"]["development_dataset"].startswith(TODO)  # no --dev


def test_the_library_writer_and_meta_text(tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "anomaly_score_valve_section_00_test.csv").write_text("section_00_0000.wav,0.5\n")
    (submission / "decision_result_valve_section_00_test.csv").write_text("section_00_0000.wav,1\n")
    (submission / "notes.txt").write_text("not copied")
    folders = write_submission_package(tmp_path / "pkg", "O'Brien-Lee_X1_task2".replace("'", ""),
                                       [{"submission": submission}], year=2024)
    assert [p.name for p in folders] == ["OBrien-Lee_X1_task2_1"]
    assert sorted(p.name for p in folders[0].iterdir()) == [
        "OBrien-Lee_X1_task2_1.meta.yaml", "anomaly_score_valve_section_00_test.csv",
        "decision_result_valve_section_00_test.csv"]
    assert check_submission_package(tmp_path / "pkg")[0] == []
    with pytest.raises(ValueError, match="is not <Lastname>_<Institute>_task2"):
        write_submission_package(tmp_path / "other", "Smith_task2", [{"submission": submission}])
    with pytest.raises(ValueError, match="1 to 4 systems"):
        write_submission_package(tmp_path / "other", LABEL, [{"submission": submission}] * 5)
    with pytest.raises(ValueError, match="holds no anomaly_score_"):
        write_submission_package(tmp_path / "other", LABEL, [{"submission": tmp_path}])
    # Quoting: a value with a colon, quotes or a non-ASCII letter reads back as written.
    text = meta_yaml("Smith_ACME_task2_1", {"name": 'a: "b" — ü', "input_sampling_rate": "16kHz"}, year=2025)
    assert yaml.safe_load(text)["submission"]["name"] == 'a: "b" — ü'
    assert "DCASE 2025 Task 2" in text


def test_development_results_are_harmonic_means_over_sections():
    import pandas as pd

    table = pd.DataFrame({"machine": ["fan", "fan", "valve"], "section": ["00", "01", "00"],
                          "auc_source": [0.5, 1.0, 0.7], "auc_target": [0.6, 0.6, 0.8], "pauc": [0.5, 0.5, 0.55]})
    results = development_results(table)
    assert list(results) == ["fan", "valve"]
    assert results["fan"]["auc_source"] == pytest.approx(2 / (1 / 0.5 + 1 / 1.0))
    assert results["valve"] == {"auc_source": 0.7, "auc_target": 0.8, "pauc": 0.55}


def test_a_folder_without_task2_is_one_problem(tmp_path, capsys):
    status, lines = check(capsys, tmp_path)
    assert status == 2
    assert lines[0] == f"{tmp_path}: no task2/ folder (a package holds task2/<Lastname>_<Institute>_task2_<n>/)"
    assert Path(tmp_path).is_dir()
