"""The ``skasd`` command line (also ``python -m skasd``).

Commands:

- ``skasd demo``: generate a DCASE-like data set, fit a strong default
  pipeline and two baselines per machine type, print the official score
  table, write submission files, score tables and plots;
- ``skasd evaluate --data DIR --pipeline NAME|CONFIG --out DIR``: train on
  a DCASE folder's ``train`` split (or a standard split of its ``test``
  split), score the ``test`` split, write the challenge's submission files,
  the score table (when the clips are labelled) and plots; ``--save FILE``
  keeps the fitted models;
- ``skasd score --model FILE files...``: one anomaly score and decision
  per file, from saved models (monitoring);
- ``skasd pipelines``: the named pipelines, ``--show NAME`` as TOML.

Bad input gives one line, ``skasd: error: <message>``, on stderr and exit
status 2 (``--traceback`` shows the traceback instead).
"""

import argparse
import contextlib
import datetime
import pickle
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import _version

#: Version of the model file layout written by ``--save``.
MODEL_FORMAT = 1
#: The demo's pipelines: the strong default first, then the two baselines.
DEMO_PIPELINES = ("acp-ensemble", "logmel-density", "logmel-knn")
DEFAULT_PIPELINE = "acp-ensemble"
#: Named splits for folders with a labelled test split only: (n_source, n_target) first normals fitted.
NAMED_SPLITS = {"valve-standard": (30, 5), "first-normals": None}
_QUICK_DATA = dict(
    machine_types=("fan", "gearbox"), n_source_train=30, n_target_train=5, n_test_normal=10, n_test_anomalous=10,
    duration=1.0,
)
_MODEL_MAGIC = "skasd-model"


class CLIError(Exception):
    """Bad input to the command line: printed as one line, exit status 2."""


def _printer(verbose):
    def say(message=""):
        if verbose:
            print(message, flush=True)

    return say


# -- pipelines: names and configuration files ---------------------------------


def resolve_pipeline(spec):
    """``(label, configuration)`` of a preset name or a configuration file."""
    from ._config import load_config
    from .pipelines import PRESETS, preset_config

    if spec in PRESETS:
        return spec, preset_config(spec)
    path = Path(spec)
    if path.suffix.lower() in (".toml", ".yaml", ".yml") or path.is_file():
        return path.name, load_config(path)
    raise CLIError(
        f"unknown pipeline {spec!r}; valid names: {', '.join(PRESETS)} (or a .toml/.yaml configuration file; "
        "see skasd pipelines)."
    )


def _factory(config, label, sample_rate, args, verbose):
    from ._config import build_pipeline

    context = {"sample_rate": sample_rate, "random_state": args.random_state}
    if args.n_jobs is not None:
        context["n_jobs"] = args.n_jobs
    if getattr(args, "device", None):
        context["device"] = args.device
    if not verbose:
        context["verbose"] = 0

    def make():
        return build_pipeline(config, where=label, context=context)

    make()  # fail now, on a bad configuration, not after loading the data
    return make


# -- output ------------------------------------------------------------------


