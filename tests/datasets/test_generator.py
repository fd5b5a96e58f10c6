"""Tests of make_machine_sounds, the synthetic DCASE-like data generator."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skasd.datasets import load_dcase, make_machine_sounds

MACHINE_TYPES = ["fan", "pump", "gearbox", "bearing"]
ANOMALY_KINDS = ["bearing_defect", "imbalance", "harmonic_change", "friction"]

# Small data sets keep the whole file fast.
SMALL = dict(n_source_train=6, n_target_train=2, n_test_normal=2, n_test_anomalous=4, duration=0.25)


def _small(**params):
    return make_machine_sounds(**{**SMALL, **params})


def test_bunch_matches_the_loader_contract():
    sounds = _small(machine_types=["fan", "gearbox"], random_state=0)
    n_per_machine = 6 + 2 + 2 * (2 + 4)
    assert sounds.data.shape == (2 * n_per_machine, 4000)
    assert sounds.data.dtype == np.float32
    assert np.all(np.isfinite(sounds.data))
    assert 0 < np.abs(sounds.data).max() < 0.95
    assert sounds.sample_rate == 16000
    assert isinstance(sounds.DESCR, str) and "gearbox section 00: 23 teeth" in sounds.DESCR
    frame = sounds.frame
    np.testing.assert_array_equal(sounds.target, frame["label"].to_numpy())
    assert list(frame.columns[-3:]) == ["attr_spd", "attr_load", "anomaly_kind"]
    assert frame["path"].isna().all()
    assert set(frame["section"]) == {"00"}
    assert (frame["n_samples_original"] == 4000).all()


def test_counts_per_group_match_the_parameters():
    sounds = make_machine_sounds(
        machine_types=["pump", "bearing"],
        n_sections=2,
        n_source_train=5,
        n_target_train=3,
        n_test_normal=2,
        n_test_anomalous=4,
        duration=0.1,
        random_state=0,
    )
    sizes = sounds.frame.groupby(["machine", "section", "domain", "split", "label"]).size()
    expected = {
        ("source", "train", 0): 5,
        ("target", "train", 0): 3,
        ("source", "test", 0): 2,
        ("source", "test", 1): 4,
        ("target", "test", 0): 2,
        ("target", "test", 1): 4,
    }
    for machine in ("pump", "bearing"):
        for section in ("00", "01"):
            for key, count in expected.items():
                assert sizes[(machine, section, *key)] == count
    # Indices number the clips of each group from 1, as in DCASE file names.
    indices = sounds.frame.groupby(["machine", "section", "domain", "split", "label"])["index"]
    assert (indices.min() == 1).all()
    assert (indices.max() == indices.size()).all()


def test_anomalous_test_clips_spread_evenly_over_the_kinds():
    sounds = _small(machine_types="fan", anomaly_kinds=["friction", "imbalance"], random_state=0)
    frame = sounds.frame
    anomalous = frame[frame["label"] == 1]
    assert anomalous.groupby(["domain", "anomaly_kind"]).size().to_dict() == {
        ("source", "friction"): 2,
        ("source", "imbalance"): 2,
        ("target", "friction"): 2,
        ("target", "imbalance"): 2,
    }
    assert (frame.loc[frame["label"] == 0, "anomaly_kind"] == "").all()


def test_same_random_state_same_data_and_different_random_state_different_data():
    first = _small(machine_types="pump", random_state=3)
    again = _small(machine_types="pump", random_state=np.random.RandomState(3))
    other = _small(machine_types="pump", random_state=4)
    np.testing.assert_array_equal(first.data, again.data)
    assert first.frame.equals(again.frame)
    assert not np.array_equal(first.data, other.data)


def test_result_does_not_depend_on_n_jobs():
    sequential = _small(machine_types=["fan", "bearing"], random_state=1, n_jobs=1)
    parallel = _small(machine_types=["fan", "bearing"], random_state=1, n_jobs=2)
    np.testing.assert_array_equal(sequential.data, parallel.data)
    assert sequential.frame.equals(parallel.frame)


def test_a_machine_types_clips_do_not_depend_on_the_other_types():
    all_types = _small(random_state=5)
    pump_only = _small(machine_types="pump", random_state=5)
    is_pump = (all_types.frame["machine"] == "pump").to_numpy()
    np.testing.assert_array_equal(all_types.data[is_pump], pump_only.data)


def test_contamination_hides_anomalous_clips_labelled_normal_in_training():
    sounds = _small(
        machine_types="gearbox", n_source_train=20, n_target_train=5, contamination=0.2, random_state=0
    )
    train = sounds.frame[sounds.frame["split"] == "train"]
    assert (train["label"] == 0).all()
    hidden = train[train["anomaly_kind"] != ""]
    assert hidden.groupby("domain").size().to_dict() == {"source": 4, "target": 1}
    assert set(hidden["anomaly_kind"]) <= set(ANOMALY_KINDS)
    # The test set is planned apart from the training set.
    clean = _small(machine_types="gearbox", n_source_train=20, n_target_train=5, random_state=0)
    is_test = (sounds.frame["split"] == "test").to_numpy()
    np.testing.assert_array_equal(sounds.data[is_test], clean.data[is_test])


def test_zero_strength_anomalies_are_exactly_the_normal_clips():
    # Anomalies are added on top of the normal clip drawn from the same seed,
    # so at strength 0 a contaminated training set (one clip of each kind)
    # is bit for bit the clean one.
    params = dict(machine_types=["fan", "bearing"], n_source_train=8, anomaly_strength=0.0, random_state=2)
    contaminated = _small(contamination=0.5, **params)
    clean = _small(contamination=0.0, **params)
    train = contaminated.frame[contaminated.frame["split"] == "train"]
    assert set(train["anomaly_kind"]) == {""} | set(ANOMALY_KINDS)
    np.testing.assert_array_equal(contaminated.data, clean.data)


def test_anomaly_is_a_signal_scaled_by_the_strength():
    params = dict(machine_types=["pump", "gearbox"], random_state=7)
    clips = {strength: _small(anomaly_strength=strength, **params).data for strength in (0.0, 1.0, 2.0)}
    anomalous = _small(**params).frame["label"].to_numpy() == 1
    # Normal clips do not depend on the strength.
    np.testing.assert_array_equal(clips[0.0][~anomalous], clips[2.0][~anomalous])
    added = clips[1.0][anomalous] - clips[0.0][anomalous]
    assert np.all(np.sqrt(np.mean(added**2, axis=1)) > 1e-4)
    np.testing.assert_allclose(clips[2.0][anomalous] - clips[0.0][anomalous], 2 * added, atol=1e-6)


def _peak_frequency(clip, sample_rate, low, high):
    """The strongest spectral line between low and high, from a zero-padded FFT."""
    n_fft = 8 * len(clip)
    spectrum = np.abs(np.fft.rfft(clip * np.hanning(len(clip)), n=n_fft))
    frequencies = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    band = (frequencies >= low) & (frequencies <= high)
    return frequencies[band][np.argmax(spectrum[band])]


@pytest.mark.parametrize(
    "machine, order",
    # Documented characteristic orders of section 00: blades, vanes, teeth, shaft.
    [("fan", 7), ("pump", 6), ("gearbox", 23), ("bearing", 1)],
)
def test_speed_attribute_sets_the_fundamental(machine, order):
    sounds = make_machine_sounds(
        machine_types=machine,
        n_source_train=12,
        n_target_train=0,
        n_test_normal=0,
        n_test_anomalous=0,
        duration=1.0,
        random_state=0,
    )
    speeds_rpm = sounds.frame["attr_spd"].astype(int).to_numpy()
    assert len(set(speeds_rpm)) == 3
    for clip, speed_rpm in zip(sounds.data, speeds_rpm):
        expected_hz = order * speed_rpm / 60
        peak_hz = _peak_frequency(clip, sounds.sample_rate, 0.6 * expected_hz, 1.4 * expected_hz)
        # Speed jitters by up to 1.5 % within its attribute value.
        assert abs(peak_hz - expected_hz) <= 0.02 * expected_hz + 0.5


def test_attributes_parse_into_attribute_columns():
    sounds = _small(machine_types="fan", n_sections=3, random_state=0)
    frame = sounds.frame
    pairs = frame["attributes"].str.extract(r"^spd_(\d+)_load_(\d+)$")
    assert not pairs.isna().any().any()
    assert (pairs[0] == frame["attr_spd"]).all() and (pairs[1] == frame["attr_load"]).all()
    assert (frame["aux_label"] == "fan|" + frame["attributes"]).all()
    source = frame[frame["domain"] == "source"]
    assert set(source["attr_spd"]) <= {"900", "1200", "1500"} and set(source["attr_load"]) <= {"40", "70"}
    # Section 00's target domain runs at other speeds, section 01's at other loads.
    target = frame[frame["domain"] == "target"]
    assert set(target.loc[target["section"] == "00", "attr_spd"]) <= {"600", "1800"}
    assert set(target.loc[target["section"] == "01", "attr_load"]) <= {"10", "100"}


def test_progress_bar_when_verbose(capsys):
    _small(machine_types="fan", random_state=0, verbose=1)
    assert "Generating clips" in capsys.readouterr().err
    _small(machine_types="fan", random_state=0, verbose=0)
    assert "Generating clips" not in capsys.readouterr().err


def test_out_dir_writes_the_dcase_layout(tmp_path):
    sounds = _small(machine_types=["fan", "pump"], contamination=0.5, random_state=0, out_dir=tmp_path)
    paths = [Path(path) for path in sounds.frame["path"]]
    assert all(path.is_file() for path in paths)
    assert paths[0].parent == tmp_path / "fan" / "train"
    assert re.fullmatch(r"section_00_source_train_normal_0001_spd_\d+_load_\d+\.wav", paths[0].name)
    again = load_dcase(tmp_path, verbose=0)
    row_of = {path: row for row, path in enumerate(again.frame["path"])}
    rows = [row_of[str(path)] for path in paths]
    np.testing.assert_allclose(again.data[rows], sounds.data, atol=1 / 32768)
    np.testing.assert_array_equal(again.frame["label"].to_numpy()[rows], sounds.frame["label"].to_numpy())


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(contamination=1.0), "contamination"),
        (dict(contamination=-0.1), "contamination"),
        (dict(machine_types=["fan", "drill"]), r"machine_types .*'drill'"),
        (dict(machine_types=[]), "machine_types"),
        (dict(machine_types=["fan", "fan"]), "machine_types lists a value twice"),
        (dict(anomaly_kinds="rust"), r"anomaly_kinds .*'rust'"),
        (dict(n_source_train=0), "n_source_train"),
        (dict(n_test_anomalous=-1), "n_test_anomalous"),
        (dict(n_sections=0), "n_sections"),
        (dict(duration=0.0), "duration"),
        (dict(sample_rate=4000), "sample_rate"),
        (dict(anomaly_strength=-1.0), "anomaly_strength"),
        (dict(anomaly_strength=float("inf")), "anomaly_strength"),
    ],
)
def test_bad_parameters_raise_a_clear_value_error(params, message):
    with pytest.raises(ValueError, match=message):
        make_machine_sounds(**params)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    strength=st.floats(0.0, 50.0),
    machine=st.sampled_from(MACHINE_TYPES),
    kind=st.sampled_from(ANOMALY_KINDS),
    sample_rate=st.sampled_from([8000, 16000, 22050]),
)
def test_clips_are_finite_and_bounded_at_any_strength(seed, strength, machine, kind, sample_rate):
    sounds = make_machine_sounds(
        machine_types=machine,
        n_source_train=1,
        n_target_train=1,
        n_test_normal=0,
        n_test_anomalous=2,
        duration=0.2,
        sample_rate=sample_rate,
        anomaly_strength=strength,
        anomaly_kinds=kind,
        random_state=seed,
    )
    n_samples = round(0.2 * sample_rate)
    assert sounds.data.shape == (6, n_samples)
    assert np.all(np.isfinite(sounds.data))
    peaks = np.abs(sounds.data).max(axis=1)
    assert np.all(peaks <= 0.95) and np.all(peaks > 1e-3)
