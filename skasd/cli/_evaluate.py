"""``skasd evaluate``: a DCASE folder's split, fitted and scored, its outputs written."""

import contextlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ..persistence import save_models
from ..utils._rows import take_rows
from ._common import NAMED_SPLITS, CLIError, printer
from ._output import TEMPORARY_PREFIXES, claimed_out, format_table, staged, write_run
from ._pipelines import (
    check_ends_in_a_scorer,
    factory,
    fit_and_score,
    generated_classes_setting,
    resolve_pipeline,
)


def check_layout(root, machine_types):
    """A clear error for a folder that is not in the DCASE layout."""
    from ..datasets._dcase import SPLIT_FOLDERS
    from ..datasets._names import AUDIO_SUFFIXES

    root = Path(root)
    if not root.is_dir():
        raise CLIError(f"data folder {str(root)!r} does not exist or is not a folder.")
    found = {}
    for machine in sorted(p for p in root.iterdir() if p.is_dir()):
        for split, folders in SPLIT_FOLDERS.items():
            # DCASE 2021 keeps its test clips in source_test/ and target_test/.
            if any(
                (machine / folder).is_dir()
                and any(f.suffix.lower() in AUDIO_SUFFIXES for f in (machine / folder).iterdir())
                for folder in folders
            ):
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


def by_machine_type(config, args, found):
    """Whether the run can read, fit and score one machine type at a time.

    It can unless the embedding is fitted on all machine types at once
    (``shared_embedding = "all"``), a split file, which may list clips of
    every machine type, chooses the training clips, or a machine type lacks
    a split the others have.
    """
    complete = all("test" in splits and (args.split or "train" in splits) for splits in found.values())
    return config.get("shared_embedding", "none") != "all" and not args.split_file and len(found) > 1 and complete


def data_length(args, found, split):
    """The sample rate, and the length every clip is padded or cropped to: the same for every machine type."""
    from ..datasets import clip_length

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        sample_rate, n_samples = clip_length(args.data, list(found), split, sample_rate=args.sample_rate)
    if args.duration is not None:
        return sample_rate, round(args.duration * sample_rate)
    for w in caught:  # clips cropped or cut short: the parts are read with this length and will not say so
        note(str(w.message))
    return sample_rate, n_samples


def announce(config, label, sample_rate, args, say):
    """The pipeline factory, after saying what the pipeline is."""
    make = factory(config, label, sample_rate, args, args.verbose)
    say(f"Pipeline {label}: " + " -> ".join(type(step).__name__ for _, step in make().steps))
    return make


def fit_and_score_part(make, config, data, args, say, started):
    """Fit and score the clips of ``data``: models, evaluated frame, scores, decisions, embeddings, thresholds."""
    frame = data.frame
    say(f"  {len(frame)} clips of {data.data.shape[1] / data.sample_rate:g} s at {data.sample_rate} Hz "
        f"({time.perf_counter() - started:.0f} s)")
    fit, evaluate, how = choose_split(frame, args, args.data)
    say(f"  {how}")
    models, anomaly_score, decision, embeddings, thresholds = fit_and_score(
        make, config, take_rows(data.data, fit), frame[fit], take_rows(data.data, evaluate), frame[evaluate], say,
    )
    return models, frame[evaluate].reset_index(drop=True), anomaly_score, decision, embeddings, thresholds


def on_disk(config, args, found):
    """Whether a run that fits on all machine types at once holds the waveforms on disk.

    It does when the embedding is shared by all machine types and every
    machine type has its train and test folders: each split then goes to
    its own memory-mapped file, whose machine types and sections are
    contiguous rows, so that fitting and scoring read them as views and
    nothing copies the set into memory. A split chosen from the test clips
    (``--split``, ``--split-file``) is read into memory as before.
    """
    complete = all("train" in splits and "test" in splits for splits in found.values())
    return config.get("shared_embedding", "none") == "all" and not (args.split or args.split_file) and complete


def fit_and_score_on_disk(config, label, args, found, length, folder, say, started):
    """Fit on the train split and score the test split of every machine type, each split a memory map in ``folder``.

    ``length`` is ``(sample_rate, n_samples)`` of every clip (:func:`data_length`).
    """
    sample_rate, n_samples = length
    splits = {}
    for split in ("train", "test"):
        path = Path(folder) / f"{split}.npy"
        say(f"Loading {args.data} ({', '.join(found)}; split: {split}) into {path}...")
        splits[split] = load_data(
            args.data, list(found), split, args, say, duration=n_samples / sample_rate, memmap=path,
        )
    train, test = splits["train"], splits["test"]
    make = announce(config, label, train.sample_rate, args, say)
    say(f"  {len(train.frame) + len(test.frame)} clips of {n_samples / sample_rate:g} s at {sample_rate} Hz, "
        f"on disk ({time.perf_counter() - started:.0f} s)")
    say(f"  fit on the train split ({len(train.frame)} clips), evaluate the test split ({len(test.frame)} clips)")
    models, anomaly_score, decision, embeddings, thresholds = fit_and_score(
        make, config, train.data, train.frame, test.data, test.frame, say,
    )
    return models, test.frame.reset_index(drop=True), anomaly_score, decision, embeddings, thresholds


