"""``skasd score``: audio files scored with saved models."""

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..persistence import load_models
from ._common import CLIError


def audio_files(inputs):
    from ..datasets._names import AUDIO_SUFFIXES

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


def model_key(path, models, machine, section):
    from ..datasets import parse_dcase_filename

    machines = sorted({m for m, _ in models})
    if machine is None:
        # The path as given, not a symlink's target: the folder the user put the clip in names its machine.
        parts = Path(os.path.abspath(path)).parts
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


def load_for_scoring(path, trust):
    """A model file of ``skasd evaluate --save``, or an exported-model folder of ``skasd export``."""
    from ..export import MANIFEST, load_exported

    if (Path(path) / MANIFEST).is_file():
        exported = load_exported(path)
        return {"models": dict.fromkeys(exported.keys), "sample_rate": exported.sample_rate,
                "n_samples": exported.n_samples, "exported": exported}
    return load_models(path, trusted=trust)


def score_files(saved, files, machine=None, section=None, log=None):
    """Anomaly score and decision of each file by the model of its machine type and section, as a frame."""
    from ..datasets._dcase import read_clip
    from ..pipelines import score_models

    models = saved["models"]
    sample_rate, n_samples = saved["sample_rate"], saved["n_samples"]
    keys = [model_key(path, models, machine, section) for path in files]
    X = np.zeros((len(files), n_samples), dtype=np.float32)
    for row, path in enumerate(files):
        clip = read_clip(path, 0, sample_rate)
        X[row, : min(len(clip), n_samples)] = clip[:n_samples]
    frame = pd.DataFrame({"file": files, "machine": [k[0] for k in keys], "section": [k[1] for k in keys]})
    if "exported" in saved:
        anomaly_score, decision = np.zeros(len(files)), np.zeros(len(files), dtype=int)
        for key in dict.fromkeys(keys):
            rows = np.array([k == key for k in keys])
            anomaly_score[rows], decision[rows] = saved["exported"].score(X[rows], key)
    else:
        anomaly_score, decision = score_models(models, X, frame, log=log)
    frame["score"] = anomaly_score
    frame["decision"] = decision
    return frame


def run_score(args):
    """``skasd score``: print file, anomaly score and decision (1 anomalous) per file; returns the frame."""
    saved = load_for_scoring(args.model, args.trust)
    files = audio_files(args.files)
    log = (lambda message: print(message, file=sys.stderr, flush=True)) if args.verbose else None
    frame = score_files(saved, files, args.machine, args.section, log=log)
    for row in frame.itertuples(index=False):
        print(f"{row.file}\t{float(row.score)!r}\t{int(row.decision)}", flush=True)
    return frame
