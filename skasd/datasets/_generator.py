"""Synthetic DCASE-like machine sounds, for tests, examples and benchmarks.

Every clip is rendered from a small physical model of a rotating machine
recorded in a factory hall:

* the machine: a shaft turning at the speed attribute (with a little random
  jitter and slow wander), a characteristic tone at an integer order of the
  shaft rate (blade-pass, vane-pass or gear-mesh frequency) with harmonics
  and shaft-rate sidebands, shaft harmonics and broadband flow or rolling
  noise, all filtered through the structural resonances (modes) of the
  machine unit;
* the background: coloured noise, mains hum and distant intermittent events
  (impacts, compressed-air hisses);
* an anomaly, for anomalous clips: a signal *added* to the normal clip and
  scaled by ``anomaly_strength``, so that strength 0 gives exactly the normal
  clip drawn from the same seed.
"""

import numbers
import os
from dataclasses import dataclass
from itertools import product

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from tqdm.auto import tqdm

from ._dcase import save_dcase
from ._frame import make_frame

#: Machine types :func:`make_machine_sounds` can render.
MACHINE_TYPES = ("fan", "pump", "gearbox", "bearing")

#: Kinds of anomaly :func:`make_machine_sounds` can add.
ANOMALY_KINDS = ("bearing_defect", "imbalance", "harmonic_change", "friction")

#: What the target domain of section ``s`` differs in: ``_DOMAIN_SHIFTS[s % 3]``.
_DOMAIN_SHIFTS = ("speed", "load", "background")

_SOURCE_LOADS = (40, 70)
_TARGET_LOADS = (10, 100)


