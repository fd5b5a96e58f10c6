"""What a run writes and prints: the output folder, score tables, submission files and plots."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils._files import replaced_atomically, write_text_atomically
from ._common import CLIError


def prepare_out(path):
    """Create the output folder and check that it is writable."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise CLIError(f"output folder {str(path)!r} is not writable ({exc.strerror or exc}).") from None
    return path


#: What skasd evaluate writes into --out, besides seed_<s>/ folders: another run's are replaced only with --overwrite.
RUN_OUTPUTS = ("scores.csv", "scores.md", "submission", "plots", "seeds.csv", "seeds.md")
#: Held while a run writes into its folder.
LOCK_FILE = ".skasd-run.lock"
#: The temporary folders a run makes in its folder: results before they are moved into place, memory-mapped waveforms.
TEMPORARY_PREFIXES = (".results-", ".waveforms-")


@contextlib.contextmanager
def claimed_out(path, *, overwrite):
    """The output folder for one run: created, locked against a second run, cleared of a former run's results.

    A former run's results are refused unless ``overwrite``: then they are
    removed first, so that none of them is left beside the new ones.
    """
    path = prepare_out(path)
    lock = path / LOCK_FILE
    try:
        descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise CLIError(
            f"another skasd run is writing into {str(path)!r} (its lock file {LOCK_FILE} is there); choose another "
            f"--out, or, if no run is, remove {str(lock)!r}."
        ) from None
    try:
        os.write(descriptor, f"{os.getpid()}\n".encode())
        os.close(descriptor)
        former = [p for p in sorted(path.iterdir()) if p.name in RUN_OUTPUTS or (p.is_dir() and p.name.startswith("seed_"))]
        if former and not overwrite:
            names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in former)
            raise CLIError(
                f"output folder {str(path)!r} already holds a run's results ({names}): pass --overwrite to replace "
                "them, or choose another --out."
            )
        for p in former:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        # A run killed outright (no cleanup) leaves its temporary folders; only a run holding the lock makes them.
        for p in path.iterdir():
            if p.is_dir() and p.name.startswith(TEMPORARY_PREFIXES):
                shutil.rmtree(p, ignore_errors=True)
        yield path
    finally:
        lock.unlink(missing_ok=True)


@contextlib.contextmanager
def staged(out_dir):
    """A folder beside a run's results to write them into; its entries are moved into ``out_dir`` on success.

    A run that fails after it began to write (a plot that cannot be drawn,
    a model file that cannot be saved) then leaves none of its results, not
    some of them: the folder is removed on any error. ``out_dir`` holds no
    former results (:func:`claimed_out`), so each entry is renamed into
    place, within one file system.
    """
    staging = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIXES[0], dir=out_dir))
    try:
        yield staging
        for entry in sorted(staging.iterdir()):
            os.replace(entry, out_dir / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# The decisions' columns, named as the official evaluator prints them.
_DECISION_COLUMNS = {"precision": "precision", "recall": "recall", "f1": "F1 score"}


def format_table(table, official, definition="2023"):
    shown = table.rename(columns={
        "auc_source": "AUC (source)", "auc_target": "AUC (target)", "pauc": "pAUC", "auc": "AUC",
        "pauc_source": "pAUC (source)", "pauc_target": "pAUC (target)",
        **{f"{value}{suffix}": f"{shown}{label}" for value, shown in _DECISION_COLUMNS.items()
           for suffix, label in (("", ""), ("_source", " (source)"), ("_target", " (target)"))},
    })
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
    mean = "arithmetic mean" if definition == "2020" else "harmonic mean"
    return f"{text}\nOfficial score ({mean} of all AUCs and pAUCs): {official:.4f}"


def markdown(table):
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


def write_plots(out_dir, frame, anomaly_score, decision, thresholds, embeddings, labelled, say, shown_dir=None):
    """ROC curves, score histograms and 2-D embeddings per machine type and section, if skasd.plotting can."""
    try:
        from .. import plotting

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
        say(f"  {written} plots written to {(shown_dir or out_dir) / 'plots'}/")
    except ImportError as exc:
        say(f"  plots skipped: {exc}")


def write_run(
    out_dir, frame, anomaly_score, decision, thresholds, embeddings, *, definition, plots, say, shown_dir=None
):
    """Submission files, score table (if labelled) and plots of one pipeline; returns (table, official) or None.

    ``shown_dir``: the folder the progress lines name, where the files will
    be once moved (:func:`staged`); None names ``out_dir``.
    """
    from ..datasets import write_dcase_submission
    from ..metrics import dcase_scores

    submission = out_dir / "submission"
    paths = write_dcase_submission(submission, frame, anomaly_score, decision, year=int(definition))
    say(f"  {len(paths)} submission files written to {(shown_dir or out_dir) / 'submission'}/")
    labels = frame["label"].to_numpy()
    labelled = bool(len(labels)) and bool(np.isin(labels, (0, 1)).all())
    result = None
    if labelled:
        table, official = dcase_scores(
            labels, anomaly_score, frame["domain"].to_numpy(dtype=object), frame["machine"].to_numpy(dtype=object),
            frame["section"].to_numpy(dtype=object), definition=definition, decision=decision,
        )
        with replaced_atomically(out_dir / "scores.csv") as partial:
            table.to_csv(partial, index=False)
        write_text_atomically(
            out_dir / "scores.md",
            markdown(table) + f"\n\nOfficial score (DCASE {definition} definition): {official:.4f}\n",
        )
        result = table, official
    elif (labels != -1).any():
        say("  some test clips are unlabelled: no score table (scores and decisions only)")
    else:
        say("  test clips are unlabelled: no score table (scores and decisions only)")
    if plots:
        write_plots(out_dir, frame, anomaly_score, decision, thresholds, embeddings, labelled, say, shown_dir)
    return result


def format_summary(officials):
    width = max(len(name) for name in officials)
    lines = ["Official score per pipeline:"]
    lines += [f"  {name:{width}s}  {score:.4f}" for name, score in officials.items()]
    return "\n".join(lines)
