"""fetch_dcase: download a DCASE Task 2 data set into the folder layout load_dcase reads."""

import json
import os
import shutil
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from ._download import ArchiveError, download, file_md5, safe_extract
from ._registry import archives_for

__all__ = ["fetch_dcase", "get_data_home"]

# Folders of a machine type that hold clips, in every year's layout.
_SPLIT_FOLDERS = ("train", "test", "source_test", "target_test", "supplemental")


def get_data_home(data_home=None):
    """The folder skasd keeps downloaded data sets in, created if missing.

    ``data_home`` if given, else the ``SKASD_DATA`` environment variable,
    else ``~/skasd_data``.
    """
    if data_home is None:
        data_home = os.environ.get("SKASD_DATA", Path("~") / "skasd_data")
    data_home = Path(data_home).expanduser()
    data_home.mkdir(parents=True, exist_ok=True)
    return data_home


def _announced_size(url, timeout=60):
    """The size the server announces for ``url`` (a HEAD request's Content-Length), or None."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout) as response:
            length = response.headers.get("Content-Length")
    except urllib.error.HTTPError as error:
        raise ConnectionError(f"Could not reach {url}: HTTP {error.code} {error.reason}.") from error
    except (urllib.error.URLError, OSError) as error:
        raise ConnectionError(
            f"Could not reach {url} ({getattr(error, 'reason', error)}). Check the network, pass base_url= to use "
            "a mirror, or download the archives by hand into the downloads folder of data_home; they are then "
            "checked and used."
        ) from error
    return int(length) if length is not None else None


def _check_disk_space(folder, needed, names):
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise OSError(
            f"Not enough disk space in {folder}: the archives {names} need about {needed / 1e9:.1f} GB (download "
            f"and extraction), and {free / 1e9:.1f} GB are free. Free some space, or pass data_home= on a larger "
            "disk."
        )


def _machine_folder(staging, machine_type):
    """The folder of ``machine_type`` inside an extracted archive (the shallowest one of that name)."""
    if any((staging / name).is_dir() for name in _SPLIT_FOLDERS):
        return staging
    candidates = sorted(
        (path for path in staging.rglob(machine_type) if path.is_dir()), key=lambda path: len(path.parts)
    )
    if not candidates:
        raise ArchiveError(
            f"The archive for machine type {machine_type!r} holds no folder {machine_type!r} nor any of "
            f"{list(_SPLIT_FOLDERS)}; it is not in the DCASE layout."
        )
    return candidates[0]


def _install(archive_path, archive, root, work):
    """Extract one archive and move its machine type's folders into ``root``, each with one rename."""
    staging = work / f"staging-{archive.filename}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        safe_extract(archive_path, staging)
        source = _machine_folder(staging, archive.machine_type)
        target = root / archive.machine_type
        target.mkdir(parents=True, exist_ok=True)
        for entry in sorted(source.iterdir()):
            destination = target / entry.name
            # A folder left by an install that did not finish (no marker) is replaced whole.
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            elif destination.exists() or destination.is_symlink():
                destination.unlink()
            os.replace(entry, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_dcase(
    year,
    *,
    split="dev",
    machine_types=None,
    data_home=None,
    base_url=None,
    download_if_missing=True,
    keep_archives=False,
    verbose=1,
):
    """Download a DCASE Task 2 data set (2020-2025) into the layout :func:`load_dcase` reads.

    Each archive of the year's split (see docs/datasets.md for the list) is
    downloaded from Zenodo, or from ``base_url``, to
    ``<data_home>/downloads/dcase<year>t2/``, resumed if a previous call
    broke off, checked (size, and MD5 where skasd's registry has it), and
    extracted safely (no member may land outside its folder); its machine
    type's folders then move into place with one rename each. A second
    call finds the data and downloads nothing.

    Parameters
    ----------
    year : int
        2020 to 2025.
    split : {"dev", "eval"}, default="dev"
        "dev": the development data set. "eval": the additional training
        data and the evaluation test data of the evaluation machine types
        (from 2023 on, other machine types than the development set's),
        and the year's evaluation data list (the organisers' ground truth,
        from the official baseline's GitHub repository at a pinned commit,
        checked by size and MD5).
    machine_types : str, list of str or None, default=None
        None fetches every machine type of the split.
    data_home : str, path-like or None, default=None
        Where data sets are kept; None: ``$SKASD_DATA``, else
        ``~/skasd_data``.
    base_url : str or None, default=None
        A mirror serving the archives (and the evaluation data lists) under
        their published file names (``<base_url>/<file name>``), instead of
        Zenodo and GitHub.
    download_if_missing : bool, default=True
        False raises an OSError instead of downloading what is missing.
    keep_archives : bool, default=False
        Keep the downloaded archives after extraction (else they are
        removed once extracted, which halves the disk space needed).
    verbose : int, default=1
        A progress bar per file when positive.

    Returns
    -------
    root : pathlib.Path
        ``<data_home>/dcase<year>t2/<split>``: one folder per machine type,
        each with its ``train/`` and ``test/`` (2021:
        ``source_test/``, ``target_test/``) folders, for :func:`load_dcase`
        and ``skasd evaluate --data``. With ``split="eval"`` it also holds
        the year's evaluation data list, ``eval_data_list_<year>.csv``,
        which labels the evaluation test clips: pass it as
        ``load_dcase(root, ground_truth=...)`` or ``skasd evaluate
        --ground-truth``.

    Raises
    ------
    ValueError
        For an unknown year, split or machine type (the valid ones are
        listed).
    ConnectionError
        When a server cannot be reached or a transfer breaks off (the URL
        is named; a partial download is resumed by the next call).
    ArchiveError
        For an archive whose size or MD5 is wrong (it is removed), that is
        corrupt, or that holds a member that could land outside its folder
        (nothing of it is extracted).
    OSError
        When the disk has too little space for what is to be downloaded,
        or the data are missing and ``download_if_missing=False``.

    Notes
    -----
    skasd's registry has the MD5s of the 2020 and 2023 archives (and of
    every evaluation data list) only; for the other years an archive is
    checked by the size the server announces
    (with a warning), and the MD5 it had is written beside the marker of
    each fetched archive, ``<data_home>/dcase<year>t2/.fetched/<file>.json``,
    to compare with the one Zenodo publishes.

    Examples
    --------
    >>> from skasd.datasets import fetch_dcase, load_dcase  # doctest: +SKIP
    >>> root = fetch_dcase(2023, machine_types=["valve"])  # doctest: +SKIP
    >>> frame = load_dcase(root, split="train")  # doctest: +SKIP
    """
    archives = archives_for(year, split, machine_types)
    home = get_data_home(data_home)
    root = home / f"dcase{year}t2" / split
    markers = home / f"dcase{year}t2" / ".fetched"
    downloads = home / "downloads" / f"dcase{year}t2"
    missing = [archive for archive in archives if not (markers / f"{archive.filename}.json").exists()]
    if not missing:
        return root
    if not download_if_missing:
        raise OSError(
            f"DCASE {year} split {split!r} is not complete in {root}: {[a.filename for a in missing]} are missing, "
            "and download_if_missing=False."
        )
    for folder in (root, markers, downloads):
        folder.mkdir(parents=True, exist_ok=True)

    def url_of(archive):
        return archive.url if base_url is None else f"{base_url.rstrip('/')}/{archive.filename}"

    sizes = {}
    for archive in missing:
        on_disk = downloads / archive.filename
        sizes[archive.filename] = (
            archive.size if archive.size is not None
            else on_disk.stat().st_size if on_disk.exists()
            else _announced_size(url_of(archive))
        )
    # An archive still to download needs its size twice (the archive, then its clips: WAV barely compresses);
    # a file used as it is (an evaluation data list), once.
    needed = sum(
        (sizes[a.filename] or 0) * (2 if a.is_archive and not (downloads / a.filename).exists() else 1)
        - _partial_size(downloads / a.filename)
        for a in missing
    )
    _check_disk_space(home, needed, [archive.filename for archive in missing])
    for archive in missing:
        url = url_of(archive)
        path = download(
            url, downloads / archive.filename, size=sizes[archive.filename], md5=archive.md5, verbose=verbose
        )
        md5, size = archive.md5 or file_md5(path), path.stat().st_size
        if archive.is_archive:
            _install(path, archive, root, downloads)
        else:  # checked above; one rename puts it in place
            os.replace(path, root / archive.filename)
        record = {"url": url, "md5": md5, "size": size, "md5_from_registry": archive.md5 is not None}
        (markers / f"{archive.filename}.json").write_text(json.dumps(record, indent=1))
        if archive.md5 is None:
            warnings.warn(
                f"skasd's registry has no MD5 of {archive.filename} (DCASE {year}); it was checked against the "
                f"size the server announced, and its MD5 {md5} is recorded in {markers}.",
                UserWarning,
                stacklevel=2,
            )
        if archive.is_archive and not keep_archives:
            path.unlink()
    return root


def _partial_size(path):
    part = path.with_name(path.name + ".part")
    return part.stat().st_size if part.exists() else 0