def merge_parts(parts):
    """One run's results from those of its machine types, in the order one call on all of them gives."""
    import pandas as pd

    models, embeddings, thresholds = {}, {}, {}
    for part in parts:
        models.update(part[0])
        embeddings.update(part[4])
        thresholds.update(part[5])
    frame = pd.concat([part[1] for part in parts], ignore_index=True)
    anomaly_score = np.concatenate([part[2] for part in parts])
    decision = np.concatenate([part[3] for part in parts])
    return models, frame, anomaly_score, decision, embeddings, thresholds


def load_data(root, machine_types, split, args, say, duration=None, memmap=None):
    from ..datasets import load_dcase

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        data = load_dcase(
            root, machine_types=machine_types, split=split, sample_rate=args.sample_rate,
            duration=args.duration if duration is None else duration, memmap=memmap, n_jobs=args.n_jobs,
            ground_truth=getattr(args, "ground_truth", None), verbose=args.verbose,
        )
    # Notes on what was not read are no progress: stderr, also with --quiet.
    skipped = [w for w in caught if "matches no DCASE naming scheme" in str(w.message)]
    if skipped:
        note(f"skipped {len(skipped)} file(s) whose names match no DCASE scheme, e.g. {skipped[0].message!s}")
    for w in caught:
        if w not in skipped:
            note(str(w.message))
    return data


def note(message):
    """A warning the user must see whatever --quiet says: one line on stderr."""
    print(f"skasd: warning: {message}", file=sys.stderr, flush=True)


def split_file_mask(path, frame, root):
    """Clips listed in a split file (one name per line, or the first column of a CSV)."""
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"split file {str(path)!r} does not exist.")
    entries = []
    # utf-8-sig: a byte-order mark, as spreadsheet programs write, is not part of the first name.
    for line in path.read_text(encoding="utf-8-sig").splitlines():
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


def choose_split(frame, args, root):
    """(fit, evaluate) masks and a sentence saying how they were chosen."""
    splits = set(frame["split"])
    if args.split_file:
        fit = split_file_mask(args.split_file, frame, root)
        evaluate = ~fit & (frame["split"] == "test").to_numpy()
        how = (f"fit on the {fit.sum()} clips listed in {args.split_file}, "
               f"evaluate the other {evaluate.sum()} test clips")
    elif args.split:
        from ..datasets import first_normals_split

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
        anomalous = fit & (frame["label"] == 1).to_numpy()
        if anomalous.any():
            # The detector learns what normal is from these: an anomaly among them would be learnt as normal.
            first = Path(frame["path"].to_numpy()[anomalous][0]).name
            note(f"{anomalous.sum()} clip(s) of the train split are named anomalous (e.g. {first!r}): not fitted.")
            fit = fit & ~anomalous
        evaluate = (frame["split"] == "test").to_numpy()
        how = f"fit on the train split ({fit.sum()} clips), evaluate the test split ({evaluate.sum()} clips)"
    if not fit.any():
        raise CLIError("no clips to fit on: the split selects none.")
    if not evaluate.any():
        raise CLIError("no clips to evaluate: the split leaves none.")
    scored = frame[evaluate]
    if args.definition != "2020" and (scored["label"] != -1).any() and scored["domain"].isna().all():
        # Found now, before fitting, not when the score table is computed after the submission is written.
        raise CLIError(
            f"the test clips of {args.data} name no domain (DCASE 2020 file names), which the "
            f"{args.definition} metric needs: pass --definition 2020."
        )
    if args.split and args.definition != "2020":
        # A split that fits every normal clip of a domain leaves no AUC for it (a NaN in the table).
        for (machine, section, domain), clips in frame[frame["label"] != -1].groupby(["machine", "section", "domain"]):
            left = ~fit[frame.index.get_indexer(clips.index)] & (clips["label"] == 0).to_numpy()
            if not left.any():
                raise CLIError(
                    f"the split fits every normal {domain}-domain clip of {machine} section {section}: none is left "
                    f"to evaluate its {domain} AUC; lower --n-source / --n-target."
                )
    return fit, evaluate, how