@dataclass(frozen=True)
class _MachineType:
    """What sets one machine type's sound apart; levels are amplitude ratios."""

    # Characteristic order (blades, vanes, gear teeth; 1: the shaft itself)
    # of sections 00, 01, ..., cycled.
    orders: tuple
    n_harmonics: int
    # Amplitude ratio between successive harmonics of the characteristic tone.
    harmonic_decay: float
    # Modulation of the characteristic tone at the shaft rate (gear
    # eccentricity, unequal blades), heard as sidebands at +-1x, +-2x.
    sideband_depth: float
    # 1x, 2x, ... shaft components relative to the characteristic tone.
    shaft_levels: tuple
    # Broadband (flow, rolling) noise RMS relative to the characteristic tone's
    # fundamental.
    noise_level: float
    # Band of the broadband noise at the reference speed; it scales with speed.
    noise_band_hz: tuple
    # Modulation of the broadband noise at the characteristic frequency
    # (blade-passing turbulence).
    noise_modulation: float
    source_speeds_rpm: tuple
    # Speeds of a speed-shifted target domain: one below, one above the source's.
    target_speeds_rpm: tuple

    @property
    def reference_speed_rpm(self):
        return self.source_speeds_rpm[len(self.source_speeds_rpm) // 2]


_MACHINE_SPECS = {
    "fan": _MachineType(
        orders=(7, 5, 9, 6, 11, 8),
        n_harmonics=4,
        harmonic_decay=0.45,
        sideband_depth=0.05,
        shaft_levels=(0.15, 0.08),
        noise_level=1.5,
        noise_band_hz=(80.0, 1500.0),
        noise_modulation=0.3,
        source_speeds_rpm=(900, 1200, 1500),
        target_speeds_rpm=(600, 1800),
    ),
    "pump": _MachineType(
        orders=(6, 5, 7, 8),
        n_harmonics=4,
        harmonic_decay=0.5,
        sideband_depth=0.08,
        shaft_levels=(0.3, 0.15, 0.05),
        noise_level=1.0,
        noise_band_hz=(200.0, 4000.0),
        noise_modulation=0.1,
        source_speeds_rpm=(1200, 1500, 1800),
        target_speeds_rpm=(900, 2400),
    ),
    "gearbox": _MachineType(
        orders=(23, 31, 19, 27, 37),
        n_harmonics=3,
        harmonic_decay=0.5,
        sideband_depth=0.35,
        shaft_levels=(0.2, 0.1),
        noise_level=0.5,
        noise_band_hz=(300.0, 3000.0),
        noise_modulation=0.05,
        source_speeds_rpm=(600, 900, 1200),
        target_speeds_rpm=(450, 1500),
    ),
    "bearing": _MachineType(
        orders=(1,),
        n_harmonics=6,
        harmonic_decay=0.6,
        sideband_depth=0.0,
        shaft_levels=(),
        noise_level=0.8,
        noise_band_hz=(1000.0, 6000.0),
        noise_modulation=0.0,
        source_speeds_rpm=(1200, 1800, 2400),
        target_speeds_rpm=(900, 3000),
    ),
}


@dataclass(frozen=True)
class _Background:
    """The factory hall around the machine."""

    # Slope of the noise power spectrum (1: pink noise, 0: white noise).
    slope: float
    hum_hz: float
    # Distant impacts and hisses per second.
    event_rate: float
    # Machine-to-background level ratio.
    snr_db: float


_SOURCE_BACKGROUND = _Background(slope=1.0, hum_hz=50.0, event_rate=0.5, snr_db=6.0)
_SHIFTED_BACKGROUND = _Background(slope=0.3, hum_hz=60.0, event_rate=2.0, snr_db=0.0)


@dataclass(frozen=True)
class _Condition:
    """An operating condition: what the attributes say, plus the background."""

    speed_rpm: int
    load: int
    background: _Background

    @property
    def attributes(self):
        return f"spd_{self.speed_rpm}_load_{self.load}"


@dataclass(frozen=True, eq=False)
class _Unit:
    """One machine unit (a section): its own structure and parts."""

    spec: _MachineType
    order: int
    harmonic_levels: np.ndarray
    shaft_levels: np.ndarray
    mode_hz: np.ndarray
    mode_q: np.ndarray
    mode_gain: np.ndarray
    # Defect frequencies of the bearing in shaft orders (outer, inner race).
    outer_race_order: float
    inner_race_order: float
    bearing_resonance_hz: float
    source_conditions: tuple
    target_conditions: tuple
    domain_shift: str


def _draw_unit(spec, section, rng):
    """Draw the fixed properties of the machine unit of one section."""
    n_balls = rng.integers(7, 13)
    ball_to_pitch = rng.uniform(0.15, 0.3) * np.cos(np.deg2rad(rng.uniform(0, 15)))
    source_conditions = tuple(
        _Condition(speed, load, _SOURCE_BACKGROUND)
        for speed, load in product(spec.source_speeds_rpm, _SOURCE_LOADS)
    )
    domain_shift = _DOMAIN_SHIFTS[section % len(_DOMAIN_SHIFTS)]
    # The target domain changes one thing and keeps the source's other
    # conditions, so that its few clips are spread thin over several
    # conditions, as in DCASE.
    speeds, loads, background = spec.source_speeds_rpm, _SOURCE_LOADS, _SOURCE_BACKGROUND
    if domain_shift == "speed":
        speeds = spec.target_speeds_rpm
    elif domain_shift == "load":
        loads = _TARGET_LOADS
    else:
        background = _SHIFTED_BACKGROUND
    target_conditions = tuple(_Condition(speed, load, background) for speed, load in product(speeds, loads))
    harmonic_decay = spec.harmonic_decay ** np.arange(spec.n_harmonics)
    return _Unit(
        spec=spec,
        order=spec.orders[section % len(spec.orders)],
        harmonic_levels=harmonic_decay * _db_jitter(rng, 3.0, spec.n_harmonics),
        shaft_levels=np.asarray(spec.shaft_levels) * _db_jitter(rng, 3.0, len(spec.shaft_levels)),
        mode_hz=np.sort(np.exp(rng.uniform(np.log(200.0), np.log(6000.0), size=4))),
        mode_q=rng.uniform(4.0, 12.0, size=4),
        mode_gain=np.exp(rng.uniform(0.0, np.log(4.0), size=4)),
        outer_race_order=n_balls / 2 * (1 - ball_to_pitch),
        inner_race_order=n_balls / 2 * (1 + ball_to_pitch),
        bearing_resonance_hz=rng.uniform(2000.0, 5000.0),
        source_conditions=source_conditions,
        target_conditions=target_conditions,
        domain_shift=domain_shift,
    )


def _db_jitter(rng, spread_db, size=None):
    """Random amplitude factors, normally distributed in decibels."""
    return 10 ** (rng.normal(0.0, spread_db, size=size) / 20)


def _rms(signal):
    return np.sqrt(np.mean(np.square(signal)))


def _reduced(angle):
    """``angle`` modulo 2 pi, in single precision.

    Single-precision trigonometry is many times faster than double, and on a
    reduced angle it is ample for 16-bit audio.
    """
    turns = angle * (1 / (2 * np.pi))
    turns -= np.floor(turns)
    return (2 * np.pi * turns).astype(np.float32)


def _cos(angle):
    """``cos(angle)``, in single precision."""
    return np.cos(_reduced(angle))


def _phasor(angle):
    """``exp(1j * angle)``, in single precision."""
    reduced = _reduced(angle)
    return np.cos(reduced) + 1j * np.sin(reduced)


def _harmonic_series(phasor, fundamental_hz, amplitudes, phases, max_hz):
    """``sum_k amplitudes[k-1] * cos(k * angle + phases[k-1])`` from ``exp(1j * angle)``.

    Harmonics at or above ``max_hz`` are left out.
    """
    series = np.zeros_like(phasor)
    power = np.ones_like(phasor)
    for k, (amplitude, phase) in enumerate(zip(amplitudes, phases), start=1):
        power *= phasor
        if k * fundamental_hz < max_hz:
            series += complex(amplitude * np.exp(1j * phase)) * power
    return series.real


def _structural_response(unit, frequencies, rng):
    """Frequency response of the unit's structure: direct path plus its modes.

    The modes drift together by up to 1 % from clip to clip (temperature).
    """
    mode_hz = unit.mode_hz * (1 + rng.uniform(-0.01, 0.01))
    # Keep 0 Hz off the division; a mode's response there is 0 anyway.
    f = np.maximum(frequencies, frequencies[1] / 2)
    # Each mode adds gain / (1 + 1j * detuning), in real arithmetic for speed.
    real = np.ones(len(f))
    imag = np.zeros(len(f))
    for hz, q, gain in zip(mode_hz, unit.mode_q, unit.mode_gain):
        detuning = q * (f / hz - hz / f)
        weight = gain / (1 + detuning**2)
        real += weight
        imag -= weight * detuning
    return real + 1j * imag


@dataclass
class _Motion:
    """What the anomalies lock onto: the shaft and the normal machine sound."""

    shaft_hz: float
    shaft_angle: np.ndarray
    harmonic_phases: np.ndarray
    response: np.ndarray
    frequencies: np.ndarray
    machine: np.ndarray
    machine_rms: float


# Speed tolerance within an attribute value and slow wander within a clip.
_SPEED_JITTER = 0.015
_SPEED_WANDER = 0.002


def _machine_sound(unit, condition, rng, n_samples, sample_rate):
    """The machine's own sound, with what the anomalies need to lock onto it."""
    spec = unit.spec
    time = np.arange(n_samples) / sample_rate
    frequencies = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    # Components above this are left out, as a recorder's anti-alias filter would.
    max_hz = 0.45 * sample_rate
    shaft_hz = condition.speed_rpm / 60 * (1 + rng.uniform(-_SPEED_JITTER, _SPEED_JITTER))
    knots = np.linspace(0.0, time[-1], max(2, int(10 * time[-1]) + 2))
    wander = _SPEED_WANDER * np.interp(time, knots, rng.standard_normal(len(knots)))
    shaft_angle = 2 * np.pi * np.cumsum(shaft_hz * (1 + wander)) / sample_rate + rng.uniform(0, 2 * np.pi)
    shaft = _phasor(shaft_angle)
    load_factor = 0.5 + condition.load / 100

    n_shaft_harmonics = len(unit.shaft_levels)
    shaft_levels = unit.shaft_levels * _db_jitter(rng, 1.5, n_shaft_harmonics)
    shaft_phases = rng.uniform(0, 2 * np.pi, size=n_shaft_harmonics)
    sound = _harmonic_series(shaft, shaft_hz, shaft_levels, shaft_phases, max_hz)

    characteristic_hz = unit.order * shaft_hz
    characteristic = _phasor(unit.order * shaft_angle)
    harmonic_phases = rng.uniform(0, 2 * np.pi, size=spec.n_harmonics)
    harmonic_levels = unit.harmonic_levels * _db_jitter(rng, 1.5, spec.n_harmonics) * load_factor
    tonal = _harmonic_series(characteristic, characteristic_hz, harmonic_levels, harmonic_phases, max_hz)
    sideband_phases = rng.uniform(0, 2 * np.pi, size=2)
    sidebands = _harmonic_series(shaft, shaft_hz, [1.0, 0.5], sideband_phases, max_hz)
    sound += tonal * (1 + spec.sideband_depth * load_factor * sidebands)

    speed_ratio = condition.speed_rpm / spec.reference_speed_rpm
    low_hz, high_hz = np.asarray(spec.noise_band_hz) * speed_ratio
    # A second-order high-pass and a first-order low-pass.
    high_pass = 1 / np.sqrt(1 + (low_hz / np.maximum(frequencies, 1.0)) ** 4)
    low_pass = 1 / np.sqrt(1 + (frequencies / high_hz) ** 2)
    noise = _coloured_noise(high_pass * low_pass, rng, n_samples)
    noise *= spec.noise_level * _db_jitter(rng, 2.0) * np.sqrt(load_factor)
    noise *= 1 + spec.noise_modulation * _harmonic_series(
        characteristic, characteristic_hz, [1.0], [rng.uniform(0, 2 * np.pi)], max_hz
    )
    sound += noise

    response = _structural_response(unit, frequencies, rng)
    machine = np.fft.irfft(np.fft.rfft(sound) * response, n=n_samples)
    # Louder at higher speed and load, whatever the unit's resonances.
    loudness = speed_ratio**1.5 * np.sqrt(load_factor)
    machine *= loudness / _rms(machine)
    motion = _Motion(
        shaft_hz=shaft_hz,
        shaft_angle=shaft_angle,
        harmonic_phases=harmonic_phases,
        response=response,
        frequencies=frequencies,
        machine=machine,
        machine_rms=loudness,
    )
    return machine, motion


def _coloured_noise(amplitude_spectrum, rng, n_samples):
    """Gaussian noise of unit RMS with the given amplitude spectrum."""
    spectrum = amplitude_spectrum * (
        rng.standard_normal(len(amplitude_spectrum)) + 1j * rng.standard_normal(len(amplitude_spectrum))
    )
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n=n_samples)
    return noise / _rms(noise)


