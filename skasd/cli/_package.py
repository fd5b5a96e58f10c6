"""``skasd package``: the Task 2 submission package from runs of ``skasd evaluate``, and its checker."""

from pathlib import Path

from ..datasets._package import (
    MAX_ABBREVIATION,
    MAX_SYSTEMS,
    check_label,
    check_submission_package,
    development_results,
    write_submission_package,
)
from ._common import CLIError

# What the input of a pipeline's steps is, for the meta file's acoustic_features.
_FEATURES = {
    "LogMelStatistics": "log-mel energies", "LogMelSpectrogram": "log-mel energies",
    "STFTSpectrogram": "spectrogram", "DFTSpectrum": "spectrum", "SoundNetEmbedder": "raw waveform",
}


def run_package(args):
    """Write (unless ``--check``) and check a package; returns True when the check found problems."""
    if args.check:
        if args.system or args.label:
            raise CLIError("--check DIR checks a package: pass it without --label and --system.")
        return report(Path(args.check), args.data)
    if not args.label or not args.system:
        raise CLIError("pass --label Lastname_Institute_task2 and --system RUN_DIR (up to 4), or --check DIR.")
    check_label(args.label)
    if len(args.system) > MAX_SYSTEMS:
        raise CLIError(f"{len(args.system)} --system folders; the task accepts at most {MAX_SYSTEMS} systems.")
    for option in ("pipeline", "dev"):
        given = getattr(args, option)
        if given and len(given) != len(args.system):
            raise CLIError(f"--{option} is given {len(given)} time(s) for {len(args.system)} --system folder(s): give "
                           "it once per system, in the same order, or not at all.")
    sample_rate = data_sample_rate(args.data) if args.data else None
    systems = []
    for i, run in enumerate(args.system):
        run = Path(run)
        pipeline = args.pipeline[i] if args.pipeline else None
        dev = Path(args.dev[i]) if args.dev else None
        known, source = known_fields(run, pipeline, dev)
        if sample_rate:
            known["input_sampling_rate"] = sample_rate
        systems.append({"submission": run / "submission", "known": known, "source": source})
    folders = write_submission_package(args.out, args.label, systems, year=args.year, overwrite=args.overwrite)
    for folder in folders:
        print(f"wrote {folder}/")
    return report(Path(args.out), args.data)


def report(package, data):
    """Print the checker's problems and to-dos, one per line; True when there are problems."""
    problems, todos = check_submission_package(package, data=data)
    for line in problems:
        print(line)
    for line in todos:
        print(f"todo: {line}")
    if problems:
        print(f"{len(problems)} problem(s) in {package}")
    else:
        against = f" against the test clips of {data}" if data else ""
        print(f"{package}: the package is well-formed{against}")
    return bool(problems)


def data_sample_rate(data):
    """The sample rate of an evaluation set's first test clip, as the template writes it (16kHz)."""
    import soundfile as sf

    from ..datasets._names import AUDIO_SUFFIXES

    clips = sorted(p for p in Path(data).glob("*/test/*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not clips:
        raise CLIError(f"--data {data}: no <machine>/test/ clips (give the evaluation set's folder).")
    return f"{sf.info(str(clips[0])).samplerate / 1000:g}kHz"


def known_fields(run, pipeline, dev):
    """The meta fields one run tells: its pipeline's (from --pipeline or a model file in it), dev-set results."""
    if not (run / "submission").is_dir():
        raise CLIError(f"--system {run}: no submission/ folder (give an output folder of skasd evaluate).")
    label, config = pipeline_of(run, pipeline)
    known = {}
    if label is not None:
        known["name"] = f"{label} (skasd)"
        if len(label) <= MAX_ABBREVIATION:
            known["abbreviation"] = label
    if config is not None:
        names = estimator_names(config["steps"])
        method = " -> ".join(step["estimator"] for step in config["steps"])
        known["machine_learning_method"] = f"{method}: {config['description']}" if config.get("description") else method
        features = list(dict.fromkeys(_FEATURES[name] for name in names if name in _FEATURES))
        if features:
            known["acoustic_features"] = ", ".join(features)
        ensembles = [step for step in config["steps"] if step["estimator"] == "ACPEnsemble"]
        if not ensembles:
            known["ensemble_method_subsystem_count"] = None
        elif len(ensembles) == 1 and "estimators" in ensembles[0].get("params", {}):
            known["ensemble_method_subsystem_count"] = len(ensembles[0]["params"]["estimators"])
    if dev is not None:
        known["results"] = dev_results(dev)
    source = f"{run / 'submission'}" + (f", pipeline {label}" if label else "")
    return known, source


def pipeline_of(run, pipeline):
    """``(label, config)`` of --pipeline, else of the model file in the run's folder; Nones when unknown."""
    from ..persistence import read_model_header
    from ..pipelines import PRESETS
    from ._pipelines import resolve_pipeline

    if pipeline is not None:
        return resolve_pipeline(pipeline)
    for path in sorted(p for p in run.iterdir() if p.is_file()):
        try:
            label = read_model_header(path).get("pipeline")
        except ValueError:
            continue
        if not label:
            continue
        # A named pipeline's configuration is known; of a configuration file, only its name.
        return resolve_pipeline(label) if label in PRESETS else (label, None)
    return None, None


def estimator_names(steps):
    """Every estimator a configuration's steps name, nested ensembles included."""
    names = []
    for step in steps:
        names.append(step["estimator"])
        for member in step.get("params", {}).get("estimators", []) or []:
            if isinstance(member, dict) and "steps" in member:
                names += estimator_names(member["steps"])
    return names


def dev_results(dev):
    import pandas as pd

    path = dev / "scores.csv"
    if not path.is_file():
        raise CLIError(f"--dev {dev}: no scores.csv (give the output folder of skasd evaluate on the development set).")
    return development_results(pd.read_csv(path, dtype={"section": str}))
