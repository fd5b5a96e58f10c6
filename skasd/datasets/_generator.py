"""Synthetic DCASE-like machine sounds, for tests, examples and benchmarks.

:func:`make_machine_sounds` plans a data set here and renders its clips with
the signal models of ``_sound_physics.py`` (a rotating machine recorded in a
factory hall, plus an anomaly added to the anomalous clips). This module
holds the planning: the catalogue of machine types, the machine unit and the
source and target operating conditions of each section, which clips each
section gets (domain, split, label, condition, anomaly kind) and the seed of
each, and the assembling of the clips into a data set.
"""

import numbers
import os
from itertools import product

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from tqdm.auto import tqdm

from ._dcase import save_dcase
from ._frame import make_frame
from ._sound_physics import (
    Background,
    Condition,
    MachineType,
    Unit,
    db_jitter,
    render_clip,
)

#: Machine types :func:`make_machine_sounds` can render.
MACHINE_TYPES = ("fan", "pump", "gearbox", "bearing")

#: Kinds of anomaly :func:`make_machine_sounds` can add.
ANOMALY_KINDS = (
    "bearing_defect",
    "imbalance",
    "harmonic_change",
    "friction",
    "bearing_tones",
    "blade_damage",
    "looseness",
    "clicks",
)

#: Kinds drawn when ``anomaly_kinds`` is None.
DEFAULT_ANOMALY_KINDS = ANOMALY_KINDS[:4]

#: What the target domain of section ``s`` differs in: ``_DOMAIN_SHIFTS[s % 3]``.
_DOMAIN_SHIFTS = ("speed", "load", "background")

_SOURCE_LOADS = (40, 70)
_TARGET_LOADS = (10, 100)

_MACHINE_SPECS = {
    "fan": MachineType(
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
    "pump": MachineType(
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
    "gearbox": MachineType(
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
    "bearing": MachineType(
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


_SOURCE_BACKGROUND = Background(slope=1.0, hum_hz=50.0, event_rate=0.5, snr_db=6.0)
_SHIFTED_BACKGROUND = Background(slope=0.3, hum_hz=60.0, event_rate=2.0, snr_db=0.0)


def _draw_unit(spec, section, rng):
    """Draw the fixed properties of the machine unit of one section."""
    n_balls = rng.integers(7, 13)
    ball_to_pitch = rng.uniform(0.15, 0.3) * np.cos(np.deg2rad(rng.uniform(0, 15)))
    source_conditions = tuple(
        Condition(speed, load, _SOURCE_BACKGROUND)
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
    target_conditions = tuple(Condition(speed, load, background) for speed, load in product(speeds, loads))
    harmonic_decay = spec.harmonic_decay ** np.arange(spec.n_harmonics)
    return Unit(
        spec=spec,
        order=spec.orders[section % len(spec.orders)],
        harmonic_levels=harmonic_decay * db_jitter(rng, 3.0, spec.n_harmonics),
        shaft_levels=np.asarray(spec.shaft_levels) * db_jitter(rng, 3.0, len(spec.shaft_levels)),
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


def _plan_dataset(machine_types, n_sections, counts, anomaly_kinds, contamination, dataset_seed, n_samples):
    """The units, the frame's records and the clips to render: (unit, condition, kind, clip key) each."""
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
    return units, records, jobs


def _render_clips(jobs, anomaly_strength, n_samples, sample_rate, n_jobs, verbose):
    """Render the planned clips, in parallel through joblib, into one float32 array."""
    data = np.empty((len(jobs), n_samples), dtype=np.float32)
    clips = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(render_clip)(unit, condition, kind, anomaly_strength, clip_key, n_samples, sample_rate)
        for unit, condition, kind, clip_key in jobs
    )
    for row, clip in enumerate(
        tqdm(clips, total=len(jobs), desc="Generating clips", unit="clip", disable=verbose <= 0)
    ):
        data[row] = clip
    return data


def _assemble(data, records, sample_rate, description, out_dir, verbose):
    """The Bunch of the data set, also written in the DCASE layout to ``out_dir`` if given."""
    frame = make_frame(records)
    bunch = Bunch(
        data=data,
        target=frame["label"].to_numpy(),
        frame=frame,
        sample_rate=int(sample_rate),
        DESCR=description,
    )
    if out_dir is not None:
        bunch.frame = save_dcase(bunch, out_dir, verbose=verbose)
    return bunch


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

    Four order-locked faults are drawn only when ``anomaly_kinds`` names
    them; each is a vibration at kinematic frequencies of the shaft, heard
    through the unit's structure as the normal sound is:

    - ``"bearing_tones"``: tones at the outer- or inner-race defect
      frequency (BPFO or BPFI) and its harmonics; an inner-race defect's
      tones are amplitude-modulated at the shaft rate (sidebands at +-1x);
    - ``"blade_damage"``: one damaged blade (vane, tooth): the
      characteristic tone pulses once per revolution, a comb of shaft-rate
      sidebands around the blade-pass (vane-pass, gear-mesh) frequency and
      its harmonics;
    - ``"looseness"``: harmonics of the shaft rate up to 10x, and half
      orders (0.5x, 1.5x, ...);
    - ``"clicks"``: a loose part striking at one shaft angle on about 30 %
      of the revolutions, each strike ringing the unit's modes.

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
        kinds and every order-locked fault; for clicks, over a revolution
        with a click); 0 makes anomalous clips exactly normal ones
        (indistinguishable); larger values make the task easier.
    anomaly_kinds : str or list of str, default=None
        Kinds of anomaly to draw from, a subset of ``("bearing_defect",
        "imbalance", "harmonic_change", "friction", "bearing_tones",
        "blade_damage", "looseness", "clicks")``; None uses the first four,
        ``("bearing_defect", "imbalance", "harmonic_change", "friction")``.
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
        anomaly_kinds = DEFAULT_ANOMALY_KINDS
    anomaly_kinds = _as_names(anomaly_kinds, ANOMALY_KINDS, "anomaly_kinds")
    counts = (n_source_train, n_target_train, n_test_normal, n_test_anomalous)
    n_samples = int(round(duration * sample_rate))
    dataset_seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))

    units, records, jobs = _plan_dataset(
        machine_types, n_sections, counts, anomaly_kinds, contamination, dataset_seed, n_samples
    )
    data = _render_clips(jobs, anomaly_strength, n_samples, sample_rate, n_jobs, verbose)
    description = _describe(units, counts, duration, sample_rate, anomaly_strength, anomaly_kinds, contamination)
    return _assemble(data, records, sample_rate, description, out_dir, verbose)
