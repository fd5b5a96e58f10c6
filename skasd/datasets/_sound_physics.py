"""The sound physics of :func:`~skasd.datasets.make_machine_sounds`: its signal models.

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

This module holds the models' parameters (:class:`MachineType`,
:class:`Background`, :class:`Condition`, :class:`Unit`) and renders one clip
from them (:func:`render_clip`); which units, conditions and clips a data set
has is planned in ``_generator.py``.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MachineType:
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


@dataclass(frozen=True)
class Background:
    """The factory hall around the machine."""

    # Slope of the noise power spectrum (1: pink noise, 0: white noise).
    slope: float
    hum_hz: float
    # Distant impacts and hisses per second.
    event_rate: float
    # Machine-to-background level ratio.
    snr_db: float



@dataclass(frozen=True)
class Condition:
    """An operating condition: what the attributes say, plus the background."""

    speed_rpm: int
    load: int
    background: Background

    @property
    def attributes(self):
        return f"spd_{self.speed_rpm}_load_{self.load}"


@dataclass(frozen=True, eq=False)
class Unit:
    """One machine unit (a section): its own structure and parts."""

    spec: MachineType
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


def db_jitter(rng, spread_db, size=None):
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
    # The characteristic tone with its harmonics, before the structure.
    tonal: np.ndarray
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
    shaft_levels = unit.shaft_levels * db_jitter(rng, 1.5, n_shaft_harmonics)
    shaft_phases = rng.uniform(0, 2 * np.pi, size=n_shaft_harmonics)
    sound = _harmonic_series(shaft, shaft_hz, shaft_levels, shaft_phases, max_hz)

    characteristic_hz = unit.order * shaft_hz
    characteristic = _phasor(unit.order * shaft_angle)
    harmonic_phases = rng.uniform(0, 2 * np.pi, size=spec.n_harmonics)
    harmonic_levels = unit.harmonic_levels * db_jitter(rng, 1.5, spec.n_harmonics) * load_factor
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
    noise *= spec.noise_level * db_jitter(rng, 2.0) * np.sqrt(load_factor)
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
        tonal=tonal,
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


# Order-locked faults: components at kinematic frequencies of the shaft,
# heard through the unit's structure as its normal sound is. At strength 1
# each adds a signal whose RMS is _FAULT_LEVEL times the machine's RMS (for
# clicks: over a revolution with a click), the level of the kinds above, so
# that a strength means the same across kinds.
_FAULT_LEVEL = 0.45
_DEFECT_HARMONICS = 4
_INNER_RACE_MODULATION = 0.6
_LOOSENESS_ORDERS = 10
_CLICK_PROBABILITY = 0.3


def _through_structure(vibration, motion):
    """``vibration`` as heard through the unit's structure, scaled to the fault level."""
    heard = np.fft.irfft(np.fft.rfft(vibration) * motion.response, n=len(vibration))
    return _FAULT_LEVEL * motion.machine_rms * heard / max(_rms(heard), np.finfo(float).tiny)


def _bearing_tones(unit, motion, rng, sample_rate):
    """Tones at a race defect frequency and its harmonics.

    The defect frequency is BPFO or BPFI (a non-integer shaft order set by
    the bearing geometry), so the tones move with the speed as the
    machine's own lines do, but between them. An inner-race defect turns
    with the shaft through the load zone: its tones are amplitude-modulated
    at the shaft rate, heard as sidebands at +-1x around each.
    """
    inner_race = rng.random() < 0.5
    order = unit.inner_race_order if inner_race else unit.outer_race_order
    levels = 0.6 ** np.arange(_DEFECT_HARMONICS) * db_jitter(rng, 2.0, _DEFECT_HARMONICS)
    phases = rng.uniform(0, 2 * np.pi, size=_DEFECT_HARMONICS)
    defect = _phasor(order * motion.shaft_angle + rng.uniform(0, 2 * np.pi))
    tones = _harmonic_series(defect, order * motion.shaft_hz, levels, phases, 0.45 * sample_rate)
    if inner_race:
        tones *= 1 + _INNER_RACE_MODULATION * _cos(motion.shaft_angle + rng.uniform(0, 2 * np.pi))
    return _through_structure(tones, motion)