def _background_sound(background, rng, n_samples, sample_rate):
    """Factory background of unit RMS (before its events)."""
    time = np.arange(n_samples) / sample_rate
    frequencies = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    slope = background.slope + rng.uniform(-0.15, 0.15)
    noise = _coloured_noise(np.maximum(frequencies, 20.0) ** (-slope / 2), rng, n_samples)
    # Mains hum and its 2nd and 3rd harmonics, 12 to 24 dB below the noise.
    hum_levels = np.sqrt(2) * 10 ** (rng.uniform(-24.0, -12.0, size=3) / 20)
    hum_phases = rng.uniform(0, 2 * np.pi, size=3)
    hum = _phasor(2 * np.pi * background.hum_hz * time)
    noise += _harmonic_series(hum, background.hum_hz, hum_levels, hum_phases, 0.45 * sample_rate)
    noise /= _rms(noise)
    for _ in range(rng.poisson(background.event_rate * n_samples / sample_rate)):
        event = _impact(rng, sample_rate) if rng.random() < 0.6 else _hiss(rng, sample_rate)
        start = rng.integers(n_samples)
        stop = min(n_samples, start + len(event))
        noise[start:stop] += event[: stop - start]
    return noise


def _impact(rng, sample_rate):
    """A distant impact: a few structural modes ringing down."""
    decay_s = rng.uniform(0.01, 0.06)
    time = np.arange(int(5 * decay_s * sample_rate)) / sample_rate
    mode_hz = rng.uniform(150.0, min(3000.0, 0.45 * sample_rate), size=3)
    mode_levels = rng.uniform(0.3, 1.0, size=3)
    ringing = mode_levels @ np.sin(2 * np.pi * mode_hz[:, None] * time)
    return rng.uniform(1.0, 4.0) * ringing * np.exp(-time / decay_s)


