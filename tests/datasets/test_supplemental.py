"""Tests of the DCASE 2025 supplemental clips: reading ``<machine>/supplemental/``, and load_dcase leaving it alone."""

import re
import warnings

import numpy as np
import pytest
import soundfile as sf

from skasd.datasets import (
    load_dcase,
    load_dcase_supplemental,
    make_machine_sounds,
    parse_dcase_filename,
    save_dcase,
)
from skasd.datasets._names import parse_supplemental_filename

RATE = 16000
N_SAMPLES = 4000  # 0.25 s


def _write_supplemental(root, machine, n_clips, *, word="machine", seed=0, n_samples=N_SAMPLES, rate=RATE):
    """Write ``n_clips`` noise-like clips under the organisers' name pattern; return them as 16-bit values read back."""
    folder = root / machine / "supplemental"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    clips = []
    for index in range(1, n_clips + 1):
        path = folder / f"section_00_{word}_{index:04d}_.wav"
        sf.write(path, 0.1 * rng.standard_normal(n_samples), rate, subtype="PCM_16")
        clips.append(sf.read(path, dtype="float32")[0])
    return clips


@pytest.fixture
def dataset(tmp_path):
    """Two machine types in the DCASE layout (train/ and test/), with no supplemental folder yet."""
    bunch = make_machine_sounds(
        machine_types=["fan", "pump"], n_source_train=2, n_target_train=1, n_test_normal=1, n_test_anomalous=1,
        duration=N_SAMPLES / RATE, random_state=0,
    )
    save_dcase(bunch, tmp_path)
    return tmp_path


def test_documented_names_parse():
    assert parse_supplemental_filename("section_00_machine_0001_.wav") == {
        "section": "00", "word": "machine", "index": 1, "attributes": ""
    }
    assert parse_supplemental_filename("eval_data/raw/AutoTrash/supplemental/section_00_machine_0100_.wav")["index"] == 100
    # A training clip's name is no supplemental name, and the other way round.
    assert parse_supplemental_filename("section_00_source_train_normal_0000_.wav") is None
    assert parse_dcase_filename("section_00_machine_0001_.wav") is None


def test_reads_the_clips_with_their_kind_and_metadata(dataset):
    fan = _write_supplemental(dataset, "fan", 3, seed=1)
    pump = _write_supplemental(dataset, "pump", 2, seed=2)

    got = load_dcase_supplemental(dataset, kind={"pump": "noise"}, verbose=0)

    assert got.sample_rate == RATE
    np.testing.assert_array_equal(got.data, np.stack(fan + pump))
    assert got.frame.columns.tolist() == [
        "path", "machine", "section", "kind", "index", "attributes", "n_samples_original"
    ]
    assert got.frame["machine"].tolist() == ["fan"] * 3 + ["pump"] * 2
    assert got.frame["kind"].tolist() == ["machine"] * 3 + ["noise"] * 2
    assert got.frame["index"].tolist() == [1, 2, 3, 1, 2]
    assert set(got.frame["section"]) == {"00"} and set(got.frame["attributes"]) == {""}
    assert all("/supplemental/" in path for path in got.frame["path"])

    only_pump = load_dcase_supplemental(dataset, "pump", kind="noise", verbose=0)
    np.testing.assert_array_equal(only_pump.data, np.stack(pump))


def test_length_and_rate_follow_the_loader_options(dataset):
    clips = _write_supplemental(dataset, "fan", 2)
    cropped = load_dcase_supplemental(dataset, duration=0.1, verbose=0)
    np.testing.assert_array_equal(cropped.data, np.stack(clips)[:, :1600])
    assert cropped.frame["n_samples_original"].tolist() == [N_SAMPLES, N_SAMPLES]
    halved = load_dcase_supplemental(dataset, sample_rate=RATE // 2, verbose=0)
    assert halved.data.shape == (2, N_SAMPLES // 2) and halved.sample_rate == RATE // 2


def test_load_dcase_ignores_the_supplemental_folder(dataset):
    before = load_dcase(dataset, verbose=0)
    _write_supplemental(dataset, "fan", 3)
    _write_supplemental(dataset, "pump", 3, word="noise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "matches no DCASE naming scheme" either: the folder is not looked at
        after = load_dcase(dataset, verbose=0)
    np.testing.assert_array_equal(after.data, before.data)
    assert after.frame.equals(before.frame)
    assert not any("supplemental" in path for path in after.frame["path"])


def test_an_undocumented_word_needs_a_declared_kind(dataset):
    _write_supplemental(dataset, "fan", 1)
    _write_supplemental(dataset, "pump", 2, word="noise")
    path = dataset / "pump" / "supplemental" / "section_00_noise_0001_.wav"
    expected = (
        f"File {str(path)!r}: the word 'noise' is not a documented supplemental kind (only 'machine' is); "
        "pass kind={'pump': 'machine' or 'noise'} to say what its clips hold."
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_dcase_supplemental(dataset, strict=True, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skipped = load_dcase_supplemental(dataset, verbose=0)
    assert [str(w.message) for w in caught] == [
        expected + " Skipped (strict=False).", expected.replace("0001", "0002") + " Skipped (strict=False)."
    ]
    assert {w.filename for w in caught} == {__file__}  # the warning points at the caller
    assert skipped.frame["machine"].tolist() == ["fan"]
    declared = load_dcase_supplemental(dataset, kind={"pump": "noise"}, verbose=0)
    assert declared.frame["kind"].tolist() == ["machine", "noise", "noise"]


def test_a_name_it_cannot_read_is_skipped_or_refused(dataset):
    _write_supplemental(dataset, "fan", 2)
    sf.write(dataset / "fan" / "supplemental" / "recording.wav", np.full(100, 0.1), RATE)
    message = f"File name 'recording.wav' in {str(dataset / 'fan' / 'supplemental')!r} is not a supplemental clip's name"
    with pytest.raises(ValueError, match=re.escape(message)):
        load_dcase_supplemental(dataset, strict=True, verbose=0)
    with pytest.warns(UserWarning, match=re.escape(message)):
        assert len(load_dcase_supplemental(dataset, verbose=0).frame) == 2


def test_errors_name_the_file_or_the_parameter(dataset):
    with pytest.raises(FileNotFoundError, match=r"No audio files .* in any <machine>/supplemental/ folder under root="):
        load_dcase_supplemental(dataset, verbose=0)
    _write_supplemental(dataset, "fan", 2)
    with pytest.raises(ValueError, match=re.escape("machine_types=['pump']: ['pump'] have no supplemental/ folder")):
        load_dcase_supplemental(dataset, "pump", verbose=0)
    with pytest.raises(ValueError, match=re.escape("kind['fan']='clean': a supplemental kind is one of")):
        load_dcase_supplemental(dataset, kind={"fan": "clean"}, verbose=0)
    with pytest.raises(ValueError, match=re.escape("kind names ['pump'], which have no supplemental clips here")):
        load_dcase_supplemental(dataset, kind={"pump": "noise"}, verbose=0)
    with pytest.raises(ValueError, match="duration must be a positive, finite number"):
        load_dcase_supplemental(dataset, duration=0, verbose=0)
    silent = dataset / "fan" / "supplemental" / "section_00_machine_0003_.wav"
    sf.write(silent, np.zeros(N_SAMPLES), RATE)
    with pytest.raises(ValueError, match=re.escape(f"Audio file {str(silent)!r} is silent")):
        load_dcase_supplemental(dataset, verbose=0)
