"""Downloading and unpacking archives safely: resumable, verified, atomic.

The mechanics under :func:`skasd.datasets.fetch_dcase`, kept apart from
what is fetched (:mod:`._registry`):

- :func:`download` streams a URL into ``<name>.part``, resumes a partial
  file with an HTTP ``Range`` request, checks the size and the MD5, and
  only then renames it to ``<name>``; a file that fails the check is
  removed;
- :func:`safe_extract` unpacks a zip or tar archive into a staging folder
  after checking every member: no absolute path, no ``..``, no link or
  device, nothing that would land outside the folder; the staging folder
  is removed if anything goes wrong, so nothing half extracted is left.
"""

import hashlib
import os
import queue
import shutil
import stat
import tarfile
import threading
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

__all__ = [
    "ArchiveError",
    "download",
    "file_md5",
    "safe_extract",
]

# Bytes read and written at a time: large enough that the copy, not the loop, sets the speed.
CHUNK_SIZE = 1 << 20


class ArchiveError(ValueError):
    """An archive that is corrupt, not what the registry says, or unsafe to extract."""


def file_md5(path):
    """The MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _BackgroundMD5:
    """The MD5 of chunks handed over with :meth:`update`, computed in a thread.

    hashlib releases the GIL on large buffers, so the digest of a download
    is computed while the next chunk is received and written, instead of
    in a second pass over the file.
    """

    def __init__(self):
        self._digest = hashlib.md5(usedforsecurity=False)
        self._chunks = queue.Queue(maxsize=16)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while (chunk := self._chunks.get()) is not None:
            self._digest.update(chunk)

    def update(self, chunk):
        self._chunks.put(chunk)

    def hexdigest(self):
        self._chunks.put(None)
        self._thread.join()
        return self._digest.hexdigest()


def _check_file(path, *, size, md5, url, actual_md5=None):
    """Raise ArchiveError (and remove ``path``) if its size or MD5 is not the expected one.

    ``actual_md5``: the file's MD5 if already known (computed while downloading).
    """
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        path.unlink()
        raise ArchiveError(
            f"{path.name} from {url} has {actual_size} bytes, not the {size} the registry gives; the file was "
            "removed. Run again to download it anew."
        )
    if md5 is not None:
        actual = actual_md5 or file_md5(path)
        if actual != md5:
            path.unlink()
            raise ArchiveError(
                f"{path.name} from {url} has MD5 {actual}, not the {md5} the registry gives: the download is "
                "corrupt or the file is not the published one; it was removed. Run again to download it anew."
            )


def download(url, path, *, size=None, md5=None, verbose=1, timeout=60):
    """Download ``url`` to ``path``, resuming a partial download, and verify it.

    The bytes go to ``<path>.part``; a ``.part`` left by an interrupted
    call is resumed with an HTTP ``Range`` request (a server that ignores
    it sends the whole file, which then replaces the partial one). Once
    complete, the size and MD5 are checked and the file is renamed to
    ``path``. A file already at ``path`` (downloaded before, or by hand)
    is checked and kept.

    Parameters
    ----------
    url : str
    path : path-like
        Where the file ends up.
    size : int or None, default=None
        Expected size in bytes; None: not checked.
    md5 : str or None, default=None
        Expected MD5 hex digest; None: not checked.
    verbose : int, default=1
        A progress bar when positive.
    timeout : float, default=60
        Seconds a connection may stay silent.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ConnectionError
        If the server cannot be reached or the transfer breaks off; the
        partial file is kept, and the next call resumes it.
    ArchiveError
        If the downloaded file has another size or MD5 than expected (the
        file is removed).
    """
    path = Path(path)
    if path.exists():
        _check_file(path, size=size, md5=md5, url=url)
        return path
    part = path.with_name(path.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    if size is not None and done > size:
        part.unlink()
        done = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and size is not None and done == size:  # the partial file is already whole
            response = None
        else:
            raise ConnectionError(f"Could not download {path.name} from {url}: HTTP {error.code} {error.reason}.") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ConnectionError(
            f"Could not download {path.name} from {url} ({reason}). Check the network, pass base_url= to use "
            f"a mirror, or download the file by hand into {path.parent}; it is then checked and used."
        ) from error
    actual_md5 = None
    if response is not None:
        with response:
            resumed = response.status == 206
            start = done if resumed else 0
            length = response.headers.get("Content-Length")
            total = size if size is not None else (start + int(length) if length is not None else None)
            digest = _BackgroundMD5() if md5 is not None else None
            if digest is not None and resumed:
                with open(part, "rb") as file:
                    for chunk in iter(lambda: file.read(CHUNK_SIZE), b""):
                        digest.update(chunk)
            with (
                open(part, "ab" if resumed else "wb") as file,
                tqdm(
                    total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=path.name,
                    disable=not verbose, leave=False,
                ) as progress,
            ):
                try:
                    while chunk := response.read(CHUNK_SIZE):
                        file.write(chunk)
                        if digest is not None:
                            digest.update(chunk)
                        progress.update(len(chunk))
                except (OSError, urllib.error.URLError) as error:
                    raise ConnectionError(
                        f"The download of {path.name} from {url} broke off after {file.tell()} bytes ({error}); "
                        f"run again to resume it from {part}."
                    ) from error
                finally:
                    actual_md5 = digest.hexdigest() if digest is not None else None
    if size is not None and part.stat().st_size < size:
        raise ConnectionError(
            f"The download of {path.name} from {url} ended after {part.stat().st_size} of {size} bytes; run "
            f"again to resume it from {part}."
        )
    os.replace(part, path)
    _check_file(path, size=size, md5=md5, url=url, actual_md5=actual_md5)
    return path


def _unsafe_member(name, *, is_link=False, is_special=False):
    """Why an archive member may not be extracted, or None."""
    if is_link:
        return "is a link"
    if is_special:
        return "is a device, a pipe or another special file"
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or (posix.parts and ":" in posix.parts[0]):
        return "has an absolute path"
    if ".." in posix.parts:
        return "has '..' in its path"
    return None


def _zip_members(archive):
    for info in archive.infolist():
        mode = info.external_attr >> 16
        reason = _unsafe_member(
            info.filename,
            is_link=stat.S_ISLNK(mode),
            # Archivers that store no file type leave these bits 0: a plain file.
            is_special=bool(stat.S_IFMT(mode)) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)),
        )
        yield info.filename, reason


def _tar_members(archive):
    for member in archive.getmembers():
        reason = _unsafe_member(
            member.name, is_link=member.issym() or member.islnk(), is_special=not (member.isfile() or member.isdir())
        )
        yield member.name, reason


def safe_extract(archive_path, destination):
    """Extract a zip or tar archive into ``destination``, a new folder, refusing any unsafe member.

    Every member is checked before anything is written. On any error the
    folder is removed, so it either holds the whole archive or does not
    exist.

    Parameters
    ----------
    archive_path : path-like
        A ``.zip``, ``.tar``, ``.tar.gz``, ``.tgz`` or ``.tar.bz2`` file.
    destination : path-like
        Must not exist yet.

    Returns
    -------
    destination : pathlib.Path

    Raises
    ------
    ArchiveError
        If the archive is corrupt or not an archive, or a member is a link,
        a special file, or has an absolute path or ``..``.
    """
    archive_path, destination = Path(archive_path), Path(destination)
    if destination.exists():
        raise FileExistsError(f"{destination} exists already; safe_extract extracts into a new folder only.")
    try:
        if zipfile.is_zipfile(archive_path):
            with zipfile.ZipFile(archive_path) as archive:
                _refuse_unsafe(archive_path, _zip_members(archive))
                destination.mkdir(parents=True)
                # Reading each member to its end checks its CRC: a corrupt member raises BadZipFile.
                archive.extractall(destination)
        elif tarfile.is_tarfile(archive_path):
            with tarfile.open(archive_path) as archive:
                _refuse_unsafe(archive_path, _tar_members(archive))
                destination.mkdir(parents=True)
                # The "data" filter refuses again what the check above refused, as a second line.
                archive.extractall(destination, filter="data")
        else:
            raise ArchiveError(f"{archive_path.name} is neither a zip nor a tar archive (corrupt or truncated).")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        shutil.rmtree(destination, ignore_errors=True)
        raise ArchiveError(f"{archive_path.name} is corrupt and could not be extracted: {error}") from error
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise
    return destination


def _refuse_unsafe(archive_path, members):
    for name, reason in members:
        if reason is not None:
            raise ArchiveError(
                f"{archive_path.name} is refused: its member {name!r} {reason}; only plain files and folders "
                "inside the folder it is extracted into are allowed. Nothing was extracted."
            )