def _hiss(rng, sample_rate):
    """A distant compressed-air release: high-passed noise swelling and fading."""
    n_samples = int(rng.uniform(0.1, 0.4) * sample_rate)
    frequencies = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    shape = 1 / (1 + (2000.0 / np.maximum(frequencies, 1.0)) ** 2)
    return rng.uniform(0.5, 2.0) * _coloured_noise(shape, rng, n_samples) * np.hanning(n_samples)


# Anomaly levels at anomaly_strength=1, relative to the machine's RMS.
_BEARING_DEFECT_LEVEL = 0.45
_IMBALANCE_MODULATION = 0.3
_IMBALANCE_LEVEL = 0.75
_HARMONIC_CHANGE_LEVEL = 0.45
_FRICTION_LEVEL = 0.45


def _bearing_defect(unit, motion, rng, sample_rate):
    """Periodic impacts at a race defect frequency, each ringing a resonance.

    The rolling elements slip a little, so the impacts are not perfectly
    periodic; an inner-race defect turns with the shaft and hits hardest
    when it passes through the load zone, once per revolution.
    """
    n_samples = len(motion.machine)
    inner_race = rng.random() < 0.5
    order = unit.inner_race_order if inner_race else unit.outer_race_order
    period = 1 / (order * motion.shaft_hz)
    n_impacts = int(n_samples / sample_rate / period) + 2
    intervals = period * (1 + 0.01 * rng.standard_normal(n_impacts))
    times = rng.uniform(0, period) + np.cumsum(intervals) - intervals[0]
    positions = (times * sample_rate).astype(int)
    positions = positions[positions < n_samples]
    amplitudes = 1 + 0.2 * rng.standard_normal(len(positions))
    if inner_race:
        amplitudes *= 1 + 0.8 * np.cos(motion.shaft_angle[positions])
    impulses = np.zeros(n_samples)
    impulses[positions] = amplitudes
    resonance_hz = min(unit.bearing_resonance_hz * (1 + rng.uniform(-0.02, 0.02)), 0.45 * sample_rate)
    decay_s = rng.uniform(0.001, 0.003)
    kernel_time = np.arange(int(6 * decay_s * sample_rate)) / sample_rate
    kernel = np.sin(2 * np.pi * resonance_hz * kernel_time) * np.exp(-kernel_time / decay_s)
    ringing = np.convolve(impulses, kernel)[:n_samples]
    # A clip so short that its one impact falls on its last sample rings not at all.
    return _BEARING_DEFECT_LEVEL * motion.machine_rms * ringing / max(_rms(ringing), np.finfo(float).tiny)


