"""Fitted models exported for inference without the training stack: a TorchScript front end and an ``.npz`` scorer.

A model of ``skasd evaluate --save`` is a pickled scikit-learn pipeline: loading
it needs skasd, scikit-learn, skorch and the same versions, and unpickling
runs code. An exported model is a folder that a monitoring device can score
with torch and numpy alone:

- ``manifest.json``: the sample rate and clip length, and per machine type
  and section the two files below and the decision threshold;
- ``<machine>_<section>.frontend.pt``: the embedding step as TorchScript
  (waveforms ``(n_clips, n_samples)`` to what the step's ``transform``
  returns: features, or the embeddings of a network in evaluation mode),
  traced at the clip length; models that share one fitted embedder (the
  ``shared_embedding`` presets) share one file, named after the first;
- ``<machine>_<section>.scorer.npz``: the scorer's fitted arrays (loaded
  with ``allow_pickle=False``): the references of a k-NN scorer as the
  augmented vectors of ``skasd/scoring/_neighbors.py``, the centre and
  precision of a Mahalanobis scorer, or the unit centres of
  ``KMeansCosineScorer``.

Supported embedding steps: a waveform feature transformer
(``LogMelStatistics``, ``LogMelSpectrogram``, ``STFTSpectrogram``,
``DFTSpectrum``), ``SoundNetEmbedder``, ``TorchModuleEmbedder`` (the
user's module and its pooling) and the trained embedders, whose network
does its own feature computation (``MultiBranchEmbedder``,
``ViTArcFaceEmbedder``, ``MaskedTeacherStudentPretrainer``: the student
alone, ``ConfidentPairSCAN``, and the last stage of ``WardDAPEmbedder`` and
``PseudoLabelIterator``), followed by ``KNNScorer``,
``LocalDensityKNNScorer`` (``algorithm="exact"``), ``MahalanobisScorer`` or
``KMeansCosineScorer``; and ``ConfidentPairSCAN`` alone (its network, then
its Mahalanobis scorer). So the presets ``logmel-*`` but ``logmel-dads``,
``soundnet-density``, ``multibranch-kmeans``, ``scan``, ``ward-dap`` and
``pseudo-label-iterator``. Not exported, a one-line error naming the steps:
``DADSKNNScorer`` (``logmel-dads``), ``DenseAutoencoderScorer`` (``dcase-ae*``:
it scores by reconstruction, with no embedding step), ``ACPEnsemble``
(``mean-ensemble``).

A trace records the operations run on one example; a Python step that
depends on the clips' values (an ``if``, ``int()`` or ``.item()`` on a
tensor in a user's module) would be fixed at the example's value. Such a
module is refused: tracing it must not convert a tensor to a Python value
in the user's code (skasd's own modules only do so for shapes, which the
clip length fixes), and the traced module must give the step's own
``transform`` output (to 1e-4) on four noise clips of different loudness,
together and the quietest alone. Pass a user module with data-dependent control
flow as ``torch.jit.script(module)``: a scripted module keeps its control
flow.
"""

import json
import warnings
from pathlib import Path

import numpy as np

__all__ = ["ExportedModels", "export_models", "load_exported"]

MANIFEST = "manifest.json"
EXPORT_FORMAT = 1
_SUPPORTED = (
    "a waveform feature transformer (LogMelStatistics, LogMelSpectrogram, STFTSpectrogram, DFTSpectrum), "
    "SoundNetEmbedder, TorchModuleEmbedder or a trained embedder (MultiBranchEmbedder, ViTArcFaceEmbedder, "
    "MaskedTeacherStudentPretrainer, ConfidentPairSCAN, WardDAPEmbedder, PseudoLabelIterator) followed by "
    "KNNScorer, LocalDensityKNNScorer (algorithm='exact'), MahalanobisScorer or KMeansCosineScorer, "
    "or ConfidentPairSCAN alone"
)
# Loudness (standard deviation) of the test clips a traced front end must reproduce its step's transform on,
# together and the last alone; the first two are the trace's example.
_PROBE_SCALES = (0.3, 0.03, 0.1, 0.003)
# How closely: the traced and the eager network run the same operations.
_PROBE_RTOL = 1e-4


