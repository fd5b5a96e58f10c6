"""Presets on a small set of a single machine type (a DCASE 2020 layout: no domains, no attributes),
and the generated further classes that the presets whose embedding learns classes train beside it."""

import numpy as np
import pytest
import soundfile as sf

from skasd.cli import main


def error_line(capsys, *argv):
    capsys.readouterr()
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == 2 and "Traceback" not in err and err.count("\n") == 1, (out, err)
    return err[len("skasd: error: "):].rstrip("\n")


def write_2020_fan(root, n_train=6):
    rng = np.random.default_rng(0)
    for split, names in (("train", [f"normal_id_00_{i:08d}.wav" for i in range(n_train)]),
                         ("test", [f"{kind}_id_00_{i:08d}.wav" for i, kind in enumerate(["normal", "anomaly"] * 3)])):
        (root / "fan" / split).mkdir(parents=True)
        for name in names:
            sf.write(root / "fan" / split / name, rng.normal(0, 0.1, 4000).astype(np.float32), 16000)


def test_the_presets_named_for_one_machine_type_run_on_it(tmp_path, capsys):
    # scan's batch of 32 is clipped to the 6 clips (with a warning), not refused.
    write_2020_fan(tmp_path / "data")
    for preset in ("logmel-density", "scan"):
        capsys.readouterr()
        status = main(["evaluate", "--data", str(tmp_path / "data"), "--pipeline", preset, "--definition", "2020",
                       "--out", str(tmp_path / preset), "--quiet", "--no-plots"])
        assert status == 0, capsys.readouterr().err
        # The 2020 layout: scores only, per machine id.
        assert [f.name for f in (tmp_path / preset / "submission").iterdir()] == ["anomaly_score_fan_id_00.csv"]


def test_a_classifier_preset_on_one_machine_type_trains_beside_generated_classes(tmp_path, capsys):
    write_2020_fan(tmp_path / "data")
    capsys.readouterr()
    status = main(["evaluate", "--data", str(tmp_path / "data"), "--pipeline", "multibranch-kmeans",
                   "--definition", "2020", "--out", str(tmp_path / "out"), "--no-plots"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert ("  the embedding also trains on 132 generated clips of further classes (generated_bearing, "
            "generated_fan, generated_gearbox, generated_pump; --generated-classes auto); they are not scored") in out
    assert "embedding steps of all machine types: fitted on 6 clips and 132 clips of further classes" in out
    # Only the data's own machine type is scored.
    assert [f.name for f in (tmp_path / "out" / "submission").iterdir()] == ["anomaly_score_fan_id_00.csv"]


def test_generated_classes_0_keeps_one_machine_type_alone(tmp_path, capsys):
    write_2020_fan(tmp_path / "data")
    message = error_line(capsys, "evaluate", "--data", tmp_path / "data", "--pipeline", "multibranch-kmeans",
                         "--definition", "2020", "--generated-classes", "0", "--out", tmp_path / "out", "--quiet")
    assert message == (
        "MultiBranchEmbedder learns to tell auxiliary classes apart, but y holds 1 class ('fan|section_00'); give "
        "clips of at least two classes (e.g. several machine types). This pipeline trains a classifier of machine "
        "types (and attributes, sections); for a single machine type without them, let generated classes join its "
        "training (--generated-classes auto, the default) or choose a pipeline that trains none: logmel-density, "
        "soundnet-density, dcase-ae or scan (skasd pipelines lists them)."
    )
    assert not (tmp_path / "out" / "submission").exists()


def test_generated_classes_for_a_pipeline_without_a_classifier_is_refused_before_reading(tmp_path, capsys):
    write_2020_fan(tmp_path / "data")
    message = error_line(capsys, "evaluate", "--data", tmp_path / "data", "--pipeline", "logmel-density",
                         "--definition", "2020", "--generated-classes", "5", "--out", tmp_path / "out")
    assert message == (
        "--generated-classes 5: logmel-density has no shared embedding that learns classes for them to join "
        "(multibranch-kmeans, pseudo-label-iterator and ward-dap have; or a configuration with shared_embedding "
        "and such a step)."
    )


@pytest.mark.parametrize("value, message", [
    ("-1", "must be 'auto' or a number of clips, 0 or more, got '-1'"),
    ("many", "expected 'auto' or a number of clips, got 'many'"),
])
def test_generated_classes_takes_auto_or_a_count(tmp_path, capsys, value, message):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--data", str(tmp_path), f"--generated-classes={value}", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert f"argument --generated-classes: {message}" in capsys.readouterr().err
