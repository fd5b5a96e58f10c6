"""Fitted models exported for inference without the training stack: a TorchScript front end and an ``.npz`` scorer.

A model of ``skasd evaluate --save`` is a pickled scikit-learn pipeline: loading
it needs skasd, scikit-learn, skorch and the same versions, and unpickling
runs code. An exported model is a folder that a monitoring device can score
with torch and numpy alone:

- ``manifest.json``: the sample rate and clip length, and per machine type
  and section the two files below and the decision threshold;
- ``<machine>_<section>.frontend.pt``: the feature step as TorchScript
  (waveforms ``(n_clips, n_samples)`` to features), traced at the clip
  length;
- ``<machine>_<section>.scorer.npz``: the scorer's fitted arrays (loaded
  with ``allow_pickle=False``): the references of a k-NN scorer as the
  augmented vectors of ``skasd/scoring/_neighbors.py``, or the centre and
  precision of a Mahalanobis scorer.

Supported: pipelines of one waveform feature transformer (``LogMelStatistics``,
``LogMelSpectrogram``, ``STFTSpectrogram``, ``DFTSpectrum``) or
``SoundNetEmbedder`` and one of
``KNNScorer``, ``LocalDensityKNNScorer`` (``algorithm="exact"``) or
``MahalanobisScorer``: the ``logmel-*`` presets but ``logmel-dads``, and
``soundnet-density``.
"""

import json
import warnings
from pathlib import Path

import numpy as np

__all__ = ["ExportedModels", "export_models", "load_exported"]

MANIFEST = "manifest.json"
EXPORT_FORMAT = 1
_SUPPORTED = (
    "one waveform feature transformer (LogMelStatistics, LogMelSpectrogram, STFTSpectrogram, DFTSpectrum) or "
    "SoundNetEmbedder followed by KNNScorer or LocalDensityKNNScorer (algorithm='exact') or MahalanobisScorer"
)


def _scorer_arrays(scorer):
    """The arrays and settings a slim scorer needs, from a fitted skasd scorer."""
    from .scoring import KNNScorer, LocalDensityKNNScorer, MahalanobisScorer

    if isinstance(scorer, (KNNScorer, LocalDensityKNNScorer)) and scorer.algorithm == "exact":
        arrays = {"kind": np.array("knn"), "metric": np.array(scorer.metric),
                  "n_neighbors": np.array(scorer.n_neighbors), "references": scorer.reference_factors_}
        if scorer.metric != "cosine":
            arrays["center"] = scorer.center_
        return arrays
    if isinstance(scorer, MahalanobisScorer):
        return {"kind": np.array("mahalanobis"), "location": scorer.location_, "precision": scorer.precision_}
    return None


def export_models(models, out_dir, *, sample_rate, n_samples):
    """Write fitted pipelines as an exported-model folder (see the module notes).

    Parameters
    ----------
    models : dict
        ``{(machine, section): fitted Pipeline}``, as ``load_models(path)["models"]``.
    out_dir : str or path-like
        The folder to write; created if needed.
    sample_rate, n_samples : int
        The rate and length of the clips the models were fitted on.

    Returns
    -------
    out_dir : pathlib.Path

    Raises
    ------
    ValueError
        For a pipeline of other steps, naming them and what is supported.
    """
    import torch
    from sklearn.pipeline import Pipeline

    from .embedding import SoundNetEmbedder
    from .features import DFTSpectrum, LogMelSpectrogram, LogMelStatistics, STFTSpectrogram

    out_dir = Path(out_dir)
    entries = []
    for (machine, section), model in sorted(models.items()):
        steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
        arrays = _scorer_arrays(steps[-1][1]) if len(steps) == 2 else None
        front_ends = (DFTSpectrum, LogMelSpectrogram, LogMelStatistics, STFTSpectrogram, SoundNetEmbedder)
        if arrays is None or not isinstance(steps[0][1], front_ends):
            names = " -> ".join(type(step).__name__ for _, step in steps)
            raise ValueError(f"cannot export the model of {machine} section {section} ({names}): exported are {_SUPPORTED}.")
        front_end, scorer = steps[0][1], steps[1][1]
        module = front_end._inference_module(n_samples)
        example = torch.zeros((2, n_samples), dtype=torch.float32)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{machine}_{section}"
        with torch.no_grad(), warnings.catch_warnings():
            # TorchScript is deprecated in this torch in favour of torch.export;
            # it still traces, saves and loads (docs/cli.md, skasd export).
            warnings.filterwarnings("ignore", message="`torch.jit", category=FutureWarning)
            # The trace fixes what depends on the clip length (resampled
            # length, frame counts): the export is for clips of n_samples.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            torch.jit.trace(module, example).save(str(out_dir / f"{stem}.frontend.pt"))
        np.savez(out_dir / f"{stem}.scorer.npz", **arrays)
        entries.append({"machine": machine, "section": section, "frontend": f"{stem}.frontend.pt",
                        "scorer": f"{stem}.scorer.npz", "threshold": -float(scorer.offset_)})
    manifest = {"format": EXPORT_FORMAT, "sample_rate": int(sample_rate), "n_samples": int(n_samples),
                "models": entries}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out_dir