def run_evaluate(args):
    """``skasd evaluate``: fit, score, write; returns ``(table, official)`` or None for unlabelled clips.

    Once the input is checked, the output folder is locked for the run and
    cleared of a former run's results (refused without ``--overwrite``).
    """
    with contextlib.ExitStack() as held:
        return _evaluate(args, held)


def _evaluate(args, held):
    from .._config import build_pipeline

    say = printer(args.verbose)
    label, config = resolve_pipeline(args.pipeline)
    # A bad configuration, or options it cannot take, fail now, before the data are read.
    model = build_pipeline(config, where=label)
    check_ends_in_a_scorer(model, label)
    generated_classes_setting(config, model, label, args)
    found = check_layout(args.data, args.machine_types)
    split = "test" if args.split else None
    if not any("test" in splits for splits in found.values()):
        raise CLIError(f"{args.data} has no test split (<machine>/test/) to score.")
    if not (args.split or args.split_file) and not any("train" in splits for splits in found.values()):
        raise CLIError(
            f"{args.data} has no train split (<machine>/train/): pass --split valve-standard (or first-normals) "
            "or --split-file FILE to choose the clips to fit on from the test split."
        )
    out_dir = held.enter_context(claimed_out(args.out, overwrite=getattr(args, "overwrite", False)))
    if args.save:
        check_writable_file(args.save)
    started = time.perf_counter()
    make = None
    if by_machine_type(config, args, found):
        parts = []
        sample_rate, n_samples = data_length(args, found, split)
        for machine in found:
            say(f"Loading {args.data} ({machine}; split: {split or 'train and test'})...")
            data = load_data(args.data, [machine], split, args, say, duration=n_samples / sample_rate)
            make = make or announce(config, label, data.sample_rate, args, say)
            parts.append(fit_and_score_part(make, config, data, args, say, started))
            del data  # one machine type's waveforms at a time
        models, frame_evaluated, anomaly_score, decision, embeddings, thresholds = merge_parts(parts)
    elif on_disk(config, args, found):
        sample_rate, n_samples = data_length(args, found, None)
        folder = tempfile.mkdtemp(prefix=TEMPORARY_PREFIXES[1], dir=out_dir)
        try:
            models, frame_evaluated, anomaly_score, decision, embeddings, thresholds = fit_and_score_on_disk(
                config, label, args, found, (sample_rate, n_samples), folder, say, started,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        say(f"Loading {args.data} ({', '.join(found)}; split: {split or 'train and test'})...")
        data = load_data(args.data, args.machine_types, split, args, say)
        sample_rate, n_samples = data.sample_rate, data.data.shape[1]
        make = announce(config, label, data.sample_rate, args, say)
        models, frame_evaluated, anomaly_score, decision, embeddings, thresholds = fit_and_score_part(
            make, config, data, args, say, started
        )
        del data
    # Written beside --out and moved into it at the end: an error on the way leaves no partial results.
    staging = held.enter_context(staged(out_dir))
    result = write_run(
        staging, frame_evaluated, anomaly_score, decision, thresholds, embeddings,
        definition=args.definition, plots=not args.no_plots, say=say, shown_dir=out_dir,
    )
    if args.save:
        try:
            save_models(
                args.save, models, sample_rate=sample_rate, n_samples=n_samples, pipeline=label,
                config=config, thresholds=thresholds,
            )
        except OSError as exc:
            raise CLIError(
                f"cannot save the models to {args.save!r} ({exc.strerror or exc}); a model file already there is "
                "unchanged."
            ) from exc
        say(f"  models saved to {args.save}")
    held.pop_all().close()  # the results move into --out, then the lock goes
    if result is not None:
        table, official = result
        say("")
        print(format_table(table, official, args.definition), flush=True)
        say("")
    say(f"Results written to {out_dir}/ ({time.perf_counter() - started:.0f} s in all).")
    return result


def check_writable_file(path):
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise CLIError(f"cannot write the model file {str(path)!r} ({exc.strerror or exc}).") from None
    if path.is_dir():
        raise CLIError(f"model file {str(path)!r} is a folder.")
    if path.exists() and not (os.access(path, os.W_OK) and path.stat().st_mode & 0o222):
        # Replacing it by a rename would succeed in a writable folder: a file marked read-only is kept, as its
        # owner asked. The mode bits also hold for root, whom os.access always lets write.
        raise CLIError(f"model file {str(path)!r} is read-only; make it writable or choose another --save.")
