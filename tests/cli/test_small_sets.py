"""Presets on a small set of a single machine type (a DCASE 2020 layout: no domains, no attributes)."""

import numpy as np
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


def test_a_classifier_preset_on_one_machine_type_names_the_presets_that_suit_it(tmp_path, capsys):
    write_2020_fan(tmp_path / "data")
    message = error_line(capsys, "evaluate", "--data", tmp_path / "data", "--pipeline", "multibranch-kmeans",
                         "--definition", "2020", "--out", tmp_path / "out", "--quiet")
    assert message == (
        "MultiBranchEmbedder learns to tell auxiliary classes apart, but y holds 1 class ('fan|section_00'); give "
        "clips of at least two classes (e.g. several machine types). This pipeline trains a classifier of machine "
        "types (and attributes, sections); for a single machine type without them, choose one that trains none: "
        "logmel-density, soundnet-density, dcase-ae or scan (skasd pipelines lists them)."
    )
    assert not (tmp_path / "out" / "submission").exists()


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
