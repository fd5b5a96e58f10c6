"""Fitted models on disk: :func:`save_models` writes what ``skasd evaluate --save`` keeps, :func:`load_models` reads it.

Loading unpickles Python objects: load only files you trust.
"""

import datetime
import pickle
import warnings
from pathlib import Path

from . import _version

__all__ = ["MODEL_FORMAT", "load_models", "save_models"]

#: Version of the model file layout written by ``--save``.
MODEL_FORMAT = 1
#: The first entry of a model file's header.
MODEL_MAGIC = "skasd-model"


def save_models(path, models, *, sample_rate, n_samples, pipeline, config, thresholds):
    """Write fitted models: a small header (format, skasd version) then the models (joblib)."""
    import joblib
    import sklearn

    header = {"magic": MODEL_MAGIC, "format": MODEL_FORMAT, "skasd_version": _version.__version__}
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
        if not isinstance(header, dict) or header.get("magic") != MODEL_MAGIC:
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