def _prepare_out(path):
    """Create the output folder and check that it is writable."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise CLIError(f"output folder {str(path)!r} is not writable ({exc.strerror or exc}).") from None
    return path


def _format_table(table, official, definition="2023"):
    shown = table.rename(columns={
        "auc_source": "AUC (source)", "auc_target": "AUC (target)", "pauc": "pAUC", "auc": "AUC",
        "pauc_source": "pAUC (source)", "pauc_target": "pAUC (target)",
    })
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
    mean = "arithmetic mean" if definition == "2020" else "harmonic mean"
    return f"{text}\nOfficial score ({mean} of all AUCs and pAUCs): {official:.4f}"


def _markdown(table):
    def cell(value):
        if isinstance(value, (float, np.floating)):
            return "" if np.isnan(value) else f"{value:.4f}"
        return str(value)

    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    lines = [
        "| " + " | ".join(map(str, table.columns)) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def _plots(out_dir, frame, anomaly_score, decision, thresholds, embeddings, labelled, say):
    """ROC curves, score histograms and 2-D embeddings per machine type and section, if skasd.plotting can."""
    try:
        from . import plotting

        written = 0
        for (machine, section), Z in embeddings.items():
            rows = ((frame["machine"] == machine) & (frame["section"] == section)).to_numpy()
            domain = frame["domain"][rows].to_numpy(dtype=object)
            if any(d not in ("source", "target") for d in domain):
                domain = None
            y = frame["label"][rows].to_numpy() if labelled else None
            title = f"{machine} section {section}"
            stem = f"{machine}_section_{section}"
            figures = {
                f"histogram_{stem}.png": plotting.plot_score_histograms(
                    y, anomaly_score[rows], domain, threshold=thresholds.get((machine, section)), title=title,
                )
            }
            if labelled:
                figures[f"roc_{stem}.png"] = plotting.plot_roc(y, anomaly_score[rows], domain, title=title)
            if Z is not None and len(Z) > 2:
                attribute = frame["attributes"][rows].to_numpy(dtype=object)
                figures[f"embedding_{stem}.png"] = plotting.plot_embedding_2d(
                    np.asarray(Z, dtype=np.float64).reshape(len(Z), -1), domain=domain,
                    attribute=attribute if all(attribute) else None, label=y, title=f"{title}: test clips",
                )
            for name, fig in figures.items():
                plotting.save_figure(fig, out_dir / "plots" / name)
                written += 1
        say(f"  {written} plots written to {out_dir / 'plots'}/")
    except ImportError as exc:
        say(f"  plots skipped: {exc}")


def _write_run(out_dir, frame, anomaly_score, decision, thresholds, embeddings, *, definition, plots, say):
    """Submission files, score table (if labelled) and plots of one pipeline; returns (table, official) or None."""
    from .datasets import write_dcase_submission
    from .metrics import dcase_scores

    submission = out_dir / "submission"
    paths = write_dcase_submission(submission, frame, anomaly_score, decision)
    say(f"  {len(paths)} submission files written to {submission}/")
    labels = frame["label"].to_numpy()
    labelled = bool(len(labels)) and bool(np.isin(labels, (0, 1)).all())
    result = None
    if labelled:
        table, official = dcase_scores(
            labels, anomaly_score, frame["domain"].to_numpy(dtype=object), frame["machine"].to_numpy(dtype=object),
            frame["section"].to_numpy(dtype=object), definition=definition,
        )
        table.to_csv(out_dir / "scores.csv", index=False)
        (out_dir / "scores.md").write_text(
            _markdown(table) + f"\n\nOfficial score (DCASE {definition} definition): {official:.4f}\n"
        )
        result = table, official
    elif (labels != -1).any():
        say("  some test clips are unlabelled: no score table (scores and decisions only)")
    else:
        say("  test clips are unlabelled: no score table (scores and decisions only)")
    if plots:
        _plots(out_dir, frame, anomaly_score, decision, thresholds, embeddings, labelled, say)
    return result


# -- fitting and scoring --------------------------------------------------------


def _fit_and_score(make, config, X, frame, fit, evaluate, say):
    from .pipelines import fit_models, score_models, threshold

    say(f"Fitting one model per machine type and section on {fit.sum()} clips...")
    started = time.perf_counter()
    models = fit_models(
        make, X[fit], frame[fit], shared_embedding=config.get("shared_embedding", "none"), y=config.get("y"), log=say,
    )
    fitted = time.perf_counter()
    say(f"Scoring {evaluate.sum()} clips...")
    anomaly_score, decision, embeddings = score_models(models, X[evaluate], frame[evaluate], log=say, embeddings=True)
    say(f"  fitted in {fitted - started:.1f} s, scored in {time.perf_counter() - fitted:.1f} s")
    thresholds = {key: threshold(model) for key, model in models.items()}
    return models, anomaly_score, decision, embeddings, thresholds


# -- demo ------------------------------------------------------------------------


def run_demo(out_dir, random_state=0, n_jobs=None, verbose=1, *, quick=False, pipelines=DEMO_PIPELINES, plots=True):
    """Generate a DCASE-like data set, fit each pipeline per machine type, score, write and print the results.

    Returns ``(table, officials)``: the score tables of all pipelines in one
    frame (a ``pipeline`` column first) and ``{pipeline: official score}``.
    Writes, under ``out_dir``, ``scores.csv`` and ``scores.md`` (all
    pipelines) and per pipeline a folder with the challenge's submission
    files, its own score table and plots.
    """
    from .datasets import make_machine_sounds
    from .pipelines import preset_config

    say = _printer(verbose)
    configs = {name: preset_config(name) for name in pipelines}
    out_dir = _prepare_out(out_dir)
    started = time.perf_counter()
    say("Generating a DCASE-like data set (make_machine_sounds)" + (", quick sizes" if quick else "") + "...")
    data = make_machine_sounds(**(_QUICK_DATA if quick else {}), random_state=random_state, n_jobs=n_jobs,
                               verbose=verbose)
    frame = data.frame
    counts = frame.groupby(["split", "domain"]).size().to_dict()
    say(
        f"  {len(frame)} clips of {data.data.shape[1] / data.sample_rate:g} s, "
        f"machine types {sorted(frame['machine'].unique())}; "
        + ", ".join(f"{split}/{domain}: {n}" for (split, domain), n in sorted(counts.items()))
        + f" ({time.perf_counter() - started:.0f} s)"
    )
    fit = (frame["split"] == "train").to_numpy()
    test = ~fit
    args = argparse.Namespace(random_state=random_state, n_jobs=n_jobs, device=None)
    tables, officials = [], {}
    for name in pipelines:
        role = {DEMO_PIPELINES[0]: " (strong default)"}.get(name, " (baseline)" if name in DEMO_PIPELINES else "")
        say("")
        say(f"== {name}{role}: {configs[name]['description']}")
        pipeline_started = time.perf_counter()
        make = _factory(configs[name], f"preset {name!r}", data.sample_rate, args, verbose)
        _, anomaly_score, decision, embeddings, thresholds = _fit_and_score(
            make, configs[name], data.data, frame, fit, test, say,
        )
        table, official = _write_run(
            out_dir / name, frame[test].reset_index(drop=True), anomaly_score, decision, thresholds, embeddings,
            definition="2023", plots=plots, say=say,
        )
        say(f"  {name}: official score {official:.4f} ({time.perf_counter() - pipeline_started:.0f} s)")
        tables.append(table.assign(pipeline=name)[["pipeline", *table.columns]])
        officials[name] = official
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(out_dir / "scores.csv", index=False)
    summary = pd.DataFrame({"pipeline": list(officials), "official score": list(officials.values())})
    (out_dir / "scores.md").write_text(
        "# skasd demo: official DCASE 2023 scores on generated data\n\n"
        + _markdown(table) + "\n\n" + _markdown(summary) + "\n"
    )
    say("")
    for name in pipelines:
        say(f"--- {name}")
        say(_format_table(table[table["pipeline"] == name].drop(columns="pipeline"), officials[name]))
    say("")
    say(_format_summary(officials))
    say("")
    elapsed = time.perf_counter() - started
    say(f"Score tables, submission files and plots written to {out_dir}/ ({elapsed:.0f} s in all).")
    return table, officials


def _format_summary(officials):
    width = max(len(name) for name in officials)
    lines = ["Official score per pipeline:"]
    lines += [f"  {name:{width}s}  {score:.4f}" for name, score in officials.items()]
    return "\n".join(lines)


# -- evaluate --------------------------------------------------------------------


def _check_layout(root, machine_types):
    """A clear error for a folder that is not in the DCASE layout."""
    from .datasets._dcase import AUDIO_SUFFIXES, SPLITS

    root = Path(root)
    if not root.is_dir():
        raise CLIError(f"data folder {str(root)!r} does not exist or is not a folder.")
    found = {}
    for machine in sorted(p for p in root.iterdir() if p.is_dir()):
        for split in SPLITS:
            folder = machine / split
            if folder.is_dir() and any(f.suffix.lower() in AUDIO_SUFFIXES for f in folder.iterdir()):
                found.setdefault(machine.name, []).append(split)
    if not found:
        raise CLIError(
            f"data folder {str(root)!r} is not in the DCASE layout: expected <machine>/train/ and "
            "<machine>/test/ folders of .wav or .flac files."
        )
    if machine_types:
        unknown = sorted(set(machine_types) - set(found))
        if unknown:
            raise CLIError(
                f"--machine-types {' '.join(unknown)}: not found in {str(root)!r}; machine types there: "
                f"{', '.join(found)}."
            )
        found = {m: s for m, s in found.items() if m in set(machine_types)}
    return found


def _load(root, machine_types, split, args, say):
    from .datasets import load_dcase

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        data = load_dcase(
            root, machine_types=machine_types, split=split, sample_rate=args.sample_rate, duration=args.duration,
            n_jobs=args.n_jobs, verbose=args.verbose,
        )
    skipped = [w for w in caught if "matches no DCASE naming scheme" in str(w.message)]
    if skipped:
        say(f"  skipped {len(skipped)} file(s) whose names match no DCASE scheme, e.g. {skipped[0].message!s}")
    for w in caught:
        if w not in skipped:
            say(f"  warning: {w.message}")
    return data


def _split_file_mask(path, frame, root):
    """Clips listed in a split file (one name per line, or the first column of a CSV)."""
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"split file {str(path)!r} does not exist.")
    entries = []
    for line in path.read_text().splitlines():
        entry = line.split(",")[0].strip().strip('"')
        if entry and not entry.startswith("#"):
            entries.append(entry.replace("\\", "/"))
    if entries and entries[0].lower() in ("file", "path", "filename", "file_name"):
        entries = entries[1:]
    if not entries:
        raise CLIError(f"split file {str(path)!r} lists no files.")
    relative = [Path(p).resolve().relative_to(Path(root).resolve()).as_posix() for p in frame["path"]]
    names = [Path(p).name for p in frame["path"]]
    by_relative = {r: i for i, r in enumerate(relative)}
    by_name = {}
    for i, name in enumerate(names):
        by_name.setdefault(name, []).append(i)
    fit = np.zeros(len(frame), dtype=bool)
    missing, ambiguous = [], []
    for entry in entries:
        if entry in by_relative:
            fit[by_relative[entry]] = True
        elif "/" not in entry and len(by_name.get(entry, [])) == 1:
            fit[by_name[entry][0]] = True
        elif "/" not in entry and entry in by_name:
            ambiguous.append(entry)
        else:
            missing.append(entry)
    if missing:
        raise CLIError(
            f"split file {str(path)!r}: {len(missing)} listed file(s) not found in the data folder, e.g. "
            f"{missing[0]!r} (give names relative to the data folder, e.g. valve/test/<file>)."
        )
    if ambiguous:
        raise CLIError(
            f"split file {str(path)!r}: {ambiguous[0]!r} names files of several machine types; give it as "
            "<machine>/<split>/<file>."
        )
    anomalous = frame["label"].to_numpy()[fit] == 1
    if anomalous.any():
        first = Path(frame["path"].to_numpy()[fit][anomalous][0]).name
        raise CLIError(f"split file {str(path)!r} lists {anomalous.sum()} anomalous clip(s) to fit on, e.g. {first!r}.")
    return fit


def _choose_split(frame, args, root):
    """(fit, evaluate) masks and a sentence saying how they were chosen."""
    splits = set(frame["split"])
    if args.split_file:
        fit = _split_file_mask(args.split_file, frame, root)
        evaluate = ~fit & (frame["split"] == "test").to_numpy()
        how = (f"fit on the {fit.sum()} clips listed in {args.split_file}, "
               f"evaluate the other {evaluate.sum()} test clips")
    elif args.split:
        from .datasets import first_normals_split

        n_source, n_target = NAMED_SPLITS[args.split] or (args.n_source, args.n_target)
        fit = first_normals_split(frame, n_source=n_source, n_target=n_target)
        evaluate = ~fit
        how = (f"split {args.split}: fit on the first normals of the test split (source index < {n_source}, "
               f"target index < {n_target}: {fit.sum()} clips), evaluate the other {evaluate.sum()}")
    else:
        if "train" not in splits:
            raise CLIError(
                f"{root} has no train split (<machine>/train/): pass --split valve-standard (or first-normals) "
                "or --split-file FILE to choose the clips to fit on from the test split."
            )
        if "test" not in splits:
            raise CLIError(f"{root} has no test split (<machine>/test/) to score.")
        fit = (frame["split"] == "train").to_numpy()
        evaluate = (frame["split"] == "test").to_numpy()
        how = f"fit on the train split ({fit.sum()} clips), evaluate the test split ({evaluate.sum()} clips)"
    if not fit.any():
        raise CLIError("no clips to fit on: the split selects none.")
    if not evaluate.any():
        raise CLIError("no clips to evaluate: the split leaves none.")
    return fit, evaluate, how


def run_evaluate(args):
    """``skasd evaluate``: fit, score, write; returns ``(table, official)`` or None for unlabelled clips."""
    from ._config import build_pipeline

    say = _printer(args.verbose)
    label, config = resolve_pipeline(args.pipeline)
    build_pipeline(config, where=label)  # a bad configuration fails now, not after loading the data
    found = _check_layout(args.data, args.machine_types)
    split = "test" if args.split else None
    if not any("test" in splits for splits in found.values()):
        raise CLIError(f"{args.data} has no test split (<machine>/test/) to score.")
    if not (args.split or args.split_file) and not any("train" in splits for splits in found.values()):
        raise CLIError(
            f"{args.data} has no train split (<machine>/train/): pass --split valve-standard (or first-normals) "
            "or --split-file FILE to choose the clips to fit on from the test split."
        )
    out_dir = _prepare_out(args.out)
    if args.save:
        _check_writable_file(args.save)
    started = time.perf_counter()
    say(f"Loading {args.data} ({', '.join(found)}; split: {split or 'train and test'})...")
    data = _load(args.data, args.machine_types, split, args, say)
    frame = data.frame
    say(f"  {len(frame)} clips of {data.data.shape[1] / data.sample_rate:g} s at {data.sample_rate} Hz "
        f"({time.perf_counter() - started:.0f} s)")
    fit, evaluate, how = _choose_split(frame, args, args.data)
    say(f"  {how}")
    make = _factory(config, label, data.sample_rate, args, args.verbose)
    say(f"Pipeline {label}: " + " -> ".join(type(step).__name__ for _, step in make().steps))
    models, anomaly_score, decision, embeddings, thresholds = _fit_and_score(
        make, config, data.data, frame, fit, evaluate, say,
    )
    result = _write_run(
        out_dir, frame[evaluate].reset_index(drop=True), anomaly_score, decision, thresholds, embeddings,
        definition=args.definition, plots=not args.no_plots, say=say,
    )
    if args.save:
        save_models(
            args.save, models, sample_rate=data.sample_rate, n_samples=data.data.shape[1], pipeline=label,
            config=config, thresholds=thresholds,
        )
        say(f"  models saved to {args.save}")
    if result is not None:
        table, official = result
        say("")
        print(_format_table(table, official, args.definition), flush=True)
        say("")
    say(f"Results written to {out_dir}/ ({time.perf_counter() - started:.0f} s in all).")
    return result


# -- saved models ------------------------------------------------------------------


def _check_writable_file(path):
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise CLIError(f"cannot write the model file {str(path)!r} ({exc.strerror or exc}).") from None
    if path.is_dir():
        raise CLIError(f"model file {str(path)!r} is a folder.")


def save_models(path, models, *, sample_rate, n_samples, pipeline, config, thresholds):
    """Write fitted models: a small header (format, skasd version) then the models (joblib)."""
    import joblib
    import sklearn

    header = {"magic": _MODEL_MAGIC, "format": MODEL_FORMAT, "skasd_version": _version.__version__}
    payload = {
        "skasd_version": _version.__version__,
        "format": MODEL_FORMAT,
        "models": models,
        "sample_rate": int(sample_rate),
        "n_samples": int(n_samples),
        "duration": n_samples / sample_rate,
        "pipeline": pipeline,
        "config": config,
        "thresholds": thresholds,
        "sklearn_version": sklearn.__version__,
        "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(path, "wb") as f:
        pickle.dump(header, f, protocol=4)
        joblib.dump(payload, f)
    return path


def load_models(path):
    """Read a model file of :func:`save_models`; a one-line ValueError if it is not one or is incompatible.

    Loading unpickles Python objects: load only files you trust.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist.")
    with open(path, "rb") as f:
        try:
            header = pickle.load(f)
        except Exception:
            header = None
        if not isinstance(header, dict) or header.get("magic") != _MODEL_MAGIC:
            raise ValueError(f"{str(path)!r} is not a skasd model file (write one with skasd evaluate --save).")
        version, file_format = header.get("skasd_version"), header.get("format")
        if file_format != MODEL_FORMAT or version != _version.__version__:
            raise ValueError(
                f"model file {str(path)!r} was saved by skasd {version} (model format {file_format}); this is "
                f"skasd {_version.__version__} (model format {MODEL_FORMAT}): refit it with this version "
                "(skasd evaluate ... --save)."
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return joblib.load(f)
        except Exception as exc:
            raise ValueError(f"cannot read the models in {str(path)!r}: {type(exc).__name__}: {exc}") from None


def _audio_files(inputs):
    from .datasets._dcase import AUDIO_SUFFIXES

    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            if not inside:
                raise CLIError(f"folder {item!r} holds no .wav or .flac files.")
            files += [str(p) for p in inside]
        elif path.is_file():
            files.append(item)
        else:
            raise CLIError(f"audio file {item!r} does not exist.")
    return files


def _model_key(path, models, machine, section):
    from .datasets import parse_dcase_filename

    machines = sorted({m for m, _ in models})
    if machine is None:
        parts = Path(path).resolve().parts
        candidates = [p for p in parts[-3:-1] if p in machines]
        if candidates:
            machine = candidates[0]
        elif len(machines) == 1:
            machine = machines[0]
        else:
            raise CLIError(
                f"cannot tell the machine type of {path!r} (not in a <machine>/ folder): pass --machine, one of "
                f"{', '.join(machines)}."
            )
    elif machine not in machines:
        raise CLIError(
            f"--machine {machine}: the model file has no model for it; machine types: {', '.join(machines)}."
        )
    sections = sorted(s for m, s in models if m == machine)
    if section is None:
        meta = parse_dcase_filename(path)
        if meta is not None and meta["section"] in sections:
            section = meta["section"]
        elif len(sections) == 1:
            section = sections[0]
        else:
            raise CLIError(
                f"cannot tell the section of {path!r}: pass --section, one of {', '.join(sections)} ({machine})."
            )
    elif section not in sections:
        raise CLIError(
            f"--section {section}: no model for {machine} section {section}; sections: {', '.join(sections)}."
        )
    return machine, section


def run_score(args):
    """``skasd score``: print file, anomaly score and decision (1 anomalous) per file; returns the frame."""
    from .datasets._dcase import read_clip
    from .pipelines import score_models

    saved = load_models(args.model)
    models = saved["models"]
    sample_rate, n_samples = saved["sample_rate"], saved["n_samples"]
    files = _audio_files(args.files)
    keys = [_model_key(path, models, args.machine, args.section) for path in files]
    X = np.zeros((len(files), n_samples), dtype=np.float32)
    for row, path in enumerate(files):
        clip = read_clip(path, 0, sample_rate)
        X[row, : min(len(clip), n_samples)] = clip[:n_samples]
    frame = pd.DataFrame({"file": files, "machine": [k[0] for k in keys], "section": [k[1] for k in keys]})
    log = (lambda message: print(message, file=sys.stderr, flush=True)) if args.verbose else None
    anomaly_score, decision = score_models(models, X, frame, log=log)
    frame["score"] = anomaly_score
    frame["decision"] = decision
    for row in frame.itertuples(index=False):
        print(f"{row.file}\t{float(row.score)!r}\t{int(row.decision)}", flush=True)
    return frame


# -- pipelines ---------------------------------------------------------------------


def run_pipelines(args):
    from ._config import dump_toml
    from .pipelines import PRESETS

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


# -- argument parsing ----------------------------------------------------------------


def _parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="print results only, no progress")
    common.add_argument("--traceback", action="store_true", help="show the traceback of errors (for bug reports)")
    work = argparse.ArgumentParser(add_help=False)
    work.add_argument("--random-state", type=int, default=0, metavar="SEED", help="seed of the models (default: %(default)s)")
    work.add_argument("--n-jobs", type=int, default=None, metavar="N", help="parallel jobs for reading audio and features")
    work.add_argument("--no-plots", action="store_true", help="write no plots")

    parser = argparse.ArgumentParser(
        prog="skasd", description="Anomalous sound detection for machine condition monitoring.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", parents=[common, work],
        help="generate a DCASE-like data set, fit a strong pipeline and two baselines, print the score table",
        description="Generate a DCASE-like data set, fit a strong default pipeline and two baselines per machine "
        "type, print the official score table and write submission files, score tables and plots.",
    )
    demo.add_argument("--out", default="skasd_demo_output", metavar="DIR", help="output folder (default: %(default)s)")
    demo.add_argument("--quick", action="store_true", help="a small data set (2 machine types, 1 s clips): seconds")
    demo.add_argument("--pipelines", nargs="+", default=list(DEMO_PIPELINES), metavar="NAME",
                      help="named pipelines to compare (default: %(default)s)")

    evaluate = commands.add_parser(
        "evaluate", parents=[common, work],
        help="fit on a DCASE folder's training clips, score its test clips, write submission files and scores",
        description="Fit one model per machine type and section on the train split of a DCASE-layout folder "
        "(2020-2025), score the test split, write the challenge's submission CSVs, the score table (labelled "
        "clips) and plots.",
    )
    evaluate.add_argument("--data", required=True, metavar="DIR", help="folder in the DCASE layout: <machine>/<train|test>/<files>")
    evaluate.add_argument("--machine-types", nargs="+", default=None, metavar="MACHINE",
                          help="machine types (folder names) to use; default: all")
    evaluate.add_argument("--pipeline", default=DEFAULT_PIPELINE, metavar="NAME|FILE",
                          help="a named pipeline (skasd pipelines) or a .toml/.yaml configuration file "
                          "(default: %(default)s)")
    evaluate.add_argument("--out", default="skasd_output", metavar="DIR", help="output folder (default: %(default)s)")
    chooser = evaluate.add_mutually_exclusive_group()
    chooser.add_argument("--split", choices=sorted(NAMED_SPLITS),
                         help="fit on the first normal clips of the test split instead of a train split: "
                         "valve-standard (source index < 30, target index < 5) or first-normals "
                         "(--n-source, --n-target); evaluate the rest")
    chooser.add_argument("--split-file", metavar="FILE",
                         help="fit on the clips this file lists (one per line, relative to --data or bare file "
                         "names), evaluate the other test clips")
    evaluate.add_argument("--n-source", type=int, default=30, metavar="N", help="with --split first-normals (default: 30)")
    evaluate.add_argument("--n-target", type=int, default=5, metavar="N", help="with --split first-normals (default: 5)")
    evaluate.add_argument("--sample-rate", type=int, default=None, metavar="HZ", help="resample clips to this rate (Hz)")
    evaluate.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                          help="pad or crop clips to this many seconds (default: the longest clip)")
    evaluate.add_argument("--definition", default="2023", choices=["2020", "2021", "2022", "2023", "2024", "2025"],
                          help="the DCASE year whose metric to report (default: %(default)s)")
    evaluate.add_argument("--device", default=None, metavar="DEVICE", help="torch device of the embedders (default: their own, 'auto')")
    evaluate.add_argument("--save", metavar="FILE", help="save the fitted models to FILE (for skasd score)")

    score = commands.add_parser(
        "score", parents=[common],
        help="score audio files with saved models: file, anomaly score, decision (1 anomalous) per line",
        description="Score audio files (or folders of them) with models saved by skasd evaluate --save; print "
        "'file<TAB>anomaly score<TAB>decision' per file, decision 1 for anomalous.",
    )
    score.add_argument("--model", required=True, metavar="FILE", help="model file written by skasd evaluate --save")
    score.add_argument("--machine", default=None, help="machine type of the files (default: their <machine>/ folder)")
    score.add_argument("--section", default=None, help="section of the files (default: from DCASE file names)")
    score.add_argument("files", nargs="+", help="audio files or folders")

    listing = commands.add_parser(
        "pipelines", parents=[common], help="list the named pipelines; --show NAME prints one as TOML",
        description="List the named pipelines with one-line descriptions.",
    )
    listing.add_argument("--show", metavar="NAME", help="print this pipeline's configuration as TOML")
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (0, or 2 for bad input)."""
    from ._config import ConfigError

    args = _parser().parse_args(argv)
    args.verbose = 0 if getattr(args, "quiet", False) else 1
    try:
        with pd.option_context("display.width", 120), _quiet_warnings(args):
            if args.command == "demo":
                table, officials = run_demo(
                    args.out, random_state=args.random_state, n_jobs=args.n_jobs, verbose=args.verbose,
                    quick=args.quick, pipelines=tuple(args.pipelines), plots=not args.no_plots,
                )
                if not args.verbose:
                    for name, official in officials.items():
                        print(f"--- {name}")
                        print(_format_table(table[table["pipeline"] == name].drop(columns="pipeline"), official))
                    print(_format_summary(officials))
            elif args.command == "evaluate":
                run_evaluate(args)
            elif args.command == "score":
                run_score(args)
            elif args.command == "pipelines":
                run_pipelines(args)
    except (CLIError, ConfigError, ValueError, FileNotFoundError) as exc:
        if args.traceback:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"skasd: error: {message}", file=sys.stderr, flush=True)
        return 2
    return 0


@contextlib.contextmanager
def _quiet_warnings(args):
    """With --quiet, the library's UserWarnings stay quiet too."""
    with warnings.catch_warnings():
        if not args.verbose:
            warnings.simplefilter("ignore", UserWarning)
        yield


if __name__ == "__main__":
    sys.exit(main())