def _blade_damage(unit, motion, rng, sample_rate):
    """One damaged blade, vane or tooth: the characteristic tone pulses once per revolution.

    When one of the ``order`` blades (vanes, teeth) differs from the others,
    the force it adds each time it passes is no longer spread evenly over the
    revolution: the characteristic tone is modulated by a narrow pulse once
    per revolution, heard as a comb of shaft-rate sidebands around the
    blade-pass (vane-pass, gear-mesh) frequency and its harmonics.
    """
    width = rng.uniform(0.3, 0.6)  # radians of the revolution the damaged blade's pass lasts
    pulse = np.exp((_cos(motion.shaft_angle + rng.uniform(0, 2 * np.pi)) - 1) / width**2)
    pulse -= pulse.mean()
    return _through_structure(motion.tonal * pulse, motion)


def _looseness(unit, motion, rng, sample_rate):
    """Mechanical looseness: many harmonics of the shaft rate, and half orders.

    A loose mount or bearing seat clips the once-per-revolution motion, so
    the shaft rate's harmonics up to high orders appear, and, as the part
    lifts every other revolution, half-order lines (0.5x, 1.5x, ...).
    """
    orders = np.arange(1, 2 * _LOOSENESS_ORDERS + 1) / 2
    levels = np.where(orders % 1 == 0, 1.0, 0.5) * orders ** -0.5 * db_jitter(rng, 3.0, len(orders))
    half = _phasor(0.5 * motion.shaft_angle + rng.uniform(0, 2 * np.pi))
    phases = rng.uniform(0, 2 * np.pi, size=len(orders))
    lines = _harmonic_series(half, 0.5 * motion.shaft_hz, levels, phases, 0.45 * sample_rate)
    return _through_structure(lines, motion)


def _clicks(unit, motion, rng, sample_rate):
    """Intermittent clicks: a loose part striking once per revolution, now and then.

    At a fixed shaft angle, on a random ~30 % of the revolutions, an impact
    rings the unit's structural modes. The level is set per click, not per
    clip: over a revolution with a click, the RMS is the fault level, however
    many clicks the clip happens to have.
    """
    turns = (motion.shaft_angle + rng.uniform(0, 2 * np.pi)) / (2 * np.pi)
    positions = np.flatnonzero(np.diff(np.floor(turns)) > 0) + 1
    positions = positions[rng.random(len(positions)) < _CLICK_PROBABILITY]
    if len(positions) == 0:
        positions = rng.integers(len(turns), size=1)
    amplitudes = db_jitter(rng, 3.0, len(positions))
    impulses = np.zeros(len(turns))
    impulses[positions] = amplitudes
    # Each strike is a short (0.2-0.5 ms) pulse, hard enough to excite the modes.
    decay_s = rng.uniform(0.0002, 0.0005)
    kernel = np.exp(-np.arange(int(8 * decay_s * sample_rate) + 1) / (decay_s * sample_rate))
    strikes = np.convolve(impulses, kernel)[: len(turns)]
    heard = np.fft.irfft(np.fft.rfft(strikes) * motion.response, n=len(turns))
    # Energy of one click of unit amplitude, then its RMS over one revolution.
    click_energy = np.sum(heard**2) / np.sum(amplitudes**2)
    revolution = sample_rate / motion.shaft_hz
    click_rms = np.sqrt(max(click_energy, np.finfo(float).tiny) / revolution)
    return _FAULT_LEVEL * motion.machine_rms * heard / click_rms


_ANOMALIES = {
    "bearing_defect": _bearing_defect,
    "imbalance": _imbalance,
    "harmonic_change": _harmonic_change,
    "friction": _friction,
    "bearing_tones": _bearing_tones,
    "blade_damage": _blade_damage,
    "looseness": _looseness,
    "clicks": _clicks,
}

# RMS of a machine at its reference speed and load 50, before the random
# gain; the peak guard scales down the rare clip (a very strong anomaly)
# whose peak would come near 16-bit full scale.
_LEVEL = 0.02
_PEAK_LIMIT = 0.95


def render_clip(unit, condition, anomaly_kind, anomaly_strength, clip_key, n_samples, sample_rate):
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
