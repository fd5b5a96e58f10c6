"""Tests of the DCASE loader, file-name parser, writer and submission files."""

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from skasd.datasets import (
    FRAME_COLUMNS,
    load_dcase,
    clip_length,
    longest_clip,
    parse_dcase_filename,
    save_dcase,
    write_dcase_submission,
)
from skasd.datasets._names import format_dcase_filename

# The attribute names of each development machine type of DCASE 2023.
ATTRIBUTE_NAMES = {
    "ToyCar": {"car", "spd", "mic"},
    "ToyTrain": {"car", "spd", "mic"},
    "bearing": {"vel", "loc"},
    "fan": {"m-n"},
    "gearbox": {"volt", "wt"},
    "slider": {"vel", "ac"},
    "valve": {"pat"},
}


def _write(path, samples, rate=16000, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, rate, subtype=subtype)
    return path


def _tone(n=1600, amplitude=0.1, freq=440.0, rate=16000):
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


# --- file names -------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "section_00_source_train_normal_0001_car_C2_spd_34V_mic_1.wav",
            ("00", "source", "train", 0, 1, "car_C2_spd_34V_mic_1"),
        ),
        ("section_02_target_test_anomaly_0149_vel_8_loc_G.flac", ("02", "target", "test", 1, 149, "vel_8_loc_G")),
        ("section_00_source_train_normal_0007_noAttributes.wav", ("00", "source", "train", 0, 7, "noAttributes")),
        ("section_01_source_test_normal_0003.wav", ("01", "source", "test", 0, 3, "")),
        ("section_03_target_test_0012.wav", ("03", "target", "test", -1, 12, "")),
        ("section_00_0042.wav", ("00", None, None, -1, 42, "")),
        ("normal_id_04_00000123.wav", ("04", None, None, 0, 123, "")),
        ("anomaly_id_00_00000001.wav", ("00", None, None, 1, 1, "")),
        ("id_05_00000007.wav", ("05", None, None, -1, 7, "")),
    ],
)
def test_parse_every_naming_scheme(name, expected):
    meta = parse_dcase_filename(name)
    assert (meta["section"], meta["domain"], meta["split"], meta["label"], meta["index"], meta["attributes"]) == expected


@pytest.mark.parametrize("name", ["readme.wav", "section_xx_0001.wav", "normal_00_0001.wav", "section_00.wav"])
def test_parse_rejects_other_names(name):
    assert parse_dcase_filename(name) is None


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", min_size=1, max_size=5)


@given(
    section=st.integers(0, 99).map(lambda s: f"{s:02d}"),
    domain=st.sampled_from(["source", "target"]),
    split=st.sampled_from(["train", "test"]),
    label=st.sampled_from([0, 1]),
    index=st.integers(0, 9999),
    pairs=st.lists(st.tuples(_token, _token), max_size=3),
)
def test_format_and_parse_are_inverse(section, domain, split, label, index, pairs):
    attributes = "_".join(f"{k}_{v}" for k, v in pairs)
    name = format_dcase_filename(section, domain, split, label, index, attributes)
    assert parse_dcase_filename(name) == {
        "section": section,
        "domain": domain,
        "split": split,
        "label": label,
        "index": index,
        "attributes": attributes,
    }


# --- the real DCASE 2023 clips ----------------------------------------------


def test_load_every_real_clip_and_its_attributes(dcase_samples, valve_test):
    samples = load_dcase(dcase_samples, verbose=0)
    valve = load_dcase(valve_test, verbose=0)
    assert len(samples.frame) + len(valve.frame) == 228
    assert samples.data.dtype == np.float32 and valve.data.dtype == np.float32
    assert list(samples.frame.columns[: len(FRAME_COLUMNS)]) == list(FRAME_COLUMNS)
    # ToyCar and ToyTrain clips last 12 s, the others 10 s: padded to the longest.
    assert samples.data.shape == (28, 12 * 16000)
    assert set(samples.frame["n_samples_original"]) == {10 * 16000, 12 * 16000}
    for machine, names in ATTRIBUTE_NAMES.items():
        rows = samples.frame[samples.frame["machine"] == machine]
        assert len(rows) == 4
        for name in names:
            assert rows["attr_" + name].notna().all(), (machine, name)
        for row in rows.itertuples():
            assert row.aux_label == f"{machine}|{row.attributes}"
    gearbox = samples.frame[samples.frame["machine"] == "gearbox"]
    assert sorted(gearbox["attr_wt"]) == ["0", "130", "150", "50"]
    assert set(gearbox["attr_volt"]) == {"1.5"}
    counts = valve.frame.groupby(["domain", "label"]).size()
    assert counts.to_dict() == {("source", 0): 50, ("source", 1): 50, ("target", 0): 50, ("target", 1): 50}
    np.testing.assert_array_equal(valve.target, valve.frame["label"].to_numpy())


