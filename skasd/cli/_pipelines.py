"""Named pipelines and configuration files: resolving ``--pipeline``, building, fitting and scoring the models."""

import sys
import time
import warnings
from pathlib import Path

from ._common import DEFAULT_PIPELINE, CLIError
from ._supplemental import supplemental_pool


def resolve_pipeline(spec):
    """``(label, configuration)`` of a preset name or a configuration file."""
    from .._config import load_config
    from ..pipelines import PRESETS, RENAMED_PRESETS, preset_config, resolve_preset_name

    if spec in RENAMED_PRESETS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FutureWarning)
            spec = resolve_preset_name(spec)
        print(f"skasd: warning: {caught[0].message}", file=sys.stderr, flush=True)
    if spec in PRESETS:
        return spec, preset_config(spec)
    path = Path(spec)
    if path.suffix.lower() in (".toml", ".yaml", ".yml") or path.is_file():
        return path.name, load_config(path)
    raise CLIError(
        f"unknown pipeline {spec!r}; valid names: {', '.join(PRESETS)} (or a .toml/.yaml configuration file; "
        "see skasd pipelines)."
    )


#: Estimators whose ``fit`` trains a network over many epochs, or runs such estimators in stages: the
#: command line shows their progress (``verbose=1``: a line per epoch or stage) unless ``--quiet``. The
#: others keep their default, ``verbose=0``: one progress bar per feature batch would drown the output.
SHOW_PROGRESS = frozenset({
    "ConfidentPairSCAN", "DenseAutoencoderScorer", "MaskedTeacherStudentPretrainer", "MultiBranchEmbedder",
    "PseudoLabelIterator", "ViTArcFaceEmbedder", "WardDAPEmbedder",
})


def _progress(cls):
    return 1 if cls.__name__ in SHOW_PROGRESS else None


def check_ends_in_a_scorer(model, label):
    """A one-line error for a pipeline that cannot score clips: its last step has no score_samples."""
    last = model.steps[-1][1] if hasattr(model, "steps") else model
    if not hasattr(type(last), "score_samples"):
        raise CLIError(
            f"{label}: the last step, {type(last).__name__}, is no scorer (it has no score_samples): end the "
            "pipeline with one, e.g. LocalDensityKNNScorer (skasd pipelines --show logmel-density)."
        )


def factory(config, label, sample_rate, args, verbose):
    from .._config import build_pipeline
    from ..pipelines import trains_a_classifier

    context = {"sample_rate": sample_rate, "random_state": args.random_state}
    if args.n_jobs is not None:
        context["n_jobs"] = args.n_jobs
    if getattr(args, "device", None):
        context["device"] = args.device
    if getattr(args, "threshold", None):
        context["threshold"] = args.threshold
    # The library is silent unless asked; the command line asks for training progress, as it shows its own.
    context["verbose"] = _progress if verbose else 0

    def make():
        return build_pipeline(config, where=label, context=context)

    make.random_state, make.n_jobs = args.random_state, args.n_jobs

    model = make()
    check_ends_in_a_scorer(model, label)  # fail now, on a bad configuration, not after loading the data
    make.generated_classes = generated_classes_setting(config, model, label, args)
    make.sample_rate = sample_rate
    make.learns_classes = trains_a_classifier(model)
    # A step with an external pool (PseudoLabelIterator) gets the data folder's supplemental clips, if any,
    # read when fitting, at the training clips' length.
    make.external_pool = supplemental_pool(model, args, sample_rate)
    return make


def generated_classes_setting(config, model, label, args):
    """``--generated-classes`` checked against the pipeline: "auto", or a number of clips (0: none)."""
    from ..pipelines import trains_a_classifier

    setting = getattr(args, "generated_classes", "auto")
    if setting in ("auto", 0):
        return setting
    if config.get("shared_embedding", "none") == "none" or not trains_a_classifier(model):
        raise CLIError(
            f"--generated-classes {setting}: {label} has no shared embedding that learns classes for them to join "
            "(multibranch-kmeans, pseudo-label-iterator and ward-dap have; or a configuration with "
            "shared_embedding and such a step)."
        )
    return setting