def _scorer_arrays(scorer):
    """The arrays and settings a slim scorer needs, from a fitted skasd scorer."""
    from .scoring import (
        KMeansCosineScorer,
        KNNScorer,
        LocalDensityKNNScorer,
        MahalanobisScorer,
    )

    if isinstance(scorer, (KNNScorer, LocalDensityKNNScorer)) and scorer.algorithm == "exact":
        arrays = {"kind": np.array("knn"), "metric": np.array(scorer.metric),
                  "n_neighbors": np.array(scorer.n_neighbors), "references": scorer.reference_factors_}
        if scorer.metric != "cosine":
            arrays["center"] = scorer.center_
        return arrays
    if isinstance(scorer, MahalanobisScorer):
        return {"kind": np.array("mahalanobis"), "location": scorer.location_, "precision": scorer.precision_}
    if isinstance(scorer, KMeansCosineScorer):
        return {"kind": np.array("kmeans_cosine"), "centers": scorer.cluster_centers_}
    return None


def _steps(model):
    from sklearn.pipeline import Pipeline

    return [step for _, step in model.steps] if isinstance(model, Pipeline) else [model]


def _parts(model):
    """``(embedding step, scorer arrays, threshold)`` of a fitted pipeline, or None when it is not supported."""
    from .embedding import ConfidentPairSCAN

    steps = _steps(model)
    if len(steps) == 1 and isinstance(steps[0], ConfidentPairSCAN):
        arrays, scorer = _scorer_arrays(steps[0].scorer_), steps[0]
    elif len(steps) == 2 and hasattr(steps[0], "_inference_module"):
        arrays, scorer = _scorer_arrays(steps[1]), steps[1]
    else:
        return None
    return None if arrays is None else (steps[0], arrays, -float(scorer.offset_))


def _user_code(filename):
    """Whether a source file is outside skasd, torch and torchaudio: the user's module."""
    import torch

    libraries = [Path(__file__).parent, Path(torch.__file__).parent]
    try:
        import torchaudio

        libraries.append(Path(torchaudio.__file__).parent)
    except ImportError:  # pragma: no cover - torchaudio is a dependency
        pass
    return not any(Path(filename).resolve().is_relative_to(library.resolve()) for library in libraries)


def _trace(step, n_samples):
    """The step's front end traced at the clip length and checked against its ``transform``.

    Returns the traced module, or raises ``_Unexportable`` with the reason.
    """
    import torch

    rng = np.random.default_rng(0)
    probes = (rng.standard_normal((len(_PROBE_SCALES), n_samples)) * np.array(_PROBE_SCALES)[:, None])
    probes = probes.astype(np.float32)
    module = step._inference_module(n_samples)
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        # TorchScript is deprecated in this torch in favour of torch.export;
        # it still traces, saves and loads (docs/cli.md, skasd export).
        warnings.filterwarnings("ignore", message="`torch.jit", category=FutureWarning)
        try:
            # The checks below replace the tracer's own (it reruns the same example).
            traced = torch.jit.trace(module, torch.from_numpy(probes[:2]), check_trace=False)
        except Exception as exc:  # what tracing raises varies: RuntimeError, TypeError, ...
            raise _Unexportable(f"torch.jit.trace failed on its network: {str(exc).splitlines()[0]}") from exc
    for record in caught:
        if not issubclass(record.category, torch.jit.TracerWarning):
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
        # The trace fixes what depends on the clip length (resampled length, frame
        # counts, in skasd's and torch's code): the export is for clips of n_samples.
        # A tensor turned into a Python value in the user's code is data the trace would fix.
        elif str(record.message).startswith("Converting a tensor to a") and _user_code(record.filename):
            raise _Unexportable(
                f"tracing its network turns a tensor into a Python value at {record.filename}:{record.lineno} "
                "(an if, int() or .item() on a tensor), which the trace would fix at the example's value; use "
                "tensor operations there or pass the module as torch.jit.script(module)"
            )
    for batch in (probes, probes[-1:]):
        expected = np.asarray(step.transform(batch), dtype=np.float32)
        with torch.no_grad():
            found = traced(torch.from_numpy(batch)).numpy().astype(np.float32)
        scale = float(np.max(np.abs(expected), initial=0.0))
        if found.shape != expected.shape or not np.allclose(
            found, expected, rtol=_PROBE_RTOL, atol=_PROBE_RTOL * scale, equal_nan=True
        ):
            difference = (f"shape {found.shape}, not {expected.shape}" if found.shape != expected.shape
                          else f"largest difference {np.nanmax(np.abs(found - expected)):.3g}")
            raise _Unexportable(
                f"its traced network does not reproduce its transform on {len(batch)} test clip(s) ({difference}): "
                "a step depends on the clips' values or on chance"
            )
    return traced