class _SlimScorer:
    """Anomaly scores from the exported arrays, as the fitted scorer computes them (in float64)."""

    def __init__(self, arrays):
        self.kind = str(arrays["kind"])
        self.arrays = arrays

    def anomaly_score(self, features):
        features = np.asarray(features, dtype=np.float32)
        if self.kind == "mahalanobis":
            centred = features.astype(np.float64) - self.arrays["location"]
            return np.maximum(np.einsum("ij,jk,ik->i", centred, self.arrays["precision"], centred), 0.0)
        metric, references = str(self.arrays["metric"]), self.arrays["references"].astype(np.float64)
        if metric == "cosine":
            norms = np.linalg.norm(features, axis=1, keepdims=True)
            if not np.all(norms > 0):
                raise ValueError("a clip's features are all zero: the cosine distance is undefined.")
            units = (features / norms).astype(np.float64)
            queries = np.hstack([units, np.ones((len(units), 1))])
        else:
            centred = (features - self.arrays["center"]).astype(np.float32).astype(np.float64)
            squared = np.einsum("ij,ij->i", centred, centred)
            queries = np.hstack([centred, squared[:, None], np.ones((len(centred), 1))])
        products = queries @ references.T
        k = int(self.arrays["n_neighbors"])
        return np.sort(np.partition(products, k - 1, axis=1)[:, :k], axis=1).mean(axis=1)


class ExportedModels:
    """An exported-model folder, loaded: :meth:`score` gives anomaly scores and decisions.

    Attributes
    ----------
    sample_rate, n_samples : int
    keys : list of tuple
        The ``(machine, section)`` of each model.
    thresholds : dict
        ``{(machine, section): anomaly score above which a clip is anomalous}``.
    """

    def __init__(self, folder):
        import torch

        folder = Path(folder)
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("format") != EXPORT_FORMAT:
            raise ValueError(f"{str(folder)!r}: exported-model format {manifest.get('format')!r}, not {EXPORT_FORMAT}.")
        self.sample_rate, self.n_samples = manifest["sample_rate"], manifest["n_samples"]
        self._front_ends, self._scorers, self.thresholds = {}, {}, {}
        for entry in manifest["models"]:
            key = (entry["machine"], entry["section"])
            for name in (entry["frontend"], entry["scorer"]):
                if Path(name).name != name:  # the manifest names files of its own folder only
                    raise ValueError(f"{str(folder)!r}: the manifest names {name!r}, outside its folder.")
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="`torch.jit", category=FutureWarning)
                self._front_ends[key] = torch.jit.load(str(folder / entry["frontend"]), map_location="cpu")
            with np.load(folder / entry["scorer"], allow_pickle=False) as arrays:
                self._scorers[key] = _SlimScorer(dict(arrays))
            self.thresholds[key] = float(entry["threshold"])
        self.keys = sorted(self._scorers)

    def score(self, X, key):
        """Anomaly scores (higher is more anomalous) and decisions (1 anomalous) of waveforms by one model."""
        import torch

        with torch.no_grad():
            features = self._front_ends[key](torch.as_tensor(np.asarray(X, dtype=np.float32))).numpy()
        scores = self._scorers[key].anomaly_score(features)
        return scores, (scores > self.thresholds[key]).astype(int)


def load_exported(folder):
    """Load an exported-model folder written by :func:`export_models` (or ``skasd export``).

    Parameters
    ----------
    folder : str or path-like

    Returns
    -------
    models : ExportedModels
    """
    return ExportedModels(folder)
