"""DCASE 2025 supplemental clips: ``<root>/<machine>/supplemental/``.

The 2025 data sets add, beside ``train/`` and ``test/``, a ``supplemental/``
folder per machine type holding either clean recordings of the machine or
recordings of the background noise alone (Nishida et al., DCASE 2025 Task 2
description). The organisers' baseline README names them
``section_00_machine_0001_.wav`` ... ``section_00_machine_0100_.wav``; no
other word than ``machine`` is documented there, so a machine type whose
clips are noise, or whose names carry another word, is declared with
``kind=``.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._dcase import (
    audio_files_in,
    check_reading_params,
    machine_folders,
    read_waveforms,
)
from ._names import AUDIO_SUFFIXES, parse_supplemental_filename

__all__ = ["SUPPLEMENTAL_COLUMNS", "SUPPLEMENTAL_FOLDER", "SUPPLEMENTAL_KINDS", "load_dcase_supplemental"]

SUPPLEMENTAL_FOLDER = "supplemental"
#: What a supplemental clip holds: a clean machine sound or background noise alone.
SUPPLEMENTAL_KINDS = ("machine", "noise")
#: Columns of the frame :func:`load_dcase_supplemental` returns, in this order.
SUPPLEMENTAL_COLUMNS = ("path", "machine", "section", "kind", "index", "attributes", "n_samples_original")
# The word a file name carries for a kind, where the organisers document one.
_DOCUMENTED_WORDS = {"machine": "machine"}


def supplemental_machine_types(root, machine_types=None):
    """The machine types under ``root`` (all, or those named) whose ``supplemental/`` folder holds audio files."""
    root = Path(root)
    found = []
    for machine in machine_folders(root, machine_types):
        folder = root / machine / SUPPLEMENTAL_FOLDER
        if folder.is_dir() and any(path.suffix.lower() in AUDIO_SUFFIXES for path in folder.iterdir()):
            found.append(machine)
    return found


def _declared_kinds(kind, machines):
    """``{machine type: kind}`` for the machine types whose kind ``kind`` declares."""
    if kind is None:
        return {}
    if isinstance(kind, str):
        kind = dict.fromkeys(machines, kind)
    elif not hasattr(kind, "items"):
        raise ValueError(
            f"kind must be None, one of {list(SUPPLEMENTAL_KINDS)} or a {{machine type: kind}} mapping, got {kind!r}."
        )
    for machine, value in kind.items():
        if value not in SUPPLEMENTAL_KINDS:
            raise ValueError(f"kind[{machine!r}]={value!r}: a supplemental kind is one of {list(SUPPLEMENTAL_KINDS)}.")
    unknown = sorted(set(kind) - set(machines))
    if unknown:
        raise ValueError(
            f"kind names {unknown}, which have no supplemental clips here; machine types with some: {machines}."
        )
    return dict(kind)


def _supplemental_records(root, machine_types, kind, strict):
    """One record (path, machine, section, kind, index, attributes) per supplemental file; warnings for the others."""
    root = Path(root)
    machines = supplemental_machine_types(root, machine_types)
    if machine_types is not None:
        named = [machine_types] if isinstance(machine_types, str) else list(machine_types)
        missing = sorted(set(named) - set(machines))
        if missing:
            raise ValueError(
                f"machine_types={named!r}: {missing} have no {SUPPLEMENTAL_FOLDER}/ folder of audio files under "
                f"root={str(root)!r}."
            )
    if not machines:
        raise FileNotFoundError(
            f"No audio files ({', '.join(AUDIO_SUFFIXES)}) found in any <machine>/{SUPPLEMENTAL_FOLDER}/ folder under "
            f"root={str(root)!r}."
        )
    declared = _declared_kinds(kind, machines)
    records = []
    for machine in machines:
        for path in audio_files_in(root / machine / SUPPLEMENTAL_FOLDER, stacklevel=3):
            meta = parse_supplemental_filename(path.name)
            if meta is None:
                message = (
                    f"File name {path.name!r} in {str(path.parent)!r} is not a supplemental clip's name "
                    "(section_<NN>_machine_<NNNN>_.wav)."
                )
            elif machine in declared:
                meta["kind"] = declared[machine]
            elif meta["word"] == _DOCUMENTED_WORDS["machine"]:
                meta["kind"] = "machine"
            else:
                message = (
                    f"File {str(path)!r}: the word {meta['word']!r} is not a documented supplemental kind (only "
                    f"'machine' is); pass kind={{{machine!r}: 'machine' or 'noise'}} to say what its clips hold."
                )
            if meta is None or "kind" not in meta:
                if strict:
                    raise ValueError(message)
                warnings.warn(message + " Skipped (strict=False).", UserWarning, stacklevel=3)
                continue
            records.append({
                "path": str(path), "machine": machine, "section": meta["section"], "kind": meta["kind"],
                "index": meta["index"], "attributes": meta["attributes"],
            })
    if not records:
        raise FileNotFoundError(f"No supplemental file under root={str(root)!r} has a name it can be read by.")
    return records


def load_dcase_supplemental(
    root,
    machine_types=None,
    *,
    kind=None,
    sample_rate=None,
    duration=None,
    channel=0,
    strict=False,
    memmap=None,
    n_jobs=None,
    verbose=1,
):
    """Load the DCASE 2025 supplemental clips: clean machine sounds or noise alone, per machine type.

    Reads ``<root>/<machine>/supplemental/*.wav|flac``, which the 2025
    development and evaluation sets hold beside ``train/`` and ``test/``
    (:func:`load_dcase` never reads that folder). Each machine type's clips
    are either clean recordings of the machine (kind ``"machine"``) or
    recordings of its background noise alone (kind ``"noise"``). The names
    the organisers document are ``section_00_machine_0001_.wav`` ...
    ``section_00_machine_0100_.wav``: such a clip is of kind ``"machine"``
    unless ``kind`` says otherwise. No word for noise clips is documented: a
    name with another word than ``machine`` is read only when ``kind``
    declares its machine type's kind, and skipped with a warning (an error
    with ``strict=True``) otherwise.

    The clips are read as :func:`load_dcase` reads its clips (the same
    checks, resampling and padding or cropping to one length), so that they
    can join the training clips: as the external pool of
    :class:`~skasd.PseudoLabelIterator`, or, the noise clips, as noise mixed
    into the training clips of a :class:`~skasd.MultiBranchEmbedder`
    (``fit(..., noise=...)``).

    Parameters
    ----------
    root : str or path-like
        The folder holding one sub-folder per machine type.
    machine_types : str or list of str, default=None
        Machine types to load; each must have a ``supplemental/`` folder of
        audio files. None loads every machine type that has one.
    kind : {"machine", "noise"}, dict or None, default=None
        What the clips hold: one kind for all, or ``{machine type: kind}``
        for some. It overrides what the file names say. None takes the kind
        from the names.
    sample_rate : int, default=None
        Resample every clip to this rate. None keeps the files' own rate,
        which must then be the same for all files.
    duration : float, default=None
        Length in seconds every clip is padded (with zeros) or cropped to;
        None uses the longest clip. Give the training clips' length to use
        the clips beside them.
    channel : int, default=0
        The channel read from multi-channel files.
    strict : bool, default=False
        What to do with a file whose name cannot be read: skip it with a
        warning (False) or raise a ValueError (True).
    memmap : str or path-like, default=None
        A ``.npy`` file to hold the waveforms on disk, as in :func:`load_dcase`.
    n_jobs : int, default=None
        Files read in parallel through joblib.
    verbose : int, default=1
        0 is silent; otherwise a progress bar over files.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``: float32 array (n_clips, n_samples) of waveforms;
        ``frame``: pandas DataFrame, one row per clip, with the columns
        ``path``, ``machine``, ``section``, ``kind`` (``"machine"`` or
        ``"noise"``), ``index``, ``attributes`` (the part of the name after
        the index, ``""`` for the documented names) and
        ``n_samples_original``; ``sample_rate``: int.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder, or no machine type has a
        ``supplemental/`` folder of audio files.
    ValueError
        For a named machine type without one, a bad ``kind``, an
        unreadable, truncated, empty, silent or non-finite file (named in
        the message), files of different sample rates without
        ``sample_rate``, or (with ``strict=True``) a name that cannot be read.

    References
    ----------
    .. [1] T. Nishida et al., "Description and discussion on DCASE 2025
       Challenge Task 2: First-shot unsupervised anomalous sound detection
       for machine condition monitoring", arXiv:2506.10097, 2025.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> from pathlib import Path
    >>> from skasd.datasets import load_dcase_supplemental, make_machine_sounds, save_dcase
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = save_dcase(make_machine_sounds(machine_types=["fan", "pump"], n_source_train=2, n_target_train=1,
    ...                                    n_test_normal=1, n_test_anomalous=1, duration=0.5, random_state=0), root)
    >>> rng = np.random.default_rng(0)
    >>> for machine in ("fan", "pump"):
    ...     (root / machine / "supplemental").mkdir()
    ...     for index in (1, 2):
    ...         sf.write(root / machine / "supplemental" / f"section_00_machine_{index:04d}_.wav",
    ...                  0.1 * rng.standard_normal(8000), 16000)
    >>> supplemental = load_dcase_supplemental(root, kind={"pump": "noise"}, verbose=0)
    >>> supplemental.data.shape
    (4, 8000)
    >>> supplemental.frame[["machine", "kind", "index"]].values.tolist()
    [['fan', 'machine', 1], ['fan', 'machine', 2], ['pump', 'noise', 1], ['pump', 'noise', 2]]
    """
    check_reading_params(sample_rate, duration, channel)
    records = _supplemental_records(root, machine_types, kind, strict)
    data, sample_rate = read_waveforms(
        records, sample_rate=sample_rate, duration=duration, channel=channel, memmap=memmap, n_jobs=n_jobs,
        verbose=verbose, stacklevel=2,
    )
    frame = pd.DataFrame(records, columns=list(SUPPLEMENTAL_COLUMNS))
    frame["index"] = frame["index"].astype(np.int64)
    frame["n_samples_original"] = frame["n_samples_original"].astype(np.int64)
    return Bunch(data=data, frame=frame, sample_rate=int(sample_rate))