def _imbalance(unit, motion, rng, sample_rate):
    """A stronger 1x shaft component and amplitude modulation at the shaft rate."""
    once_per_revolution = _cos(motion.shaft_angle + rng.uniform(0, 2 * np.pi))
    return (
        _IMBALANCE_MODULATION * motion.machine + _IMBALANCE_LEVEL * np.sqrt(2) * motion.machine_rms
    ) * once_per_revolution


def _harmonic_change(unit, motion, rng, sample_rate):
    """One harmonic of the characteristic tone grows (wear, misalignment).

    The added tone is in phase with the harmonic as heard through the
    structure, so it raises that harmonic's level.
    """
    base_hz = unit.order * motion.shaft_hz
    audible = [h for h in range(1, unit.spec.n_harmonics + 1) if h * base_hz < 0.45 * sample_rate]
    h = rng.choice(audible)
    bin_ = np.argmin(np.abs(motion.frequencies - h * base_hz))
    phase = motion.harmonic_phases[h - 1] + np.angle(motion.response[bin_])
    amplitude = _HARMONIC_CHANGE_LEVEL * np.sqrt(2) * motion.machine_rms
    return amplitude * _cos(h * unit.order * motion.shaft_angle + phase)


def _friction(unit, motion, rng, sample_rate):
    """A narrow-band squeal, possibly intermittent.

    Friction-induced squeal locks onto a structural mode, so its pitch is
    one of the unit's own resonances, with a slight vibrato.
    """
    n_samples = len(motion.machine)
    time = np.arange(n_samples) / sample_rate
    max_hz = 0.45 * sample_rate
    modes = unit.mode_hz[(unit.mode_hz > 800.0) & (unit.mode_hz < max_hz / 1.02)]
    squeal_hz = rng.choice(modes) if len(modes) else rng.uniform(1000.0, min(4000.0, max_hz / 1.02))
    squeal_hz *= 1 + rng.uniform(-0.02, 0.02)
    vibrato = 1 + 0.004 * _cos(2 * np.pi * rng.uniform(3.0, 8.0) * time + rng.uniform(0, 2 * np.pi))
    angle = 2 * np.pi * np.cumsum(squeal_hz * vibrato) / sample_rate
    squeal = _cos(angle)
    if 2 * squeal_hz < max_hz:
        squeal += 0.3 * _cos(2 * angle)
    squeal *= _FRICTION_LEVEL * motion.machine_rms / _rms(squeal)
    return squeal * _intermittence(rng, time)


def _intermittence(rng, time):
    """An on/off envelope: always on, or a few bursts with 10 ms ramps."""
    if rng.random() < 0.4:
        return np.ones_like(time)
    duration = time[-1]
    ramp = 0.01
    envelope = np.zeros_like(time)
    for _ in range(rng.integers(1, 5)):
        length = rng.uniform(0.15, 0.5) * duration
        start = rng.uniform(-0.5 * length, duration - 0.5 * length)
        burst = np.interp(time, [start - ramp, start, start + length, start + length + ramp], [0, 1, 1, 0])
        np.maximum(envelope, burst, out=envelope)
    return envelope


_ANOMALIES = {
    "bearing_defect": _bearing_defect,
    "imbalance": _imbalance,
    "harmonic_change": _harmonic_change,
    "friction": _friction,
}

# RMS of a machine at its reference speed and load 50, before the random
# gain; the peak guard scales down the rare clip (a very strong anomaly)
# whose peak would come near 16-bit full scale.
_LEVEL = 0.02
_PEAK_LIMIT = 0.95


def _render_clip(unit, condition, anomaly_kind, anomaly_strength, clip_key, n_samples, sample_rate):
    """Render one clip as float32.

    ``clip_key`` (a tuple of ints) seeds two independent streams: one for the
    normal sound, one for the anomaly, so that the normal part of a clip does
    not depend on its anomaly and strength 0 gives exactly the normal clip.
    """
    rng = np.random.default_rng([*clip_key, 0])
    machine, motion = _machine_sound(unit, condition, rng, n_samples, sample_rate)
    background = _background_sound(condition.background, rng, n_samples, sample_rate)
    snr_db = condition.background.snr_db + rng.uniform(-3.0, 3.0)
    background *= motion.machine_rms * 10 ** (-snr_db / 20)
    # Microphone distance and gain differ from recording to recording.
    gain = _LEVEL * 10 ** (rng.uniform(-3.0, 3.0) / 20)
    clip = gain * (machine + background)
    if anomaly_kind:
        anomaly_rng = np.random.default_rng([*clip_key, 1])
        anomaly = _ANOMALIES[anomaly_kind](unit, motion, anomaly_rng, sample_rate)
        clip = clip + anomaly_strength * gain * anomaly
    peak = np.max(np.abs(clip))
    if peak > _PEAK_LIMIT:
        clip *= _PEAK_LIMIT / peak
    return clip.astype(np.float32)


