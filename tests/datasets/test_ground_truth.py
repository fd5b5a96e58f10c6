"""The organisers' evaluation data lists: an evaluation set's test clips get their domain, label and attributes."""

import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.metrics import roc_auc_score

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
        ("bandsaw\nsection_00_0000.wav,section_00_source_test_normal_0000.wav,0,x\n",
         ("line 2: expected '<evaluation name>,<development-style name>' (2020: "
         "'<evaluation name>,<development-style name>,<label>'), got 4 fields.")),
        ("bandsaw\nsection_00_0000.wav,section_00_0000.wav\n",
         "line 2: 'section_00_0000.wav' is no development-style DCASE name with a label"),
        ("bandsaw\nsection_00_0000.wav,section_00_source_normal_x.wav\n",  # 2024's form, but no index
         "line 2: 'section_00_source_normal_x.wav' is no development-style DCASE name with a label"),
        ("fan\nid_01_00000000.wav,normal_id_01_00000098.wav,1\n",
         "line 2: the third field '1' is not the label of 'normal_id_01_00000098.wav' (0: 0 normal, 1 anomalous)."),
        ("fan\nid_01_00000000.wav,normal_id_01_00000098.wav,normal\n",
         "line 2: the third field 'normal' is not the label of 'normal_id_01_00000098.wav'"),
        (("fan\nid_01_00000000.wav,normal_id_01_00000098.wav,0\n"
         "section_01_0001.wav,section_01_source_test_normal_0001.wav\n"),
         "line 3: 'section_01_source_test_normal_0001.wav' has a domain, unlike the names before it"),
        (("fan\nsection_01_0001.wav,section_01_source_test_normal_0001.wav\n"
         "id_01_00000000.wav,normal_id_01_00000098.wav,0\n"),
         "line 3: 'normal_id_01_00000098.wav' has no domain, unlike the names before it"),
        (("bandsaw\nsection_00_0000.wav,section_00_source_test_normal_0000.wav\n"
         "section_00_0000.wav,section_00_source_test_normal_0000.wav\n"),
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


# Each year's list in its exact format (line ends, fields, names), a few lines of the published
# lists or lines of their form, with what each line must give: (machine, evaluation name) ->
# (section, domain, label, attributes).
YEARS = {
    2020: (
        (b"fan\nid_01_00000000.wav,normal_id_01_00000098.wav,0\nid_01_00000001.wav,anomaly_id_01_00000064.wav,1\n"
        b"ToyConveyor\nid_04_00000000.wav,anomaly_id_04_00000301.wav,1\n"),
        {("fan", "id_01_00000000.wav"): ("01", None, 0, ""), ("fan", "id_01_00000001.wav"): ("01", None, 1, ""),
         ("ToyConveyor", "id_04_00000000.wav"): ("04", None, 1, "")},
    ),
    2021: (
        (b"fan\r\nsection_03_source_test_0000.wav,section_03_source_test_anomaly_0000.wav\r\n"
        b"section_03_target_test_0001.wav,section_03_target_test_normal_0001.wav\r\n"),
        {("fan", "section_03_source_test_0000.wav"): ("03", "source", 1, ""),
         ("fan", "section_03_target_test_0001.wav"): ("03", "target", 0, "")},
    ),
    2022: (
        (b"bearing\nsection_03_0000.wav,section_03_source_test_normal_0000_vel_21.wav\n"
        b"section_03_0001.wav,section_03_target_test_anomaly_0001_vel_25.wav\n"),
        {("bearing", "section_03_0000.wav"): ("03", "source", 0, "vel_21"),
         ("bearing", "section_03_0001.wav"): ("03", "target", 1, "vel_25")},
    ),
    2023: (
        b"\xef\xbb\xbfbandsaw\r\nsection_00_0005.wav,section_00_source_test_anomaly_0005_vel_15.wav\r\n",  # with a BOM
        {("bandsaw", "section_00_0005.wav"): ("00", "source", 1, "vel_15")},
    ),
    2024: (
        (b"3DPrinter\r\nsection_00_0001.wav,section_00_target_test_anomaly_0001_mdl_B_spd_2.wav\r\n"
        b"RoboticArm\r\nsection_00_0000.wav,section_00_source_normal_0035_weight15_BckgF.wav\r\n"
        b"section_00_0001.wav,section_00_target_anomaly_0091_weight35_BckgE.wav\r\n"
        b"BrushlessMotor\r\nsection_00_0000.wav,section_00_source_test_normal_0000_noAttributes.wav\r\n"),
        {("3DPrinter", "section_00_0001.wav"): ("00", "target", 1, "mdl_B_spd_2"),
         ("RoboticArm", "section_00_0000.wav"): ("00", "source", 0, "weight15_BckgF"),
         ("RoboticArm", "section_00_0001.wav"): ("00", "target", 1, "weight35_BckgE"),
         ("BrushlessMotor", "section_00_0000.wav"): ("00", "source", 0, "noAttributes")},
    ),
    2025: (
        (b"AutoTrash\r\nsection_00_0000.wav,section_00_target_test_anomaly_0012_id_C1_spd_2_mic_2.wav\r\n"
        b"section_00_0002.wav,section_00_source_test_normal_0031_id_B2_spd_1_mic_2.wav\r\n"),
        {("AutoTrash", "section_00_0000.wav"): ("00", "target", 1, "id_C1_spd_2_mic_2"),
         ("AutoTrash", "section_00_0002.wav"): ("00", "source", 0, "id_B2_spd_1_mic_2")},
    ),
}


@pytest.mark.parametrize("year", sorted(YEARS))
def test_every_years_list_gives_the_labels_domains_and_attributes_it_writes(tmp_path, year):
    text, expected = YEARS[year]
    path = tmp_path / f"eval_data_list_{year}.csv"
    path.write_bytes(text)
    truth = read_ground_truth(path)
    got = {key: (p["section"], p["domain"], p["label"], p["attributes"]) for key, p in truth.items()}
    assert got == expected


def _write_2020_evaluation_set(root, labels):
    """A 2020 evaluation folder (fan, id_01): training normals and test clips named without their label."""
    rng = np.random.default_rng(0)
    for index, label in enumerate(labels):
        _write(root / "fan" / "train" / f"normal_id_01_{index:08d}.wav", 100 + index)
        path = root / "fan" / "test" / f"id_01_{index:08d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), rng.normal(0, rng.uniform(0.05, 0.2), 1600).astype(np.float32), 16000)
    # The 2020 format: three fields, the development-style name with another index, the label.
    return "fan\n" + "".join(
        f"id_01_{index:08d}.wav,{('normal', 'anomaly')[label]}_id_01_{90 + index:08d}.wav,{label}\n"
        for index, label in enumerate(labels)
    )


def test_load_dcase_reads_a_2020_evaluation_set_with_its_list(tmp_path):
    labels = [0, 1, 1, 0, 0, 1]
    (tmp_path / "list.csv").write_text(_write_2020_evaluation_set(tmp_path / "eval", labels))
    frame = load_dcase(tmp_path / "eval", ground_truth=tmp_path / "list.csv", verbose=0).frame
    test = frame[frame["split"] == "test"]
    assert test["label"].tolist() == labels
    assert test["index"].tolist() == list(range(6)) and set(test["section"]) == {"01"}
    assert frame["domain"].isna().all() and (frame.loc[frame["split"] == "train", "label"] == 0).all()


def test_evaluate_scores_a_2020_evaluation_set_by_the_2020_metric(tmp_path, capsys):
    labels = [0, 1, 1, 0, 0, 1]
    (tmp_path / "list.csv").write_text(_write_2020_evaluation_set(tmp_path / "eval", labels))
    status = main(["evaluate", "--data", str(tmp_path / "eval"), "--pipeline", "logmel-knn", "--definition", "2020",
                   "--ground-truth", str(tmp_path / "list.csv"), "--out", str(tmp_path / "run"), "--no-plots",
                   "--quiet"])
    assert status == 0
    scores = pd.read_csv(tmp_path / "run" / "scores.csv", dtype={"section": str})
    submitted = pd.read_csv(tmp_path / "run" / "submission" / "anomaly_score_fan_id_01.csv", header=None,
                            names=["name", "score"])
    truth = {f"id_01_{index:08d}.wav": label for index, label in enumerate(labels)}
    expected = roc_auc_score([truth[name] for name in submitted["name"]], submitted["score"])
    assert scores[["machine", "section"]].values.tolist() == [["fan", "01"]]
    assert scores["auc"].iloc[0] == pytest.approx(expected)


def test_a_2021_list_must_agree_with_the_domain_in_the_clips_name(tmp_path):
    root = tmp_path / "eval"
    _write(root / "fan" / "test" / "section_03_source_test_0000.wav", 0)
    path = tmp_path / "list.csv"
    path.write_text("fan\nsection_03_source_test_0000.wav,section_03_target_test_anomaly_0000.wav\n")
    with pytest.raises(ValueError, match=re.escape(
        f"ground truth {str(path)!r} gives 'section_03_source_test_0000.wav' of 'fan' domain 'target', but its "
        "name says domain 'source'."
    )):
        load_dcase(root, ground_truth=path, verbose=0)
    path.write_text("fan\nsection_03_source_test_0000.wav,section_03_source_test_anomaly_0000.wav\n")
    frame = load_dcase(root, ground_truth=path, verbose=0).frame
    assert (frame["domain"].tolist(), frame["label"].tolist()) == (["source"], [1])
