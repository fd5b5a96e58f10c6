"""The organisers' evaluation data lists: an evaluation set's test clips get their domain, label and attributes."""

import re

import numpy as np
import pytest
import soundfile as sf

from skasd.cli import main
from skasd.datasets import load_dcase, read_ground_truth

# The organisers' format (the 2023 list's first lines, for a made-up set).
LIST = """bandsaw
section_00_0000.wav,section_00_target_test_normal_0000_vel_12.wav
section_00_0001.wav,section_00_source_test_anomaly_0001_vel_15.wav
section_00_0002.wav,section_00_source_test_normal_0002_vel_13.wav
section_00_0003.wav,section_00_target_test_anomaly_0003_vel_14.wav
grinder
section_00_0000.wav,section_00_source_test_normal_0000_grindstone_2_plate_2.wav
"""


def _write(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.random.default_rng(seed).normal(0, 0.1, 1600).astype(np.float32), 16000)


@pytest.fixture
def evaluation_set(tmp_path):
    root = tmp_path / "eval"
    for index in range(4):
        _write(root / "bandsaw" / "test" / f"section_00_{index:04d}.wav", index)
        _write(root / "bandsaw" / "train" / f"section_00_source_train_normal_{index:04d}_vel_15.wav", 10 + index)
    _write(root / "grinder" / "test" / "section_00_0000.wav", 20)
    _write(root / "valve" / "test" / "section_00_0000.wav", 30)  # a machine type the list does not cover
    (tmp_path / "list.csv").write_text(LIST)
    return root, tmp_path / "list.csv"


def test_read_ground_truth_parses_the_development_style_names(evaluation_set):
    _, path = evaluation_set
    truth = read_ground_truth(path)
    assert len(truth) == 5
    parsed = truth[("bandsaw", "section_00_0003.wav")]
    assert (parsed["section"], parsed["domain"], parsed["label"], parsed["attributes"]) == ("00", "target", 1, "vel_14")


def test_load_dcase_attaches_domain_label_and_attributes_to_the_listed_test_clips(evaluation_set):
    root, path = evaluation_set
    without = load_dcase(root, verbose=0)
    bunch = load_dcase(root, ground_truth=path, verbose=0)
    frame = bunch.frame
    test = frame[(frame["split"] == "test") & (frame["machine"] == "bandsaw")]
    assert test["label"].tolist() == [0, 1, 0, 1]
    assert test["domain"].tolist() == ["target", "source", "source", "target"]
    assert test["attr_vel"].tolist() == ["12", "15", "13", "14"]
    assert test["index"].tolist() == [0, 1, 2, 3]
    grinder = frame[frame["machine"] == "grinder"].iloc[0]
    assert (grinder["label"], grinder["attr_grindstone"]) == (0, "2")
    # Training clips and machine types the list does not cover keep what their names say.
    valve = frame["machine"] == "valve"
    assert frame.loc[valve, "label"].tolist() == [-1] and frame.loc[valve, "domain"].isna().all()
    train = (frame["split"] == "train").to_numpy()
    assert frame[train][["domain", "label"]].equals(without.frame[train][["domain", "label"]])
    np.testing.assert_array_equal(bunch.data, without.data)
    np.testing.assert_array_equal(bunch.target, frame["label"].to_numpy())


@pytest.mark.parametrize(
    "text, message",
    [
        ("section_00_0000.wav,section_00_source_test_normal_0000.wav\n", "line 1: a file before the first machine type line."),
        ("bandsaw\nsection_00_0000.wav,a,b\n", "line 2: expected '<evaluation name>,<development-style name>', got 3 fields."),
        ("bandsaw\nsection_00_0000.wav,section_00_0000.wav\n",
         "line 2: 'section_00_0000.wav' is no development-style DCASE name with a domain and a label"),
        ("bandsaw\nsection_00_0000.wav,section_00_source_test_normal_0000.wav\n"
         "section_00_0000.wav,section_00_source_test_normal_0000.wav\n",
         "line 3: 'section_00_0000.wav' of 'bandsaw' is listed twice."),
        ("bandsaw\n\n", "lists no file."),
    ],
)
def test_malformed_lists_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "list.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"ground truth {str(path)!r}") + ".*" + re.escape(message)):
        read_ground_truth(path)


def test_a_list_that_misses_test_clips_or_disagrees_on_the_section(evaluation_set):
    root, path = evaluation_set
    path.write_text(LIST.replace("section_00_0002.wav,section_00_source_test_normal_0002_vel_13.wav\n", ""))
    with pytest.raises(ValueError, match=(
        re.escape(f"ground truth {str(path)!r} does not list 1 test clip(s) of the machine types it covers, e.g. ")
        + ".*section_00_0002.wav.*: is it the list of this data set's year\\?$"
    )):
        load_dcase(root, ground_truth=path, verbose=0)
    path.write_text(LIST.replace("section_00_0003.wav,section_00_target", "section_00_0003.wav,section_01_target"))
    with pytest.raises(ValueError, match=re.escape(
        f"ground truth {str(path)!r} gives 'section_00_0003.wav' of 'bandsaw' section '01', but its name says "
        "section '00'."
    )):
        load_dcase(root, ground_truth=path, verbose=0)


def test_evaluate_scores_an_evaluation_set_with_its_ground_truth(evaluation_set, tmp_path, capsys):
    root, path = evaluation_set
    status = main(["evaluate", "--data", str(root), "--machine-types", "bandsaw", "--pipeline", "logmel-knn",
                   "--ground-truth", str(path), "--out", str(tmp_path / "run"), "--no-plots", "--quiet"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "Official score (harmonic mean of all AUCs and pAUCs):" in printed
    assert (tmp_path / "run" / "scores.csv").read_text().startswith("machine,section,auc_source,auc_target,pauc,hmean")
