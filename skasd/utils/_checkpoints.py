"""Reading user-supplied model checkpoints safely: state dicts with ``torch.load(weights_only=True)``.

Shared by the embedders that load weights from a file (TorchModuleEmbedder,
the ViT estimators); errors name the file and the keys that do not fit.
"""

import zipfile
from collections.abc import Mapping

import torch

__all__ = ["is_torchscript_archive", "load_into", "load_state_dict"]


def is_torchscript_archive(path):
    """Whether ``path`` is a zip archive with the ``constants.pkl`` of ``torch.jit.save``."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(
            name.rsplit("/", 1)[-1] == "constants.pkl" for name in archive.namelist()
        )


def load_state_dict(path, key, parameter="weights"):
    """The state dict in ``path`` (under ``key`` if given); errors name ``parameter`` and ``parameter``_key."""
    if is_torchscript_archive(path):
        raise ValueError(
            f"{parameter}={str(path)!r} is a TorchScript file, not a state dict: pass it without "
            "module and module_factory to use the model it holds."
        )
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{parameter}={str(path)!r} could not be loaded as a state dict with "
            f"torch.load(weights_only=True): {exc}"
        ) from exc
    if key is not None:
        if not isinstance(loaded, Mapping) or key not in loaded:
            found = (
                sorted(map(str, loaded))
                if isinstance(loaded, Mapping)
                else type(loaded).__name__
            )
            raise ValueError(
                f"{parameter}_key={key!r} is not in {parameter}={str(path)!r} (found: {found})."
            )
        loaded = loaded[key]
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        hint = (
            f" Its top-level keys are {sorted(map(str, loaded))[:10]}: name the one holding the "
            f"state dict with {parameter}_key (e.g. 'model' or 'state_dict')."
            if isinstance(loaded, Mapping)
            else ""
        )
        raise ValueError(
            f"{parameter}={str(path)!r} does not hold a state dict (a mapping from names to "
            f"tensors){'' if key is None else f' under {parameter}_key={key!r}'}.{hint}"
        )
    return loaded


def _describe_keys(keys, limit=10):
    keys = sorted(keys)
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_into(module, state_dict, path, parameter="weights"):
    """``module.load_state_dict(state_dict, strict=True)`` with an error naming ``parameter`` and the keys."""
    expected = module.state_dict()
    missing = expected.keys() - state_dict.keys()
    unexpected = state_dict.keys() - expected.keys()
    mismatched = [
        f"{name!r}: {tuple(state_dict[name].shape)} in the file, {tuple(expected[name].shape)} in the module"
        for name in sorted(expected.keys() & state_dict.keys())
        if state_dict[name].shape != expected[name].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(
                f"missing keys (in the module, not in the file): {_describe_keys(missing)}"
            )
        if unexpected:
            problems.append(
                f"unexpected keys (in the file, not in the module): {_describe_keys(unexpected)}"
            )
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched[:10]))
        raise ValueError(
            f"{parameter}={str(path)!r} does not match the module's state dict: "
            + "; ".join(problems)
            + "."
        )
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:  # e.g. a dtype the parameter cannot take
        raise ValueError(
            f"{parameter}={str(path)!r} does not load into the module: {exc}"
        ) from exc
    return module