def test_loaded_samples_equal_the_file_samples(dcase_samples):
    bunch = load_dcase(dcase_samples, machine_types=["valve", "fan"], split="train", verbose=0)
    assert set(bunch.frame["machine"]) == {"fan", "valve"}
    assert set(bunch.frame["split"]) == {"train"}
    for row, clip in zip(bunch.frame.itertuples(), bunch.data):
        expected, rate = sf.read(row.path, dtype="float32")
        assert rate == bunch.sample_rate
        np.testing.assert_array_equal(clip[: len(expected)], expected)


def test_duration_crops_and_resampling_changes_the_rate(dcase_samples):
    bunch = load_dcase(dcase_samples, machine_types="ToyCar", split="test", sample_rate=8000, duration=1.5, verbose=0)
    assert bunch.sample_rate == 8000
    assert bunch.data.shape == (2, 12000)
    assert (bunch.frame["n_samples_original"] == 12 * 8000).all()


def test_resampling_keeps_a_tone(tmp_path):
    # Halving the rate keeps a tone below the new Nyquist frequency.
    tone = _tone(n=16000, freq=1000.0)
    _write(tmp_path / "fan" / "train" / "section_00_source_train_normal_0000_a_1.wav", tone)
    bunch = load_dcase(tmp_path, sample_rate=8000, verbose=0)
    spectrum = np.abs(np.fft.rfft(bunch.data[0]))
    assert bunch.data.shape == (1, 8000)
    assert np.argmax(spectrum) * bunch.sample_rate / bunch.data.shape[1] == pytest.approx(1000.0, abs=1.0)


def test_padding_is_zeros_and_channel_selection(tmp_path):
    stereo = np.stack([_tone(800), _tone(800, freq=1000.0)], axis=1)
    _write(tmp_path / "pump" / "test" / "section_00_source_test_normal_0000_a_1.wav", stereo)
    _write(tmp_path / "pump" / "test" / "section_00_source_test_normal_0001_a_1.wav", np.stack([_tone(1600)] * 2, 1))
    first = load_dcase(tmp_path, verbose=0)
    second = load_dcase(tmp_path, channel=1, verbose=0)
    assert first.data.shape == (2, 1600)
    assert not first.data[0, 800:].any()
    assert first.frame["n_samples_original"].tolist() == [800, 1600]
    quantised = sf.read(str(tmp_path / "pump/test/section_00_source_test_normal_0000_a_1.wav"), dtype="float32")[0]
    np.testing.assert_array_equal(second.data[0, :800], quantised[:, 1])
    with pytest.raises(ValueError, match=r"channel=2 but .*0000_a_1\.wav' has 2 channel\(s\)"):
        load_dcase(tmp_path, channel=2, verbose=0)


