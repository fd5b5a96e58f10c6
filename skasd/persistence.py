"""Fitted models on disk: :func:`save_models` writes what ``skasd evaluate --save`` keeps, :func:`load_models` reads it.

A model file is three parts:

1. the line ``skasd-model``;
2. one line of JSON, the header: model format, the skasd, scikit-learn and
   torch versions that wrote it, and an HMAC-SHA256 of the payload under the
   writing user's own key;
3. the payload: the fitted pipelines, pickled by joblib.

Unpickling can run any code the file carries, and the fitted pipelines
hold torch networks, which no pickle-free format of scikit-learn models
stores. So the header is read without unpickling, and the payload is
unpickled only when it is known to come from a trusted writer: its HMAC
matches under this user's key (a file this user saved with skasd, as
Jupyter signs notebooks), or the caller says so (``trusted=True``,
``skasd score --trust``). The key is 32 random bytes in
``$SKASD_CONFIG/model_key`` (default ``~/.config/skasd/model_key``),
created on the first save, readable by its owner only.
"""

import datetime
import hashlib
import hmac
import io
import json
import os
import secrets
import warnings
from pathlib import Path

from . import _version
from .utils._files import replaced_atomically

__all__ = ["MODEL_FORMAT", "load_models", "save_models"]

#: Version of the model file layout written by ``--save``.
MODEL_FORMAT = 2
#: The first line of a model file.
MODEL_MAGIC = b"skasd-model\n"
# A header is a few hundred bytes; a longer first line is not a skasd header.
_MAX_HEADER_BYTES = 65536


def _key_path():
    config = os.environ.get("SKASD_CONFIG")
    folder = Path(config) if config else Path.home() / ".config" / "skasd"
    return folder / "model_key"


def _signing_key(create):
    """This user's model-signing key; None when there is none and ``create`` is false."""
    path = _key_path()
    if path.is_file():
        return path.read_bytes()
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    # Created readable by the owner only, and never overwritten by a concurrent first save.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as f:
        f.write(key)
    return key


def _signature(key, payload):
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _library_versions():
    import sklearn
    import torch

    return {"skasd_version": _version.__version__, "sklearn_version": sklearn.__version__,
            "torch_version": torch.__version__}


def save_models(path, models, *, sample_rate, n_samples, pipeline, config, thresholds):
    """Write fitted models: the JSON header, then the models (joblib), signed with this user's key.

    Returns
    -------
    path : str or path-like
        ``path``, as given.
    """
    import joblib

    payload = {
        "models": models,
        "sample_rate": int(sample_rate),
        "n_samples": int(n_samples),
        "duration": n_samples / sample_rate,
        "pipeline": pipeline,
        "config": config,
        "thresholds": thresholds,
        **_library_versions(),
        "format": MODEL_FORMAT,
        "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    body = buffer.getvalue()
    header = {"format": MODEL_FORMAT, **_library_versions(), "pipeline": str(pipeline),
              "hmac_sha256": _signature(_signing_key(create=True), body)}
    # Written beside the target and moved over it only once complete: a
    # failed save (a full disk, a read-only folder) leaves the former model
    # file as it was, and no half-written one.
    path = Path(path)
    with replaced_atomically(path) as partial, open(partial, "wb") as f:
        f.write(MODEL_MAGIC)
        f.write(json.dumps(header).encode() + b"\n")
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    return path


def read_model_header(path):
    """The header of a model file, read without unpickling anything.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If it is not a skasd model file.
    """
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(
            f"model file {str(path)!r} is a folder: give the file that skasd evaluate --save wrote."
        )
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist.")
    with open(path, "rb") as f:
        magic = f.read(len(MODEL_MAGIC))
        line = f.readline(_MAX_HEADER_BYTES)
    try:
        header = json.loads(line) if magic == MODEL_MAGIC and line.endswith(b"\n") else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or "format" not in header:
        raise ValueError(f"{str(path)!r} is not a skasd model file (write one with skasd evaluate --save).")
    return header


def load_models(path, *, trusted=False):
    """Read a model file of :func:`save_models`.

    The payload is unpickled only when its signature matches this user's
    key (a file this user saved) or ``trusted=True``. A file of another
    skasd version or model format is refused; one written with other
    scikit-learn or torch versions loads with a warning naming them.

    Parameters
    ----------
    path : str or path-like
    trusted : bool, default=False
        Unpickle the payload even though this user did not sign it: only for
        files you made elsewhere or whose writer you trust, since unpickling
        runs whatever code the file carries.

    Returns
    -------
    saved : dict
        ``models`` (``{(machine, section): fitted pipeline}``),
        ``sample_rate``, ``n_samples``, ``duration``, ``pipeline``,
        ``config``, ``thresholds``, the versions and ``saved`` (UTC time).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        One line saying why: not a model file, another skasd version or
        model format, not signed by this user without ``trusted=True``, or
        a payload that cannot be read.
    """
    import joblib

    header = read_model_header(path)
    version, file_format = header.get("skasd_version"), header.get("format")
    if file_format != MODEL_FORMAT or version != _version.__version__:
        raise ValueError(
            f"model file {str(path)!r} was saved by skasd {version} (model format {file_format}); this is "
            f"skasd {_version.__version__} (model format {MODEL_FORMAT}): refit it with this version "
            "(skasd evaluate ... --save)."
        )
    with open(path, "rb") as f:
        f.readline()
        f.readline(_MAX_HEADER_BYTES)
        body = f.read()
    key = _signing_key(create=False)
    signed = key is not None and hmac.compare_digest(_signature(key, body), str(header.get("hmac_sha256", "")))
    if not (signed or trusted):
        raise ValueError(
            f"model file {str(path)!r} was not saved by this user's skasd (its signature does not match "
            f"{str(_key_path())!r}); loading it unpickles Python objects, which can run any code: if you trust "
            "who made it, pass trusted=True (skasd score --trust)."
        )
    current = _library_versions()
    differing = [f"{name.split('_')[0]} {header.get(name)} (here {current[name]})"
                 for name in ("sklearn_version", "torch_version") if header.get(name) != current[name]]
    if differing:
        warnings.warn(
            f"model file {str(path)!r} was saved with {', '.join(differing)}: its models may behave differently "
            "or fail; refit them with this installation to be sure.", UserWarning, stacklevel=2,
        )
    try:
        return joblib.load(io.BytesIO(body))
    except Exception as exc:
        raise ValueError(f"cannot read the models in {str(path)!r}: {type(exc).__name__}: {exc}") from None
