"""Read and write folders in the DCASE Task 2 layout.

The layout is ``<root>/<machine>/<split>/<file>.wav|flac`` with ``split`` in
``train`` or ``test``; the file name carries the metadata. DCASE 2021 keeps
its test clips in ``source_test`` and ``target_test`` folders instead of
``test``: both are read as the test split.
"""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from joblib import Parallel, delayed
from scipy.signal import resample_poly
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from ._frame import make_frame
from ._ground_truth import attach_ground_truth, read_ground_truth
from ._names import AUDIO_SUFFIXES, format_dcase_filename, parse_dcase_filename

SPLITS = ("train", "test")
# The folders each split's clips lie in (DCASE 2021 splits its test clips by domain).
SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "source_test", "target_test")}


def machine_folders(root, machine_types):
    """The machine types (sub-folders of ``root``) to read: all, or those named, each checked to be there."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root={str(root)!r} is not a folder.")
    machines = sorted(p.name for p in root.iterdir() if p.is_dir())
    if machine_types is not None:
        if isinstance(machine_types, str):
            machine_types = [machine_types]
        unknown = sorted(set(machine_types) - set(machines))
        if unknown:
            raise ValueError(
                f"machine_types={list(machine_types)!r}: no folder for {unknown} under "
                f"root={str(root)!r}; machine types found there: {machines}."
            )
        machines = [m for m in machines if m in set(machine_types)]
    return machines


def audio_files_in(folder, stacklevel):
    """The audio files of one folder, sorted; anything but a regular file is skipped with a warning.

    ``stacklevel`` is the one the caller's own warnings would take.
    """
    files = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        if not path.is_file():
            # Opening a FIFO would wait for a writer forever.
            warnings.warn(
                f"{str(path)!r} is not a regular file (a FIFO, a device or a folder): skipped.",
                UserWarning,
                stacklevel=stacklevel + 1,
            )
            continue
        files.append(path)
    return files


def _find_audio_files(root, machine_types, split):
    root = Path(root)
    machines = machine_folders(root, machine_types)
    if split is None:
        splits = SPLITS
    elif split in SPLITS:
        splits = (split,)
    else:
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}.")
    files = []
    for machine in machines:
        for split_name in splits:
            for folder_name in SPLIT_FOLDERS[split_name]:
                folder = root / machine / folder_name
                if folder.is_dir():
                    files += [(machine, split_name, path) for path in audio_files_in(folder, stacklevel=4)]
    if not files:
        raise FileNotFoundError(
            f"No audio files ({', '.join(AUDIO_SUFFIXES)}) found under root={str(root)!r} "
            f"for split={split!r}; expected the DCASE layout <machine>/<train|test>/<file> (2021: also source_test, target_test)."
        )
    return files


def _declared_wav_bytes(path):
    """Size a RIFF/WAVE file says it has, or None when it is not a plain RIFF file."""
    with open(path, "rb") as f:
        header = f.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return None
    size = int.from_bytes(header[4:8], "little")
    # A WAV streamed to a pipe (FFmpeg, sox) cannot go back to write its
    # size: it leaves the placeholder 0xFFFFFFFF (or 0), which says nothing
    # about the length; libsndfile then reads to the end of the file.
    if size in (0, 0xFFFFFFFF):
        return None
    return size + 8


def _audio_info(path):
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise ValueError(f"Cannot read audio file {str(path)!r}: {exc}") from exc
    declared = _declared_wav_bytes(path)
    # libsndfile silently shortens a truncated WAV to the bytes present;
    # the RIFF header still tells how long it should have been.
    if declared is not None and Path(path).stat().st_size < declared:
        raise ValueError(
            f"Audio file {str(path)!r} is truncated: the header declares {declared} bytes, "
            f"the file has {Path(path).stat().st_size}."
        )
    return info


def read_clip(path, channel, sample_rate):
    """Read one channel of one file as float32, resampled to ``sample_rate``."""
    info = _audio_info(path)
    if channel >= info.channels:
        raise ValueError(
            f"channel={channel} but {str(path)!r} has {info.channels} channel(s)."
        )
    try:
        samples, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise ValueError(f"Cannot decode audio file {str(path)!r} (truncated or corrupt?): {exc}") from exc
    if len(samples) < info.frames:
        raise ValueError(
            f"Audio file {str(path)!r} is truncated: {len(samples)} of {info.frames} frames decoded."
        )
    clip = samples[:, channel]
    if clip.size == 0:
        raise ValueError(f"Audio file {str(path)!r} is empty (0 samples).")
    if not np.all(np.isfinite(clip)):
        raise ValueError(f"Audio file {str(path)!r} contains NaN or infinite samples.")
    if not np.any(clip):
        raise ValueError(
            f"Audio file {str(path)!r} is silent (all samples are zero): a disconnected "
            "microphone? Remove it from the folder."
        )
    if file_rate != sample_rate:
        ratio = math.gcd(file_rate, sample_rate)
        clip = resample_poly(clip, sample_rate // ratio, file_rate // ratio).astype(np.float32)
    return clip


def _records(root, machine_types, split, strict):
    """One record (path, machine, parsed name, split) per audio file with a DCASE name; warnings for the others."""
    records = []
    for machine, split_name, path in _find_audio_files(root, machine_types, split):
        meta = parse_dcase_filename(path.name)
        if meta is None:
            message = f"File name {path.name!r} in {str(path.parent)!r} matches no DCASE naming scheme."
            if strict:
                raise ValueError(message)
            warnings.warn(message + " Skipped (strict=False).", UserWarning, stacklevel=3)
            continue
        if meta["split"] is not None and meta["split"] != split_name:
            message = f"File {str(path)!r} says split {meta['split']!r} but lies in a {split_name!r} folder."
            if strict:
                raise ValueError(message)
            warnings.warn(message + " The folder wins.", UserWarning, stacklevel=3)
        records.append({"path": str(path), "machine": machine, **meta, "split": split_name})
    if not records:
        raise FileNotFoundError(f"No file under root={str(root)!r} has a DCASE file name.")
    return records


def _common_sample_rate(records, sample_rate):
    """The rate the clips are returned at, and each file's header (soundfile's info) by path."""
    infos = {record["path"]: _audio_info(record["path"]) for record in records}
    if sample_rate is None:
        rates = {path: info.samplerate for path, info in infos.items()}
        distinct = sorted(set(rates.values()))
        if len(distinct) > 1:
            examples = {rate: next(p for p, r in rates.items() if r == rate) for rate in distinct}
            raise ValueError(
                f"Files have different sample rates {distinct} (e.g. "
                + ", ".join(f"{rate} Hz: {path!r}" for rate, path in examples.items())
                + "); pass sample_rate= to resample them to one rate."
            )
        sample_rate = distinct[0]
    return sample_rate, infos


def clip_length(root, machine_types=None, split=None, *, sample_rate=None):
    """The sample rate and the length :func:`load_dcase` gives every clip by default, from the headers only.

    That length is the longest of the machine types' most common lengths
    (for each type, the length most of its clips have; the longest of
    equally common ones). Reading a data set one machine type at a time
    with ``duration=n_samples / sample_rate`` then gives every part the
    length one call on the whole set would, without decoding any audio
    here. It warns of clips far from their type's usual length as
    :func:`load_dcase` does.

    Parameters
    ----------
    root : str or path-like
        The folder holding one sub-folder per machine type.
    machine_types : str or list of str, default=None
        Machine types to look at; None looks at all.
    split : {"train", "test"} or None, default=None
        Which split to look at; None looks at both.
    sample_rate : int, default=None
        The rate :func:`load_dcase` would resample to; None keeps the
        files' own rate, which must then be the same for all files.

    Returns
    -------
    sample_rate : int
    n_samples : int
        At ``sample_rate`` (a resampled file's length is
        ``ceil(frames * up / down)``, that of scipy's ``resample_poly``).

    Examples
    --------
    >>> from skasd.datasets import clip_length, load_dcase
    >>> root = "../shared/data/dcase2023t2_dev_samples"
    >>> clip_length(root)  # ToyCar and ToyTrain clips last 12 s, the others 10 s
    (16000, 192000)
    >>> rate, n_samples = clip_length(root)
    >>> load_dcase(root, machine_types="fan", duration=n_samples / rate, verbose=0).data.shape
    (4, 192000)
    """
    records, sample_rate, infos = _headers(root, machine_types, split, sample_rate)
    n_samples = _default_length(records, infos, sample_rate)
    # Said here, as load_dcase says them: the parts read with this duration will not.
    _warn_if_lengths_stand_out(records, infos, sample_rate, n_samples)
    return int(sample_rate), n_samples


def _headers(root, machine_types, split, sample_rate):
    """The records of the files :func:`load_dcase` would read, the common sample rate and each file's header."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # load_dcase says them when it reads the files
        records = _records(root, machine_types, split, strict=False)
    sample_rate, infos = _common_sample_rate(records, sample_rate)
    return records, sample_rate, infos


def longest_clip(root, machine_types=None, split=None, *, sample_rate=None):
    """The sample rate and the length of the longest clip, from the headers only.

    :func:`clip_length` gives the length :func:`load_dcase` uses by
    default; pass ``duration=n_samples / sample_rate`` of this one to
    :func:`load_dcase` to keep every clip whole (the others padded).

    Parameters
    ----------
    root, machine_types, split, sample_rate
        As in :func:`clip_length`.

    Returns
    -------
    sample_rate : int
    n_samples : int
        Of the longest clip after resampling to ``sample_rate``
        (``ceil(frames * up / down)``, the length of scipy's ``resample_poly``).

    Examples
    --------
    >>> from skasd.datasets import longest_clip
    >>> longest_clip("../shared/data/dcase2023t2_dev_samples")  # ToyCar and ToyTrain clips last 12 s
    (16000, 192000)
    """
    records, sample_rate, infos = _headers(root, machine_types, split, sample_rate)
    return int(sample_rate), _longest_length(infos, sample_rate)


def _longest_length(infos, sample_rate):
    """The longest of the files' lengths at ``sample_rate``, from their headers (``{path: soundfile info}``)."""
    return max(_resampled_length(info, sample_rate) for info in infos.values())


def _lengths_by_machine(records, infos, sample_rate):
    """``{machine: {path: length at sample_rate}}`` from the headers."""
    by_machine = {}
    for record in records:
        by_machine.setdefault(record["machine"], {})[record["path"]] = _resampled_length(
            infos[record["path"]], sample_rate
        )
    return by_machine


def _most_common_length(lengths):
    """The length most of the clips have (the longest of equally common ones): all distinct gives the longest."""
    values, counts = np.unique(list(lengths.values()), return_counts=True)
    return int(values[counts == counts.max()].max())


def _default_length(records, infos, sample_rate):
    """The length :func:`load_dcase` gives every clip by default: the longest of the machine types' most common lengths.

    Each machine type keeps its own recordings' length (DCASE 2023 mixes
    10 s and 12 s types: the 10 s ones are padded), and one odd recording
    (a 60 s clip among 10 s ones) neither pads every clip with silence nor
    sets the memory taken.
    """
    return max(_most_common_length(lengths) for lengths in _lengths_by_machine(records, infos, sample_rate).values())


def _warn_if_lengths_stand_out(records, infos, sample_rate, n_samples, stacklevel=3):
    """Say so when clips are more than 5 % longer than ``n_samples`` (cropped), or less than half their type's usual length.

    Machine types of different lengths (DCASE 2023: 10 s and 12 s) are no
    such case: each type is judged on its own clips.
    """
    for machine, lengths in _lengths_by_machine(records, infos, sample_rate).items():
        longest = max(lengths, key=lengths.get)
        if lengths[longest] > 1.05 * n_samples:
            n_longer = sum(length > 1.05 * n_samples for length in lengths.values())
            warnings.warn(
                f"Clip lengths differ: {n_longer} of the {len(lengths)} {machine} clips are more than 5 % longer "
                f"than the {n_samples / sample_rate:g} s every clip is given (the most common length), the longest "
                f"{str(longest)!r} ({lengths[longest] / sample_rate:g} s): their ends are cropped. Pass "
                f"duration={lengths[longest] / sample_rate:g} (skasd evaluate --duration) to pad every clip to the "
                "longest instead.",
                UserWarning,
                stacklevel=stacklevel,
            )
        typical = _most_common_length(lengths)
        shortest = min(lengths, key=lengths.get)
        if lengths[shortest] < 0.5 * typical:
            # A clip cut short (a failed recording, a 1-sample file) is mostly the silence it is padded with.
            n_shorter = sum(length < 0.5 * typical for length in lengths.values())
            warnings.warn(
                f"{n_shorter} of the {len(lengths)} {machine} clips are less than half as long as their most common "
                f"length ({typical / sample_rate:g} s), the shortest {str(shortest)!r} "
                f"({lengths[shortest] / sample_rate:g} s): they are padded with silence. Check the recordings.",
                UserWarning,
                stacklevel=stacklevel,
            )


def _resampled_length(info, sample_rate):
    """A file's length in samples at ``sample_rate``: ``ceil(frames * up / down)``, as scipy's ``resample_poly``."""
    ratio = math.gcd(info.samplerate, sample_rate)
    up, down = sample_rate // ratio, info.samplerate // ratio
    return int(-(-info.frames * up // down))


def load_dcase(
    root,
    machine_types=None,
    split=None,
    *,
    sample_rate=None,
    duration=None,
    channel=0,
    strict=False,
    memmap=None,
    ground_truth=None,
    n_jobs=None,
    verbose=1,
):
    """Load a folder in the DCASE Task 2 layout (any year, 2020-2025).

    Reads ``<root>/<machine>/<train|test>/*.wav|flac``, parses every file
    name (see :func:`parse_dcase_filename`) and returns the waveforms,
    padded or cropped to one length, with their metadata.

    Parameters
    ----------
    root : str or path-like
        The folder holding one sub-folder per machine type.
    machine_types : str or list of str, default=None
        Machine types (folder names) to load; None loads all.
    split : {"train", "test"} or None, default=None
        Which split to load; None loads both.
    sample_rate : int, default=None
        Resample every clip to this rate (polyphase filtering). None keeps
        the files' own rate, which must then be the same for all files.
    duration : float, default=None
        Length in seconds every clip is padded (with zeros, at the end) or
        cropped (at the end) to. None uses the longest of the machine
        types' most common lengths (:func:`clip_length`): each type keeps
        its usual length, and a clip more than 5 % longer is cropped with a
        warning naming it. The original length (in samples at the returned
        rate) is kept in ``frame["n_samples_original"]``.
    channel : int, default=0
        The channel read from multi-channel files.
    strict : bool, default=False
        What to do with a file whose name matches no DCASE scheme: skip it
        with a warning (False) or raise a ValueError (True).
    memmap : str or path-like, default=None
        A ``.npy`` file to hold the waveforms on disk instead of in memory.
        The clips are decoded into it one by one and ``data`` is returned as
        a copy-on-write memory map of it (:class:`numpy.memmap`, mode
        ``"c"``): the operating system reads the rows an estimator uses when
        it uses them and may drop them again, so a set larger than the
        memory can be fitted and scored batch by batch. The file is
        overwritten; it is the caller's to remove once ``data`` is no longer
        used. None holds the waveforms in memory.
    ground_truth : str or path-like, default=None
        The organisers' evaluation data list of the year (see
        :func:`read_ground_truth`): the test clips of an evaluation set,
        named without their label, get the domain, label and attributes it
        gives them, so that the set can be scored. Every test clip of a
        machine type the list covers must be in it; the other machine types
        are left as they are.
    n_jobs : int, default=None
        Files read in parallel through joblib; None means 1 unless in a
        :func:`joblib.parallel_backend` context, -1 means all processors.
    verbose : int, default=1
        0 is silent; otherwise a progress bar over files.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``: float32 array (n_clips, n_samples) of waveforms;
        ``target``: int8 array, 1 anomalous, 0 normal, -1 unknown;
        ``frame``: pandas DataFrame, one row per clip, with the columns of
        :data:`skasd.datasets.FRAME_COLUMNS` (``path``, ``machine``,
        ``section``, ``domain``, ``split``, ``label``, ``index``,
        ``attributes``, ``aux_label``, ``n_samples_original``) followed by
        one ``attr_<name>`` column per attribute name;
        ``sample_rate``: int.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder or holds no audio files.
    ValueError
        For an unreadable, truncated, empty, silent or non-finite file
        (named in the message), files of different sample rates without
        ``sample_rate``, or (with ``strict=True``) a file name that does not
        parse.

    References
    ----------
    .. [1] K. Dohi et al., "Description and discussion on DCASE 2023
       Challenge Task 2: First-shot unsupervised anomalous sound detection
       for machine condition monitoring", DCASE 2023 Workshop.

    Examples
    --------
    >>> from skasd.datasets import load_dcase
    >>> bunch = load_dcase("../shared/data/dcase2023t2_dev_samples",
    ...                    machine_types="valve", split="train", verbose=0)
    >>> bunch.data.shape, bunch.sample_rate
    ((2, 160000), 16000)
    >>> bunch.frame[["machine", "domain", "attr_pat", "aux_label"]].iloc[0].tolist()
    ['valve', 'source', '01', 'valve|pat_01']
    """
    check_reading_params(sample_rate, duration, channel)
    records = _records(root, machine_types, split, strict)
    if ground_truth is not None:
        attach_ground_truth(records, read_ground_truth(ground_truth), ground_truth)
    data, sample_rate = read_waveforms(
        records, sample_rate=sample_rate, duration=duration, channel=channel, memmap=memmap, n_jobs=n_jobs,
        verbose=verbose, stacklevel=2,
    )
    frame = make_frame(records)
    return Bunch(data=data, target=frame["label"].to_numpy(), frame=frame, sample_rate=int(sample_rate))


def check_reading_params(sample_rate, duration, channel):
    """One-line errors for the reading parameters of the loaders."""
    if duration is not None and not (duration > 0 and math.isfinite(duration)):
        raise ValueError(f"duration must be a positive, finite number of seconds or None, got {duration!r}.")
    if sample_rate is not None and not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive integer or None, got {sample_rate!r}.")
    if not (isinstance(channel, (int, np.integer)) and channel >= 0):
        raise ValueError(f"channel must be a non-negative integer, got {channel!r}.")


def read_waveforms(records, *, sample_rate, duration, channel, memmap, n_jobs, verbose, stacklevel):
    """Decode the files of ``records`` (dicts with ``path`` and ``machine``) into one array of equal-length rows.

    Sets each record's ``n_samples_original``. Returns ``(data, sample_rate)``;
    see :func:`load_dcase` for the parameters. ``stacklevel`` is the one the
    caller's own warnings would take (2 points at the caller's caller).
    """
    sample_rate, infos = _common_sample_rate(records, sample_rate)
    if duration is None:
        # The length from the headers: each clip goes into the array as it
        # is decoded, never all clips and the array at once.
        n_samples = _default_length(records, infos, sample_rate)
        _warn_if_lengths_stand_out(records, infos, sample_rate, n_samples, stacklevel=stacklevel + 2)
    else:
        n_samples = round(duration * sample_rate)

    # Decoding releases the GIL: threads avoid starting processes that each
    # import the whole stack; a joblib backend context (dask, ray) overrides this.
    clips = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
        delayed(read_clip)(record["path"], channel, sample_rate) for record in records
    )
    clips = tqdm(clips, total=len(records), desc="Reading audio", unit="file", disable=not verbose)
    shape = (len(records), n_samples)
    if memmap is None:
        try:
            data = np.zeros(shape, dtype=np.float32)
        except MemoryError:
            raise ValueError(
                f"{shape[0]} clips of {shape[1]} samples ({shape[1] / sample_rate:g} s) need "
                f"{4 * shape[0] * shape[1] / 2**30:.3g} GiB, more than this machine can allocate: give a shorter "
                "duration=, fewer machine types, or memmap= to hold them on disk."
            ) from None
    else:
        # A new file reads as zeros: the padding is already there.
        data = np.lib.format.open_memmap(memmap, mode="w+", dtype=np.float32, shape=shape)
    for row, (clip, record) in enumerate(zip(clips, records)):
        if duration is None and len(clip) > _resampled_length(infos[record["path"]], sample_rate):
            raise ValueError(
                f"Audio file {record['path']!r} decodes to {len(clip)} samples, more than its header declares "
                f"({infos[record['path']].frames} frames); pass duration= to set the clips' length."
            )
        record["n_samples_original"] = len(clip)
        data[row, : min(len(clip), n_samples)] = clip[:n_samples]
    if memmap is not None:
        data.flush()
        del data
        data = np.load(memmap, mmap_mode="c")
    return data, sample_rate


def save_dcase(bunch, root, *, audio_format="wav", verbose=0):
    """Write a data set to a folder in the DCASE layout, as 16-bit audio.

    Each clip is written at its original length
    (``frame["n_samples_original"]``) to
    ``<root>/<machine>/<split>/<name>`` with the name built by
    :func:`format_dcase_filename`, so that :func:`load_dcase` reads the same
    data back (up to 16-bit quantisation).

    Parameters
    ----------
    bunch : :class:`~sklearn.utils.Bunch`
        As returned by :func:`load_dcase` or
        :func:`~skasd.datasets.make_machine_sounds`.
    root : str or path-like
        Destination folder; created if needed.
    audio_format : {"wav", "flac"}, default="wav"
        File format; both are lossless at 16 bits.
    verbose : int, default=0
        0 is silent; otherwise a progress bar over files.

    Returns
    -------
    frame : pandas.DataFrame
        A copy of ``bunch.frame`` with ``path`` set to the written files.

    Examples
    --------
    >>> import tempfile
    >>> from skasd.datasets import load_dcase, save_dcase
    >>> bunch = load_dcase("../shared/data/dcase2023t2_dev_samples", machine_types="fan", verbose=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     frame = save_dcase(bunch, folder)
    ...     again = load_dcase(folder, verbose=0)
    >>> bool((again.frame["attributes"] == bunch.frame["attributes"]).all())
    True
    """
    if audio_format not in ("wav", "flac"):
        raise ValueError(f"audio_format must be 'wav' or 'flac', got {audio_format!r}.")
    data = np.asarray(bunch.data)
    frame = bunch.frame.copy()
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if peak > 1.0:
        raise ValueError(f"bunch.data has samples up to {peak:.3g} in magnitude; 16-bit audio holds [-1, 1].")
    paths = []
    for row in frame.itertuples(index=False):
        folder = Path(root) / row.machine / row.split
        name = format_dcase_filename(
            row.section, row.domain, row.split, row.label, row.index, row.attributes, "." + audio_format
        )
        paths.append(str(folder / name))
    duplicated = pd.Series(paths).duplicated().to_numpy()
    if duplicated.any():
        first = int(np.flatnonzero(duplicated)[0])
        raise ValueError(
            f"Row {first} of bunch.frame would overwrite an earlier clip's file "
            f"({paths[first]!r}): their metadata is identical."
        )
    for position, path in enumerate(tqdm(paths, desc="Writing audio", unit="file", disable=not verbose)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        length = int(frame["n_samples_original"].iloc[position])
        sf.write(path, data[position, :length], int(bunch.sample_rate), subtype="PCM_16")
    frame["path"] = paths
    return frame