@pytest.mark.parametrize("rate", [None, 16000, 11025, 44100])
def test_clip_length_reads_the_length_load_dcase_gives_from_the_headers(tmp_path, rate):
    # 1601 samples at 16 kHz is not a whole number of samples at 11025 Hz: the length rounds up, as resample_poly's.
    # fan: 800 twice, 1601 once (most common: 800); pump: 1200 and 1300 once each (equally common: the longer).
    clips = [("fan", 800), ("fan", 800), ("fan", 1601), ("pump", 1200), ("pump", 1300)]
    for index, (machine, n) in enumerate(clips):
        _write(tmp_path / machine / "train" / f"section_00_source_train_normal_{index:04d}_a_1.wav", _tone(n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the 1601-sample fan clip is cropped, with a warning
        loaded = load_dcase(tmp_path, sample_rate=rate, verbose=0)
        expected = loaded.sample_rate, math.ceil(1300 * loaded.sample_rate / 16000)
        assert clip_length(tmp_path, sample_rate=rate) == (loaded.sample_rate, loaded.data.shape[1]) == expected
        assert clip_length(tmp_path, "fan", sample_rate=rate)[1] == load_dcase(
            tmp_path, "fan", sample_rate=rate, verbose=0).data.shape[1] == math.ceil(800 * loaded.sample_rate / 16000)
    assert longest_clip(tmp_path, sample_rate=rate) == (loaded.sample_rate, math.ceil(1601 * loaded.sample_rate / 16000))


@pytest.mark.parametrize("duration", [None, 0.05])
def test_memmap_holds_the_same_waveforms_on_disk(tmp_path, dcase_samples, duration):
    in_memory = load_dcase(dcase_samples, machine_types=["fan", "valve"], duration=duration, verbose=0)
    on_disk = load_dcase(dcase_samples, machine_types=["fan", "valve"], duration=duration, memmap=tmp_path / "w.npy",
                         verbose=0)
    assert isinstance(on_disk.data, np.memmap) and on_disk.data.dtype == np.float32
    np.testing.assert_array_equal(on_disk.data, in_memory.data)
    pd.testing.assert_frame_equal(on_disk.frame, in_memory.frame)
    # Copy-on-write: an estimator may write to its input without changing the file.
    on_disk.data[0, 0] = 5.0
    assert np.load(tmp_path / "w.npy", mmap_mode="r")[0, 0] == in_memory.data[0, 0]


def test_2020_names_and_evaluation_sets(tmp_path):
    _write(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav", _tone())
    _write(tmp_path / "fan" / "test" / "anomaly_id_00_00000003.wav", _tone())
    _write(tmp_path / "fan" / "test" / "id_02_00000001.wav", _tone())
    _write(tmp_path / "slider" / "test" / "section_00_0001.wav", _tone())
    bunch = load_dcase(tmp_path, verbose=0)
    frame = bunch.frame.set_index("path")
    row = frame.loc[str(tmp_path / "fan" / "test" / "anomaly_id_00_00000003.wav")]
    assert (row["split"], row["label"], row["section"], row["aux_label"]) == ("test", 1, "00", "fan|section_00")
    # Machine types in name order, train before test, files in name order.
    assert bunch.target.tolist() == [0, 1, -1, -1]
    assert frame["domain"].isna().sum() == 4


def test_save_then_load_round_trip(tmp_path, dcase_samples):
    original = load_dcase(dcase_samples, machine_types=["bearing", "slider"], verbose=0)
    frame = save_dcase(original, tmp_path, audio_format="flac")
    assert all(Path(p).exists() for p in frame["path"])
    again = load_dcase(tmp_path, verbose=0)
    assert again.data.shape == original.data.shape
    # The clips were 16-bit already: writing them again is exact.
    np.testing.assert_array_equal(again.data, original.data)
    columns = ["machine", "section", "domain", "split", "label", "index", "attributes", "aux_label"]
    pd.testing.assert_frame_equal(again.frame[columns], original.frame[columns])


def test_dcase_2021_test_folders_split_by_domain(tmp_path, dcase_samples):
    # DCASE 2021 keeps its test clips in source_test/ and target_test/ instead of test/.
    original = load_dcase(dcase_samples, machine_types=["bearing", "slider"], verbose=0)
    frame = save_dcase(original, tmp_path, audio_format="flac")
    for path, domain in zip(frame["path"], frame["domain"], strict=True):
        path = Path(path)
        if path.parent.name == "test":
            moved = path.parent.parent / f"{domain}_test" / path.name
            moved.parent.mkdir(exist_ok=True)
            path.rename(moved)
    assert not [path for machine in ("bearing", "slider") for path in (tmp_path / machine / "test").glob("*.flac")]
    again = load_dcase(tmp_path, verbose=0)
    columns = ["machine", "section", "domain", "split", "label", "index", "attributes", "aux_label"]
    key = ["machine", "split", "domain", "index", "label"]
    expected = original.frame[columns].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(again.frame[columns].sort_values(key).reset_index(drop=True), expected)
    test_only = load_dcase(tmp_path, split="test", verbose=0)
    assert (test_only.frame["split"] == "test").all()
    assert len(test_only.frame) == (original.frame["split"] == "test").sum()


# --- bad input --------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_fifo_named_like_audio_is_skipped_not_waited_on(tmp_path):
    _write(tmp_path / "fan" / "train" / "section_00_source_train_normal_0000.wav", _tone())
    fifo = tmp_path / "fan" / "train" / "section_00_source_train_normal_0001.wav"
    os.mkfifo(fifo)
    with pytest.warns(UserWarning, match=re.escape(
        f"{str(fifo)!r} is not a regular file (a FIFO, a device or a folder): skipped."
    )):
        bunch = load_dcase(tmp_path, verbose=0)
    assert bunch.frame["index"].tolist() == [0]


def test_folder_without_audio(tmp_path):
    (tmp_path / "fan" / "train").mkdir(parents=True)
    (tmp_path / "fan" / "train" / "notes.txt").write_text("nothing here")
    with pytest.raises(FileNotFoundError, match=r"No audio files \(\.wav, \.flac\) found under root="):
        load_dcase(tmp_path, verbose=0)
    with pytest.raises(FileNotFoundError, match=r"root='.*missing' is not a folder"):
        load_dcase(tmp_path / "missing", verbose=0)


def test_unknown_machine_type_and_split(tmp_path, dcase_samples):
    with pytest.raises(ValueError, match=r"machine_types=\['pump'\]: no folder for \['pump'\].*found there: \['ToyCar'"):
        load_dcase(dcase_samples, machine_types=["pump"], verbose=0)
    with pytest.raises(ValueError, match="split must be 'train', 'test' or None, got 'dev'"):
        load_dcase(dcase_samples, split="dev", verbose=0)


def test_unreadable_and_truncated_files(tmp_path):
    folder = tmp_path / "valve" / "train"
    good = _write(folder / "section_00_source_train_normal_0000_pat_00.wav", _tone())
    garbage = folder / "section_00_source_train_normal_0001_pat_00.wav"
    garbage.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match=r"Cannot read audio file '.*0001_pat_00\.wav'"):
        load_dcase(tmp_path, verbose=0)
    garbage.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"'.*0001_pat_00\.wav' is truncated: the header declares 3244 bytes"):
        load_dcase(tmp_path, verbose=0)
    garbage.unlink()
    flac = _write(folder / "section_00_source_train_normal_0002_pat_00.flac", np.random.default_rng(0).normal(0, 0.1, 16000))
    flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"'.*0002_pat_00\.flac' \(truncated or corrupt\?\)"):
        load_dcase(tmp_path, verbose=0)