def _balanced(values, count, rng):
    """``count`` values cycling through ``values``, in random order."""
    return [values[i] for i in rng.permutation(np.resize(np.arange(len(values)), count))]


def _plan_section(unit, counts, anomaly_kinds, contamination, plan_key):
    """Which clips a section gets: (record, condition, anomaly kind, clip id) each.

    The clips come in groups (domain, split, label). Each group is planned
    from its own seed, so that one group's count or contamination leaves the
    others as they are; each clip is identified by its group number and
    position, which (with the unit's key) seed its sound.
    """
    n_source_train, n_target_train, n_test_normal, n_test_anomalous = counts
    groups = [
        ("source", "train", 0, n_source_train),
        ("target", "train", 0, n_target_train),
        ("source", "test", 0, n_test_normal),
        ("source", "test", 1, n_test_anomalous),
        ("target", "test", 0, n_test_normal),
        ("target", "test", 1, n_test_anomalous),
    ]
    clips = []
    for group, (domain, split, label, count) in enumerate(groups):
        rng = np.random.default_rng([*plan_key, group])
        domain_conditions = unit.source_conditions if domain == "source" else unit.target_conditions
        conditions = _balanced(domain_conditions, count, rng)
        kinds = [""] * count
        if label == 1:
            kinds = _balanced(anomaly_kinds, count, rng)
        elif split == "train":
            # Label noise: anomalous clips hidden in the normal training set.
            n_contaminated = int(np.floor(contamination * count + 0.5))
            positions = rng.choice(count, size=n_contaminated, replace=False)
            for position, kind in zip(positions, _balanced(anomaly_kinds, n_contaminated, rng)):
                kinds[position] = kind
        for position in range(count):
            record = {
                "domain": domain,
                "split": split,
                "label": label,
                "index": position + 1,
                "attributes": conditions[position].attributes,
                "anomaly_kind": kinds[position],
            }
            clips.append((record, conditions[position], kinds[position], (group, position)))
    return clips


def _describe(units, counts, duration, sample_rate, anomaly_strength, anomaly_kinds, contamination):
    n_source_train, n_target_train, n_test_normal, n_test_anomalous = counts
    order_names = {"fan": "blades", "pump": "vanes", "gearbox": "teeth", "bearing": "shaft order"}
    lines = [
        "Synthetic DCASE-like machine sounds (skasd.datasets.make_machine_sounds).",
        "",
        f"{duration:g} s clips at {sample_rate} Hz. Per machine type and section: "
        f"{n_source_train} source and {n_target_train} target training clips, all labelled "
        f"normal (a fraction {contamination:g} is anomalous: contamination), and per domain "
        f"{n_test_normal} normal and {n_test_anomalous} anomalous test clips.",
        f"Anomaly kinds: {', '.join(anomaly_kinds)}; strength {anomaly_strength:g}.",
        "Attributes: spd (shaft speed, rpm) and load (percent).",
        "",
    ]
    for (machine, section), unit in units.items():
        source = ", ".join(condition.attributes for condition in unit.source_conditions)
        target = ", ".join(condition.attributes for condition in unit.target_conditions)
        lines.append(
            f"{machine} section {section}: {unit.order} {order_names[machine]}; source {source}; "
            f"target (shifted {unit.domain_shift}) {target}."
        )
    return "\n".join(lines)


def _as_names(value, known, name):
    """Validate a name or list of names against the known ones."""
    names = [value] if isinstance(value, str) else list(value)
    if not names:
        raise ValueError(f"{name} must name at least one of {list(known)}, got an empty list.")
    unknown = [item for item in names if item not in known]
    if unknown:
        raise ValueError(f"{name} has unknown value(s) {unknown}; choose from {list(known)}.")
    if len(set(names)) < len(names):
        raise ValueError(f"{name} lists a value twice: {names}.")
    return names