class _Unexportable(Exception):
    """A model that cannot be exported; the message says why."""


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
        For a pipeline of other steps, naming them and what is supported,
        or one whose embedding step does not trace faithfully, saying why.
        Nothing is written then.
    """
    parts, traced = {}, {}  # traced: one per fitted embedding step, which models may share
    for (machine, section), model in sorted(models.items()):
        parts[machine, section] = _parts(model)
        try:
            if parts[machine, section] is None:
                raise _Unexportable(f"exported are {_SUPPORTED}")
            step = parts[machine, section][0]
            if id(step) not in traced:
                traced[id(step)] = _trace(step, n_samples)
        except _Unexportable as exc:
            names = " -> ".join(type(step).__name__ for step in _steps(model))
            raise ValueError(f"cannot export the model of {machine} section {section} ({names}): {exc}.") from exc
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    front_ends, entries = {}, []
    for (machine, section), (step, arrays, threshold) in parts.items():
        stem = f"{machine}_{section}"
        if id(step) not in front_ends:
            front_ends[id(step)] = f"{stem}.frontend.pt"
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="`torch.jit", category=FutureWarning)
                traced[id(step)].save(str(out_dir / front_ends[id(step)]))
        np.savez(out_dir / f"{stem}.scorer.npz", **arrays)
        entries.append({"machine": machine, "section": section, "frontend": front_ends[id(step)],
                        "scorer": f"{stem}.scorer.npz", "threshold": threshold})
    manifest = {"format": EXPORT_FORMAT, "sample_rate": int(sample_rate), "n_samples": int(n_samples),
                "models": entries}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out_dir


def _nonzero_norms(features):
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    if not np.all(norms > 0):
        raise ValueError("a clip's features are all zero: the cosine distance is undefined.")
    return norms


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
        if self.kind == "kmeans_cosine":  # minus the cosine similarity to the nearest centre
            units = features.astype(np.float64)
            units = units / _nonzero_norms(units)
            return -np.clip((units @ self.arrays["centers"].T).max(axis=1), -1.0, 1.0)
        metric, references = str(self.arrays["metric"]), self.arrays["references"].astype(np.float64)
        if metric == "cosine":
            units = (features / _nonzero_norms(features)).astype(np.float64)
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
        loaded = {}  # models of a shared embedder share its file
        for entry in manifest["models"]:
            key = (entry["machine"], entry["section"])
            for name in (entry["frontend"], entry["scorer"]):
                if Path(name).name != name:  # the manifest names files of its own folder only
                    raise ValueError(f"{str(folder)!r}: the manifest names {name!r}, outside its folder.")
            if entry["frontend"] not in loaded:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="`torch.jit", category=FutureWarning)
                    loaded[entry["frontend"]] = torch.jit.load(str(folder / entry["frontend"]), map_location="cpu")
            self._front_ends[key] = loaded[entry["frontend"]]
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