def test_file_name_that_does_not_parse(tmp_path):
    _write(tmp_path / "fan" / "train" / "section_00_source_train_normal_0000_a_1.wav", _tone())
    _write(tmp_path / "fan" / "train" / "recording_monday.wav", _tone())
    with pytest.warns(UserWarning, match=r"File name 'recording_monday\.wav' .* matches no DCASE naming scheme\. Skipped"):
        bunch = load_dcase(tmp_path, verbose=0)
    assert len(bunch.frame) == 1
    with pytest.raises(ValueError, match=r"File name 'recording_monday\.wav' .* matches no DCASE naming scheme\.$"):
        load_dcase(tmp_path, strict=True, verbose=0)


def test_non_finite_empty_and_silent_clips(tmp_path):
    folder = tmp_path / "fan" / "train"
    bad = _tone()
    bad[10] = np.nan
    _write(folder / "section_00_source_train_normal_0000_a_1.wav", bad, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"'.*0000_a_1\.wav' contains NaN or infinite samples"):
        load_dcase(tmp_path, verbose=0)
    _write(folder / "section_00_source_train_normal_0000_a_1.wav", np.zeros(0, np.float32))
    with pytest.raises(ValueError, match=r"'.*0000_a_1\.wav' is empty \(0 samples\)"):
        load_dcase(tmp_path, verbose=0)
    _write(folder / "section_00_source_train_normal_0000_a_1.wav", np.zeros(1600, np.float32))
    with pytest.raises(ValueError, match=r"'.*0000_a_1\.wav' is silent \(all samples are zero\)"):
        load_dcase(tmp_path, verbose=0)