@validate_params(
    {
        "machine_types": [str, "array-like"],
        "n_sections": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_source_train": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_target_train": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_test_normal": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_test_anomalous": [Interval(numbers.Integral, 0, None, closed="left")],
        "duration": [Interval(numbers.Real, 0.1, None, closed="left")],
        "sample_rate": [Interval(numbers.Integral, 8000, None, closed="left")],
        "anomaly_strength": [Interval(numbers.Real, 0, None, closed="left")],
        "anomaly_kinds": [None, str, "array-like"],
        "contamination": [Interval(numbers.Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
        "out_dir": [None, str, os.PathLike],
        "n_jobs": [numbers.Integral, None],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def make_machine_sounds(
    *,
    machine_types=MACHINE_TYPES,
    n_sections=1,
    n_source_train=100,
    n_target_train=10,
    n_test_normal=50,
    n_test_anomalous=50,
    duration=2.0,
    sample_rate=16000,
    anomaly_strength=1.0,
    anomaly_kinds=None,
    contamination=0.0,
    random_state=None,
    out_dir=None,
    n_jobs=None,
    verbose=0,
):
    """Generate a DCASE Task 2 style data set of synthetic machine sounds.

    Each machine type is a rotating machine whose sound follows from a small
    physical model: a shaft turning at the speed attribute, a characteristic
    tone at an integer order of the shaft rate (fan: blade-pass frequency,
    pump: vane-pass frequency, gearbox: gear-mesh frequency = teeth x shaft
    rate, with shaft-rate sidebands; bearing: the shaft harmonics) with its
    harmonics, broadband flow or rolling noise, all heard through the
    structural resonances of the machine unit, recorded in a factory hall
    (coloured noise, mains hum, distant impacts and hisses). Each section
    is a different unit (its own resonances and characteristic order).
    Speed jitters within its attribute value and wanders within a clip;
    phases, harmonic levels, noise level, background level and recording
    gain vary from clip to clip, so that normal clips are not all alike.

    The source domain has six operating conditions (three speeds x loads 40
    and 70). The target domain changes one thing and keeps the rest, so its
    few clips are spread over several conditions: the speed (sections 00,
    03, ...: one speed below and one above the source's), the load (01,
    04, ...: loads 10 and 100) or the background (02, 05, ...: whiter,
    louder noise, 60 Hz hum, more frequent events; the attributes do not
    tell). See ``docs/generator.md`` for the speeds and orders.

    Anomalous clips are a normal clip plus an anomaly signal scaled by
    ``anomaly_strength``:

    - ``"bearing_defect"``: impacts at an outer- or inner-race defect
      frequency (a non-integer shaft order set by the bearing geometry),
      each ringing a high-frequency resonance;
    - ``"imbalance"``: a stronger 1x shaft component and amplitude
      modulation of the whole machine sound at the shaft rate;
    - ``"harmonic_change"``: one harmonic of the characteristic tone grows;
    - ``"friction"``: a narrow-band squeal at one of the unit's resonances,
      continuous or intermittent.

    Parameters
    ----------
    machine_types : str or list of str, default=("fan", "pump", "gearbox", "bearing")
        Machine types to generate, from ``("fan", "pump", "gearbox",
        "bearing")``. A machine type's clips do not depend on which other
        types are generated.
    n_sections : int, default=1
        Sections (machine units) per machine type, named ``"00"``,
        ``"01"``, ...
    n_source_train : int, default=100
        Source-domain training clips per section (positive).
    n_target_train : int, default=10
        Target-domain training clips per section.
    n_test_normal : int, default=50
        Normal test clips per section and domain.
    n_test_anomalous : int, default=50
        Anomalous test clips per section and domain, spread evenly over
        ``anomaly_kinds``.
    duration : float, default=2.0
        Clip length in seconds, at least 0.1. Shorter than DCASE's 10 s
        clips, to keep generation fast; the model works at any length.
    sample_rate : int, default=16000
        Sample rate in Hz, at least 8000. Components above 0.45 times the
        sample rate are left out.
    anomaly_strength : float, default=1.0
        Scale of the anomaly signal added to an anomalous clip. At 1 the
        signal's RMS is about half the machine's own (0.45 times, for most
        kinds); 0 makes anomalous clips exactly normal ones
        (indistinguishable); larger values make the task easier.
    anomaly_kinds : str or list of str, default=None
        Kinds of anomaly to draw from, a subset of ``("bearing_defect",
        "imbalance", "harmonic_change", "friction")``; None uses all.
    contamination : float, default=0.0
        Fraction of anomalous clips in the training set, in [0, 1): in each
        training group of ``n`` clips (section and domain),
        ``contamination * n`` rounded half up are anomalous. Their ``label`` is
        0, like the rest of the training set, as a user would see it;
        ``anomaly_kind`` tells the truth.
    random_state : int, RandomState instance or None, default=None
        Seeds the data set. One seed is drawn from it, from which every
        machine unit and every clip gets its own independent seed, so the
        result does not depend on ``n_jobs``.
    out_dir : str or path-like, default=None
        If given, the data set is also written there in the DCASE layout
        (16-bit wav, see :func:`~skasd.datasets.save_dcase`), and ``path``
        holds the written files.
    n_jobs : int, default=None
        Clips rendered in parallel through joblib; None means 1 unless in a
        :func:`joblib.parallel_config` context, -1 means all processors.
    verbose : int, default=0
        0 is silent; otherwise a progress bar over clips.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        The same fields as :func:`~skasd.datasets.load_dcase` returns:
        ``data``: float32 array (n_clips, n_samples), peak well below 1
        (a clip whose peak would pass 0.95, from a very strong anomaly, is
        scaled down to 0.95);
        ``target``: the ``label`` column as an int8 array (1 anomalous,
        0 normal);
        ``frame``: pandas DataFrame, one row per clip (training and test
        clips together; ``split`` tells them apart), with the columns of
        :data:`skasd.datasets.FRAME_COLUMNS` (``path`` is None unless
        ``out_dir`` is given; ``attributes`` like ``"spd_1200_load_40"``),
        then ``attr_spd`` and ``attr_load``, then ``anomaly_kind`` (``""``
        for normal clips, the kind otherwise, contaminated training clips
        included);
        ``sample_rate``: int;
        ``DESCR``: str, a description of the generated units and conditions.

    References
    ----------
    .. [1] K. Dohi et al., "Description and discussion on DCASE 2023
       Challenge Task 2: First-shot unsupervised anomalous sound detection
       for machine condition monitoring", DCASE 2023 Workshop. (File
       layout, sections, source and target domains, attributes.)
    .. [2] K. Dohi et al., "MIMII DG: Sound dataset for malfunctioning
       industrial machine investigation and inspection for domain
       generalization task", DCASE 2022 Workshop.
    .. [3] N. Harada et al., "ToyADMOS2: Another dataset of miniature-machine
       operating sounds for anomalous sound detection under domain shift
       conditions", DCASE 2021 Workshop.
    .. [4] R. B. Randall, "Vibration-based Condition Monitoring", Wiley,
       2011, ch. 2 and 5: gear-mesh sidebands and rolling-element bearing
       defect frequencies, e.g. BPFO = (n / 2) f_r (1 - d / D cos(phi)).

    Examples
    --------
    >>> from skasd.datasets import make_machine_sounds
    >>> sounds = make_machine_sounds(machine_types="gearbox", n_source_train=6,
    ...                              n_target_train=2, n_test_normal=2,
    ...                              n_test_anomalous=2, duration=0.5,
    ...                              random_state=0)
    >>> sounds.data.shape, sounds.data.dtype, sounds.sample_rate
    ((16, 8000), dtype('float32'), 16000)
    >>> sounds.frame.groupby(["split", "domain"])["label"].sum().to_dict()
    {('test', 'source'): 2, ('test', 'target'): 2, ('train', 'source'): 0, ('train', 'target'): 0}
    >>> sounds.frame["attr_spd"].iloc[0] in {"600", "900", "1200"}
    True
    """
    machine_types = _as_names(machine_types, MACHINE_TYPES, "machine_types")
    if anomaly_kinds is None:
        anomaly_kinds = ANOMALY_KINDS
    anomaly_kinds = _as_names(anomaly_kinds, ANOMALY_KINDS, "anomaly_kinds")
    counts = (n_source_train, n_target_train, n_test_normal, n_test_anomalous)
    n_samples = int(round(duration * sample_rate))
    dataset_seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))

    units = {}
    records = []
    jobs = []
    for machine in machine_types:
        # Seeds are keyed by the machine type's fixed number, so that a
        # type's clips do not depend on which other types are asked for.
        machine_id = MACHINE_TYPES.index(machine)
        for section in range(n_sections):
            unit_key = (dataset_seed, machine_id, section)
            unit = _draw_unit(_MACHINE_SPECS[machine], section, np.random.default_rng([*unit_key, 0]))
            units[machine, f"{section:02d}"] = unit
            plan = _plan_section(unit, counts, anomaly_kinds, contamination, (*unit_key, 1))
            for record, condition, kind, clip_id in plan:
                records.append(
                    {
                        "path": None,
                        "machine": machine,
                        "section": f"{section:02d}",
                        **record,
                        "n_samples_original": n_samples,
                    }
                )
                jobs.append((unit, condition, kind, (*unit_key, 2, *clip_id)))

    data = np.empty((len(jobs), n_samples), dtype=np.float32)
    clips = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_render_clip)(unit, condition, kind, anomaly_strength, clip_key, n_samples, sample_rate)
        for unit, condition, kind, clip_key in jobs
    )
    for row, clip in enumerate(
        tqdm(clips, total=len(jobs), desc="Generating clips", unit="clip", disable=verbose <= 0)
    ):
        data[row] = clip

    frame = make_frame(records)
    bunch = Bunch(
        data=data,
        target=frame["label"].to_numpy(),
        frame=frame,
        sample_rate=int(sample_rate),
        DESCR=_describe(units, counts, duration, sample_rate, anomaly_strength, anomaly_kinds, contamination),
    )
    if out_dir is not None:
        bunch.frame = save_dcase(bunch, out_dir, verbose=verbose)
    return bunch
