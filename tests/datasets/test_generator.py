"""Tests of make_machine_sounds, the synthetic DCASE-like data generator."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skasd.datasets import _sound_physics as physics
from skasd.datasets import load_dcase, make_machine_sounds
from skasd.datasets._generator import _MACHINE_SPECS, _draw_unit

MACHINE_TYPES = ["fan", "pump", "gearbox", "bearing"]
# The kinds drawn by default, then the order-locked faults, drawn when asked for.
DEFAULT_KINDS = ["bearing_defect", "imbalance", "harmonic_change", "friction"]
ORDER_LOCKED_KINDS = ["bearing_tones", "blade_damage", "looseness", "clicks"]
ANOMALY_KINDS = DEFAULT_KINDS + ORDER_LOCKED_KINDS

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
    assert set(train["anomaly_kind"]) == {""} | set(DEFAULT_KINDS)
    np.testing.assert_array_equal(contaminated.data, clean.data)


@pytest.mark.parametrize("kind", ORDER_LOCKED_KINDS)
def test_order_locked_faults_are_deterministic_and_scaled_by_the_strength(kind):
    params = dict(machine_types=["fan", "gearbox"], anomaly_kinds=kind)
    clips = {strength: _small(anomaly_strength=strength, random_state=11, **params).data for strength in (0, 1, 2)}
    again = _small(random_state=np.random.RandomState(11), **params).data
    other = _small(random_state=12, **params).data
    np.testing.assert_array_equal(clips[1], again)
    assert not np.array_equal(clips[1], other)
    anomalous = _small(random_state=11, **params).frame["label"].to_numpy() == 1
    np.testing.assert_array_equal(clips[0][~anomalous], clips[2][~anomalous])
    added = clips[1][anomalous] - clips[0][anomalous]
    assert np.all(np.sqrt(np.mean(added**2, axis=1)) > 1e-4)
    np.testing.assert_allclose(clips[2][anomalous] - clips[0][anomalous], 2 * added, atol=1e-6)


def test_default_anomaly_kinds_are_the_first_four():
    kinds = set(_small(machine_types="pump", n_test_anomalous=8, random_state=0).frame["anomaly_kind"])
    assert kinds == {""} | set(DEFAULT_KINDS)


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


# The physics of the order-locked faults, on a machine turning at exactly
# 25 Hz for 4 s (every shaft order on an FFT bin) heard through a flat
# structure, so that each line sits where the kinematics put it.
SHAFT_HZ = 25.0
RATE = 16000


def _steady_motion(unit, duration=4.0):
    n_samples = int(duration * RATE)
    angle = 2 * np.pi * SHAFT_HZ * np.arange(n_samples) / RATE
    frequencies = np.fft.rfftfreq(n_samples, 1 / RATE)
    tonal = sum(
        level * np.cos(h * unit.order * angle)
        for h, level in enumerate(unit.harmonic_levels, start=1)
        if h * unit.order * SHAFT_HZ < 0.45 * RATE
    )
    return physics._Motion(
        shaft_hz=SHAFT_HZ,
        shaft_angle=angle,
        harmonic_phases=np.zeros(len(unit.harmonic_levels)),
        response=np.ones(len(frequencies)),
        frequencies=frequencies,
        tonal=tonal,
        machine=tonal,
        machine_rms=float(np.sqrt(np.mean(tonal**2))),
    )


def _unit(machine, seed=0):
    return _draw_unit(_MACHINE_SPECS[machine], 0, np.random.default_rng(seed))


def _line_levels_db(signal, frequencies_hz, tolerance_hz=0.6):
    """Peak level (dB re the strongest line) near each frequency, from a Hann-windowed FFT."""
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal)), n=4 * len(signal)))
    grid = np.fft.rfftfreq(4 * len(signal), 1 / RATE)
    peaks = [spectrum[np.abs(grid - hz) <= tolerance_hz].max() for hz in frequencies_hz]
    return 20 * np.log10(np.asarray(peaks) / spectrum.max())


def test_bearing_tones_sit_at_the_defect_frequency_its_harmonics_and_shaft_sidebands():
    unit = _unit("pump")
    races = set()
    for seed in range(12):
        motion = _steady_motion(unit)
        tones = physics._bearing_tones(unit, motion, np.random.default_rng(seed), RATE)
        np.testing.assert_allclose(np.sqrt(np.mean(tones**2)), physics._FAULT_LEVEL * motion.machine_rms)
        # Which race: the one whose defect frequency carries the strongest line.
        outer_hz, inner_hz = unit.outer_race_order * SHAFT_HZ, unit.inner_race_order * SHAFT_HZ
        outer, inner = _line_levels_db(tones, [outer_hz, inner_hz])
        inner_race = inner > outer
        defect_hz = inner_hz if inner_race else outer_hz
        races.add(inner_race)
        harmonics = _line_levels_db(tones, defect_hz * np.arange(1, 5))
        # The defect frequency and its harmonics, 0.6 times weaker each (+-2 dB jitter).
        assert np.all(harmonics > -22)
        # Between two harmonics, where no line should be, the spectrum is far below.
        assert np.all(_line_levels_db(tones, defect_hz * np.array([1.37, 2.61])) < -40)
        sidebands = _line_levels_db(tones, [defect_hz - SHAFT_HZ, defect_hz + SHAFT_HZ])
        if inner_race:
            # Amplitude modulation at the shaft rate (depth 0.6): sidebands 10 dB below the line.
            np.testing.assert_allclose(sidebands - harmonics[0], 20 * np.log10(0.3), atol=1.0)
        else:
            assert np.all(sidebands < -40)
    assert races == {False, True}


def test_bearing_tones_add_energy_at_the_defect_frequency_that_the_normal_clip_lacks():
    machine = "fan"
    unit = _unit(machine, seed=3)
    condition = unit.source_conditions[0]
    n_samples = 4 * RATE
    normal = physics.render_clip(unit, condition, "bearing_tones", 0.0, (3, 0), n_samples, RATE)
    faulty = physics.render_clip(unit, condition, "bearing_tones", 1.0, (3, 0), n_samples, RATE)
    shaft_hz = condition.speed_rpm / 60
    spectrum = {name: np.abs(np.fft.rfft(clip * np.hanning(n_samples))) ** 2 for name, clip in
                (("normal", normal), ("faulty", faulty))}
    frequencies = np.fft.rfftfreq(n_samples, 1 / RATE)

    def gain_db(hz):
        # Speed jitters by up to 1.5 % within its attribute value.
        band = np.abs(frequencies - hz) <= 0.02 * hz + 1
        return 10 * np.log10(spectrum["faulty"][band].sum() / spectrum["normal"][band].sum())

    gains = {
        race: [gain_db(order * k * shaft_hz) for k in (1, 2, 3)]
        for race, order in (("outer", unit.outer_race_order), ("inner", unit.inner_race_order))
    }
    # One race's defect frequency and its harmonics gain energy, several dB over the machine's own.
    assert max(min(gains["outer"]), min(gains["inner"])) > 3


def test_blade_damage_adds_shaft_rate_sidebands_around_the_blade_pass_frequency():
    unit = _unit("fan")
    motion = _steady_motion(unit)
    damage = physics._blade_damage(unit, motion, np.random.default_rng(0), RATE)
    blade_pass_hz = unit.order * SHAFT_HZ
    sidebands = _line_levels_db(damage, blade_pass_hz + SHAFT_HZ * np.array([-2, -1, 1, 2]))
    assert np.all(sidebands > -20)
    # Every line is at a shaft order: the damaged blade repeats once per revolution.
    assert np.all(_line_levels_db(damage, SHAFT_HZ * (np.arange(1, 40) + 0.5)) < -40)


def test_looseness_adds_shaft_harmonics_and_half_orders():
    unit = _unit("gearbox")
    motion = _steady_motion(unit)
    lines = physics._looseness(unit, motion, np.random.default_rng(0), RATE)
    harmonics = _line_levels_db(lines, SHAFT_HZ * np.arange(1, 11))
    half_orders = _line_levels_db(lines, SHAFT_HZ * (np.arange(10) + 0.5))
    assert np.all(harmonics > -25)
    assert np.all(half_orders > -30)
    assert np.all(_line_levels_db(lines, SHAFT_HZ * (np.arange(10) + 0.25)) < -40)


def test_clicks_strike_at_one_shaft_angle_on_some_revolutions():
    unit = _unit("bearing")
    motion = _steady_motion(unit)
    clicks = physics._clicks(unit, motion, np.random.default_rng(0), RATE)
    period = int(RATE / SHAFT_HZ)
    # Onsets: where the signal first rises above half its peak after a quiet stretch.
    loud = np.flatnonzero(np.abs(clicks) > 0.5 * np.abs(clicks).max())
    onsets = loud[np.insert(np.diff(loud) > period // 2, 0, True)]
    n_revolutions = len(clicks) // period
    assert 2 <= len(onsets) < 0.7 * n_revolutions
    # All at the same shaft angle: a whole number of revolutions apart.
    offsets = (onsets - onsets[0]) % period
    assert np.all(np.minimum(offsets, period - offsets) <= 2)