def test_mismatched_sample_rates(tmp_path):
    folder = tmp_path / "fan" / "train"
    _write(folder / "section_00_source_train_normal_0000_a_1.wav", _tone(), rate=16000)
    _write(folder / "section_00_source_train_normal_0001_a_1.wav", _tone(), rate=22050)
    message = r"different sample rates \[16000, 22050\] .*pass sample_rate= to resample them"
    with pytest.raises(ValueError, match=message):
        load_dcase(tmp_path, verbose=0)
    bunch = load_dcase(tmp_path, sample_rate=16000, verbose=0)
    assert bunch.frame["n_samples_original"].tolist() == [1600, round(1600 * 16000 / 22050)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"duration": 0}, "duration must be a positive, finite number of seconds or None, got 0"),
        ({"duration": float("inf")}, "duration must be a positive, finite number of seconds or None, got inf"),
        ({"sample_rate": 16000.5}, "sample_rate must be a positive integer or None, got 16000.5"),
        ({"channel": -1}, "channel must be a non-negative integer, got -1"),
    ],
)
def test_bad_parameters(kwargs, message, tmp_path):
    # The parameters are checked before the folder is read.
    with pytest.raises(ValueError, match=re.escape(message)):
        load_dcase(tmp_path, verbose=0, **kwargs)


def test_parallel_reading_gives_the_same_data(valve_test):
    one = load_dcase(valve_test, verbose=0, n_jobs=1, duration=1.0)
    two = load_dcase(valve_test, verbose=0, n_jobs=2, duration=1.0)
    np.testing.assert_array_equal(one.data, two.data)
    pd.testing.assert_frame_equal(one.frame, two.frame)


def test_progress_bar_goes_to_stderr(capsys, dcase_samples):
    load_dcase(dcase_samples, machine_types="fan", split="train", verbose=1)
    assert "Reading audio" in capsys.readouterr().err
    load_dcase(dcase_samples, machine_types="fan", split="train", verbose=0)
    assert capsys.readouterr().err == ""


# --- submission files -------------------------------------------------------


def test_submission_files(tmp_path, dcase_samples):
    bunch = load_dcase(dcase_samples, split="test", machine_types=["fan", "valve"], verbose=0)
    scores = np.linspace(0.0, 1.0, len(bunch.frame))
    paths = write_dcase_submission(tmp_path, bunch.frame, scores, decision=scores > 0.5)
    assert [p.name for p in paths] == [
        "anomaly_score_fan_section_00_test.csv",
        "decision_result_fan_section_00_test.csv",
        "anomaly_score_valve_section_00_test.csv",
        "decision_result_valve_section_00_test.csv",
    ]
    written = pd.read_csv(paths[2], header=None, names=["file", "score"])
    valve = bunch.frame["machine"] == "valve"
    assert written["file"].tolist() == [Path(p).name for p in bunch.frame.loc[valve, "path"]]
    np.testing.assert_array_equal(written["score"].to_numpy(), scores[valve.to_numpy()])
    decisions = pd.read_csv(paths[3], header=None)[1].tolist()
    assert decisions == (scores[valve.to_numpy()] > 0.5).astype(int).tolist()


def test_submission_rows_are_in_file_name_order(tmp_path, dcase_samples):
    bunch = load_dcase(dcase_samples, split="test", machine_types=["fan", "valve"], verbose=0)
    reversed_frame = bunch.frame.iloc[::-1].reset_index(drop=True)
    scores = np.arange(len(reversed_frame), dtype=float)
    paths = write_dcase_submission(tmp_path, reversed_frame, scores, decision=scores > 1)
    for path in paths:
        names = pd.read_csv(path, header=None)[0].tolist()
        assert names == sorted(names) and len(names) == 2
    written = pd.read_csv(tmp_path / "anomaly_score_valve_section_00_test.csv", header=None, names=["file", "score"])
    expected = dict(zip(reversed_frame["path"].map(lambda p: Path(p).name), scores, strict=True))
    assert written["score"].tolist() == [expected[name] for name in written["file"]]