def extra_classes(make, config, X_fit, frame_fit, say):
    """The generated further classes that the shared embedding trains on beside ``X_fit``, or None.

    ``--generated-classes auto`` gives them where the embedding learns
    classes and would otherwise see one machine type (a data set of one
    type, or ``shared_embedding = "machine"``): there the classifier has
    only the type's attribute values to tell apart, or nothing.
    """
    from ..datasets import make_extra_classes

    setting = getattr(make, "generated_classes", 0)
    shared = config.get("shared_embedding", "none")
    if setting == 0 or shared == "none":
        return None
    if setting == "auto":
        one_type = shared == "machine" or frame_fit["machine"].nunique() == 1
        if not (one_type and make.learns_classes):
            return None
    # auto: make_extra_classes' own number of clips.
    size = {} if setting == "auto" else {"n_clips": setting}
    try:
        extra = make_extra_classes(X_fit.shape[1], sample_rate=make.sample_rate, random_state=make.random_state,
                                   n_jobs=make.n_jobs, **size)
    except ValueError as exc:  # clips too short, or a rate too low, to generate machines at
        if setting != "auto":
            raise CLIError(f"--generated-classes {setting}: {exc}") from exc
        say(f"  no generated classes beside the one machine type: {exc}")
        return None
    types = ", ".join(sorted(extra.frame["machine"].unique()))
    say(f"  the embedding also trains on {len(extra.frame)} generated clips of further classes ({types}; "
        f"--generated-classes {setting}); they are not scored")
    return extra.data, extra.frame


def fit_and_score(make, config, X_fit, frame_fit, X_evaluate, frame_evaluate, say):
    """Models fitted on the ``fit`` clips and the ``evaluate`` clips' scores, decisions, embeddings, thresholds."""
    from ..embedding._training import SingleClassError
    from ..pipelines import fit_models, score_models, threshold

    pool = getattr(make, "external_pool", None)
    fit_params = None if pool is None else pool.fit_params(X_fit.shape[1], say)
    say(f"Fitting one model per machine type and section on {len(frame_fit)} clips...")
    started = time.perf_counter()
    try:
        models = fit_models(
            make, X_fit, frame_fit, shared_embedding=config.get("shared_embedding", "none"), y=config.get("y"),
            fit_params=fit_params, extra_classes=extra_classes(make, config, X_fit, frame_fit, say), log=say,
        )
    except SingleClassError as exc:
        # Raised as the embedder's training starts, before any epoch: say which pipelines suit such data.
        raise CLIError(
            f"{exc} This pipeline trains a classifier of machine types (and attributes, sections); for a single "
            "machine type without them, let generated classes join its training (--generated-classes auto, the "
            "default) or choose a pipeline that trains none: logmel-density, soundnet-density, dcase-ae or scan "
            "(skasd pipelines lists them)."
        ) from exc
    fitted = time.perf_counter()
    say(f"Scoring {len(frame_evaluate)} clips...")
    anomaly_score, decision, embeddings = score_models(models, X_evaluate, frame_evaluate, log=say, embeddings=True)
    say(f"  fitted in {fitted - started:.1f} s, scored in {time.perf_counter() - fitted:.1f} s")
    thresholds = {key: threshold(model) for key, model in models.items()}
    return models, anomaly_score, decision, embeddings, thresholds


def run_pipelines(args):
    from .._config import dump_toml
    from ..pipelines import PRESETS

    if args.show:
        label, config = resolve_pipeline(args.show)
        print(f"# skasd pipeline {label!r}: save as a .toml file, edit, and pass it to --pipeline")
        print(dump_toml(config), end="")
        return
    width = max(len(name) for name in PRESETS)
    print("Named pipelines (skasd evaluate --pipeline NAME; skasd pipelines --show NAME prints one as TOML):")
    for name, config in PRESETS.items():
        marker = " (default)" if name == DEFAULT_PIPELINE else ""
        print(f"  {name:{width}s}  {config['description']}{marker}")