def test_submission_bad_input(tmp_path, dcase_samples):
    frame = load_dcase(dcase_samples, split="test", machine_types="fan", verbose=0).frame
    with pytest.raises(ValueError, match="anomaly_score has 3 values but frame has 2 rows"):
        write_dcase_submission(tmp_path, frame, [1.0, 2.0, 3.0], threshold=0)
    with pytest.raises(ValueError, match=r"Pass decision= \(1 for anomalous clips\) or threshold="):
        write_dcase_submission(tmp_path, frame, [1.0, 2.0])
    with pytest.raises(ValueError, match="anomaly_score contains NaN or infinite values"):
        write_dcase_submission(tmp_path, frame, [1.0, np.nan], threshold=0)
    with pytest.raises(ValueError, match=r"decision must hold 0/1 or booleans"):
        write_dcase_submission(tmp_path, frame, [1.0, 2.0], decision=[1, -1])


def test_load_warns_about_nothing_on_clean_data(dcase_samples):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_dcase(dcase_samples, verbose=0)


def test_a_streamed_wav_with_placeholder_sizes_reads_whole(tmp_path):
    """FFmpeg writing to a pipe leaves 0xFFFFFFFF as the RIFF and data sizes; the samples are all there."""
    tone = _tone(1600)
    whole = _write(tmp_path / "a" / "fan" / "train" / "section_00_source_train_normal_0000.wav", tone)
    streamed = tmp_path / "b" / "fan" / "train" / whole.name
    streamed.parent.mkdir(parents=True)
    data = bytearray(whole.read_bytes())
    data[4:8] = b"\xff\xff\xff\xff"
    position = data.index(b"data")
    data[position + 4: position + 8] = b"\xff\xff\xff\xff"
    streamed.write_bytes(bytes(data))
    expected = load_dcase(tmp_path / "a", verbose=0).data
    np.testing.assert_array_equal(load_dcase(tmp_path / "b", verbose=0).data, expected)


def test_one_long_clip_among_many_is_cropped_to_the_most_common_length_and_named(tmp_path):
    for index in range(9):
        _write(tmp_path / "fan" / "train" / f"section_00_source_train_normal_{index:04d}.wav", _tone(1600))
    long = _write(tmp_path / "fan" / "train" / "section_00_source_train_normal_0009.wav", _tone(16000))
    message = re.escape(
        f"Clip lengths differ: 1 of the 10 fan clips are more than 5 % longer than the 0.1 s every clip is given (the "
        f"most common length), the longest {str(long)!r} (1 s): their ends are cropped. Pass duration=1 (skasd "
        "evaluate --duration) to pad every clip to the longest instead."
    )
    with pytest.warns(UserWarning, match=message):
        bunch = load_dcase(tmp_path, verbose=0)
    # Not padded to the one long clip: nine clips of silence would change every score and take 10x the memory.
    assert bunch.data.shape == (10, 1600)
    assert bunch.frame["n_samples_original"].tolist() == [1600] * 9 + [16000]
    np.testing.assert_allclose(bunch.data[9], _tone(16000)[:1600], atol=2 ** -15)  # its start, as 16-bit PCM
    with pytest.warns(UserWarning, match=message):
        assert clip_length(tmp_path) == (16000, 1600)  # said also when the set is read part by part
    assert longest_clip(tmp_path) == (16000, 16000)
    assert load_dcase(tmp_path, duration=1, verbose=0).data.shape == (10, 16000)
    # Machine types of different lengths, each uniform (DCASE 2023's 10 s and 12 s): no warning.
    for index in range(3):
        _write(tmp_path / "pump" / "train" / f"section_00_source_train_normal_{index:04d}.wav", _tone(3200))
    long.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_dcase(tmp_path, verbose=0).data.shape == (12, 3200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_dcase(tmp_path, duration=0.1, verbose=0).data.shape == (12, 1600)


def test_a_clip_cut_short_is_named_not_silently_padded(tmp_path):
    for index in range(5):
        _write(tmp_path / "fan" / "train" / f"section_00_source_train_normal_{index:04d}.wav", _tone(1600))
    short = _write(tmp_path / "fan" / "train" / "section_00_source_train_normal_0005.wav", np.full(1, 0.1, np.float32))
    with pytest.warns(UserWarning, match=re.escape(
        f"1 of the 6 fan clips are less than half as long as their most common length (0.1 s), the shortest "
        f"{str(short)!r} "
        "(6.25e-05 s): they are padded with silence. Check the recordings."
    )):
        bunch = load_dcase(tmp_path, verbose=0)
    assert bunch.data.shape == (6, 1600) and not bunch.data[5, 1:].any()
