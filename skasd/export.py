"""Fitted models exported for inference without the training stack: a TorchScript front end and an ``.npz`` scorer.

A model of ``skasd evaluate --save`` is a pickled scikit-learn pipeline: loading
it needs skasd, scikit-learn, skorch and the same versions, and unpickling
runs code. An exported model is a folder that a monitoring device can score
with torch and numpy alone:

- ``manifest.json``: the format, the sample rate and clip length, and per
  machine type and section the two files below and the decision threshold;
- ``<machine>_<section>.frontend.pt``: the embedding step as TorchScript
  (waveforms ``(n_clips, n_samples)`` to what the step's ``transform``
  returns: features, or the embeddings of a network in evaluation mode),
  traced at the clip length and run in batches of the step's
  ``batch_size``, as ``transform`` runs it (a convolution's rounding
  depends on the batch); models that share one fitted embedder (the
  ``shared_embedding`` presets), or feature transformers of equal
  parameters, share one file, named after the first;
- ``<machine>_<section>.scorer.npz``: the scorer's fitted arrays (loaded
  with ``allow_pickle=False``): the references of a k-NN scorer as the
  augmented vectors of ``skasd/scoring/_neighbors.py`` (for
  ``DADSKNNScorer`` and ``SMOTEKNNScorer``, their inner scorer's: the real
  and the synthetic references), the centre and precision of a Mahalanobis
  scorer, or the unit centres of ``KMeansCosineScorer``.

``DenseAutoencoderScorer`` (``dcase-ae*``) is one step from waveforms to
scores: its front end is its log-mel spectrogram, the windows of
``n_frames`` frames and its network, giving each clip's reconstruction
error vectors ``(n_clips, n_windows * n_frames, n_mels)``; its scorer, kind
``"mse"`` (their mean square) or ``"selective_mahalanobis"`` (the source and
target precisions). An ``ACPEnsemble`` (``mean-ensemble``) has one front end
per member (``<machine>_<section>.member<m>.frontend.pt``; the manifest lists
them, a file per distinct front end) and one ``.npz``, kind ``"ensemble"``:
each member's scorer arrays prefixed ``member<m>.``, and the fusion's
``score_mean``, ``score_scale`` and ``weights``, so that the anomaly score is
the sum over the members of ``(a - score_mean) / score_scale * weights``
(``a``: their anomaly scores) and the threshold ``-offset_``, as ``ACPEnsemble.score_samples`` and
``decision_function`` compute them. A folder of these two is format 2; one
of the others alone, format 1 (which skasd releases before them read).

Supported embedding steps: a waveform feature transformer
(``LogMelStatistics``, ``LogMelSpectrogram``, ``STFTSpectrogram``,
``DFTSpectrum``), ``SoundNetEmbedder``, ``TorchModuleEmbedder`` (the
user's module and its pooling) and the trained embedders, whose network
does its own feature computation (``MultiBranchEmbedder``,
``ViTArcFaceEmbedder``, ``MaskedTeacherStudentPretrainer``: the student
alone, ``ConfidentPairSCAN``, and the last stage of ``WardDAPEmbedder`` and
``PseudoLabelIterator``), followed by ``KNNScorer``,
``LocalDensityKNNScorer`` (``algorithm="exact"``), ``MahalanobisScorer``,
``KMeansCosineScorer``, ``DADSKNNScorer`` or ``SMOTEKNNScorer``;
``ConfidentPairSCAN`` alone (its network, then its Mahalanobis scorer);
``DenseAutoencoderScorer`` alone; and an ``ACPEnsemble`` of such pipelines.
So every preset. Not exported, a one-line error naming the steps (and, in an
ensemble, the member): other scorers (``DomainStandardizedScorer``, an
``algorithm="hnsw"`` k-NN scorer), an ensemble after a feature step or of
members without an embedding step.

A trace records the operations run on one example; a Python step that
depends on the clips' values (an ``if``, ``int()`` or ``.item()`` on a
tensor in a user's module) would be fixed at the example's value. Such a
module is refused: tracing it must not convert a tensor to a Python value
in the user's code (skasd's own modules only do so for shapes, which the
clip length fixes), and the traced module must give the step's own
``transform`` output (the autoencoder's own error vectors; to 1e-4) on four noise clips of different loudness,
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
# Format 1: one front end and one scorer of the first kinds per model; format 2 adds ensembles (a list of
# front ends, the "ensemble" scorer) and the autoencoder's scorers. A folder is written in the lowest format
# that holds it, so that a reader of format 1 still reads what it can score.
EXPORT_FORMAT = 2
_FORMAT_2_KINDS = ("ensemble", "mse", "selective_mahalanobis")
_SUPPORTED = (
    "a waveform feature transformer (LogMelStatistics, LogMelSpectrogram, STFTSpectrogram, DFTSpectrum), "
    "SoundNetEmbedder, TorchModuleEmbedder or a trained embedder (MultiBranchEmbedder, ViTArcFaceEmbedder, "
    "MaskedTeacherStudentPretrainer, ConfidentPairSCAN, WardDAPEmbedder, PseudoLabelIterator) followed by "
    "KNNScorer, LocalDensityKNNScorer (algorithm='exact'), MahalanobisScorer, KMeansCosineScorer, DADSKNNScorer "
    "or SMOTEKNNScorer; ConfidentPairSCAN or DenseAutoencoderScorer alone; and an ACPEnsemble of such pipelines"
)
# Parameters of a feature transformer that do not change its features: equal transformers share a front end.
_RUNTIME_PARAMS = ("batch_size", "device", "n_jobs", "verbose")
# Loudness (standard deviation) of the test clips a traced front end must reproduce its step's transform on,
# together and the last alone; the first two are the trace's example.
_PROBE_SCALES = (0.3, 0.03, 0.1, 0.003)
# How closely: the traced and the eager network run the same operations.
_PROBE_RTOL = 1e-4


def _scorer_arrays(scorer):
    """The arrays and settings a slim scorer needs, from a fitted skasd scorer."""
    from .scoring import (
        DADSKNNScorer,
        KMeansCosineScorer,
        KNNScorer,
        LocalDensityKNNScorer,
        MahalanobisScorer,
        SMOTEKNNScorer,
    )

    if isinstance(scorer, (DADSKNNScorer, SMOTEKNNScorer)):
        # Their score_samples is that of the k-NN scorer fitted on the real and synthetic references.
        return _scorer_arrays(scorer.scorer_)
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


class _FrontEnd:
    """What an exported model computes with torch: ``build(n_samples)`` gives the module to trace,
    ``expected(X)`` the fitted step's own output that the trace must reproduce; equal ``key``, one file."""

    def __init__(self, key, build, expected, batch_size=None):
        self.key, self.build, self.expected, self.batch_size = key, build, expected, batch_size


def _embedding_front_end(step):
    from .features import (
        DFTSpectrum,
        LogMelSpectrogram,
        LogMelStatistics,
        STFTSpectrogram,
    )

    key = id(step)
    if type(step) in (LogMelStatistics, LogMelSpectrogram, STFTSpectrogram, DFTSpectrum):
        # Stateless: equal parameters give equal features (the two log-mel members of mean-ensemble).
        params = step.get_params(deep=False)
        key = (type(step).__name__, repr(sorted((name, value) for name, value in params.items()
                                                if name not in _RUNTIME_PARAMS)))
    # transform runs the clips in batches of batch_size, and a convolution's rounding depends on the batch's
    # size (SoundNet's embeddings by 5e-7): the front end runs them in the same batches.
    batch_size = getattr(step, "batch_size", None)
    return _FrontEnd(key, step._inference_module, step.transform,
                     batch_size if isinstance(batch_size, int) and not isinstance(batch_size, bool) else None)


def _in_batches(traced, batch_size):
    """A traced front end that runs the clips in consecutive batches of ``batch_size``, scripted."""
    import torch

    class InBatches(torch.nn.Module):
        def __init__(self, inner, batch_size: int):
            super().__init__()
            self.inner, self.batch_size = inner, batch_size

        def forward(self, waveforms):
            return torch.cat([self.inner(batch) for batch in torch.split(waveforms, self.batch_size)])

    return torch.jit.script(InBatches(traced, batch_size))


def _reconstruction_errors(scorer, n_samples):
    """DenseAutoencoderScorer's front end as one module: waveforms to each clip's error vectors ``x - x_hat``.

    Its log-mel spectrogram, the windows of ``n_frames`` frames (``stack_frames``), the network in
    evaluation mode; ``(n_clips, n_windows * n_frames, n_mels)``, as the scorer's own error vectors.
    """
    import copy

    import torch

    class ReconstructionErrors(torch.nn.Module):
        def __init__(self, log_mel, network, n_frames):
            super().__init__()
            self.log_mel, self.network, self.n_frames = log_mel, network, n_frames

        def forward(self, waveforms):
            log_mel = self.log_mel(waveforms)  # (clips, mels, frames)
            windows = log_mel.unfold(2, self.n_frames, 1).permute(0, 2, 3, 1)  # (clips, windows, frames, mels)
            flat = windows.reshape(-1, windows.shape[2] * windows.shape[3])
            return (flat - self.network(flat)).reshape(log_mel.shape[0], -1, log_mel.shape[1])

    network = copy.deepcopy(scorer.net_.module_).to("cpu").eval()
    return ReconstructionErrors(scorer._front_end()._inference_module(n_samples), network, scorer.n_frames).eval()


def _member(model):
    """``(front end, scorer arrays, fitted scorer)`` of one fitted pipeline, or None when it is not supported."""
    from .embedding import ConfidentPairSCAN, DenseAutoencoderScorer

    steps = _steps(model)
    if len(steps) == 1 and isinstance(steps[0], ConfidentPairSCAN):
        return _embedding_front_end(steps[0]), _scorer_arrays(steps[0].scorer_), steps[0]
    if len(steps) == 1 and isinstance(steps[0], DenseAutoencoderScorer):
        scorer = steps[0]
        arrays = {"kind": np.array(scorer.mode)}
        if scorer.mode == "selective_mahalanobis":
            arrays.update(source_precision=scorer.source_precision_, target_precision=scorer.target_precision_)
        front_end = _FrontEnd(id(scorer), lambda n_samples: _reconstruction_errors(scorer, n_samples),
                              lambda X: scorer._window_errors(scorer._windows(X)))
        return front_end, arrays, scorer
    if len(steps) == 2 and hasattr(steps[0], "_inference_module"):
        arrays = _scorer_arrays(steps[1])
        return None if arrays is None else (_embedding_front_end(steps[0]), arrays, steps[1])
    return None


def _parts(model):
    """``(front ends, scorer arrays, threshold)`` of a fitted pipeline; ``_Unexportable`` when it is not supported.

    An ``ACPEnsemble`` has one front end per member and the ``"ensemble"`` arrays: each member's, prefixed
    ``member<m>.``, and the fusion's ``score_mean``, ``score_scale`` and ``weights``.
    """
    from .ensemble import ACPEnsemble

    steps = _steps(model)
    if len(steps) == 1 and isinstance(steps[0], ACPEnsemble):
        ensemble = steps[0]
        members = [_member(member) for member in ensemble.estimators_]
        for name, member, fitted in zip(ensemble.member_names_, members, ensemble.estimators_):
            if member is None:
                names = " -> ".join(type(step).__name__ for step in _steps(fitted))
                raise _Unexportable(f"its member {name!r} ({names}) is not exported; exported are {_SUPPORTED}")
        arrays = {"kind": np.array("ensemble"), "score_mean": ensemble.score_mean_,
                  "score_scale": ensemble.score_scale_, "weights": ensemble.weights_}
        for index, (_, member_arrays, _) in enumerate(members):
            arrays.update({f"member{index}.{name}": value for name, value in member_arrays.items()})
        return [front_end for front_end, _, _ in members], arrays, -float(ensemble.offset_)
    member = _member(model)
    if member is None:
        raise _Unexportable(f"exported are {_SUPPORTED}")
    return [member[0]], member[1], -float(member[2].offset_)


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


def _trace(front_end, n_samples):
    """A front end traced at the clip length and checked against the fitted step's own output.

    Returns the traced module, or raises ``_Unexportable`` with the reason.
    """
    import torch

    rng = np.random.default_rng(0)
    probes = (rng.standard_normal((len(_PROBE_SCALES), n_samples)) * np.array(_PROBE_SCALES)[:, None])
    probes = probes.astype(np.float32)
    module = front_end.build(n_samples)
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
    if front_end.batch_size is not None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`torch.jit", category=FutureWarning)
            traced = _in_batches(traced, front_end.batch_size)
    for batch in (probes, probes[-1:]):
        expected = np.asarray(front_end.expected(batch), dtype=np.float32)
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
    parts, traced = {}, {}  # traced: one per front end, which models (and an ensemble's members) may share
    for (machine, section), model in sorted(models.items()):
        try:
            parts[machine, section] = _parts(model)
            for front_end in parts[machine, section][0]:
                if front_end.key not in traced:
                    traced[front_end.key] = _trace(front_end, n_samples)
        except _Unexportable as exc:
            names = " -> ".join(type(step).__name__ for step in _steps(model))
            raise ValueError(f"cannot export the model of {machine} section {section} ({names}): {exc}.") from exc
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files, entries = {}, []
    for (machine, section), (model_front_ends, arrays, threshold) in parts.items():
        stem = f"{machine}_{section}"
        names = []
        for index, front_end in enumerate(model_front_ends):
            if front_end.key not in files:
                files[front_end.key] = (f"{stem}.frontend.pt" if len(model_front_ends) == 1
                                        else f"{stem}.member{index}.frontend.pt")
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="`torch.jit", category=FutureWarning)
                    traced[front_end.key].save(str(out_dir / files[front_end.key]))
            names.append(files[front_end.key])
        np.savez(out_dir / f"{stem}.scorer.npz", **arrays)
        entries.append({"machine": machine, "section": section,
                        "frontend": names if str(arrays["kind"]) == "ensemble" else names[0],
                        "scorer": f"{stem}.scorer.npz", "threshold": threshold})
    kinds = {str(arrays["kind"]) for _, arrays, _ in parts.values()}
    manifest = {"format": EXPORT_FORMAT if kinds & set(_FORMAT_2_KINDS) else 1, "sample_rate": int(sample_rate),
                "n_samples": int(n_samples), "models": entries}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out_dir


def _nonzero_norms(features):
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    if not np.all(norms > 0):
        raise ValueError("a clip's features are all zero: the cosine distance is undefined.")
    return norms


def _squared_norms(vectors, precision):
    """``v P v^T`` of each row ``v``, in float64."""
    return np.einsum("ij,jk,ik->i", vectors, precision, vectors)


class _SlimScorer:
    """Anomaly scores from the exported arrays, as the fitted scorer computes them (in float64)."""

    def __init__(self, arrays):
        self.kind = str(arrays["kind"])
        self.arrays = arrays
        if self.kind == "ensemble":
            self.members = [
                _SlimScorer({name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)})
                for prefix in (f"member{index}." for index in range(len(arrays["weights"])))
            ]

    def anomaly_score(self, features):
        """Anomaly scores of one front end's output (of each member's, in a list, for an ensemble)."""
        if self.kind == "ensemble":  # ACPEnsemble: the weighted sum of the standardised member scores
            raw = np.column_stack([member.anomaly_score(output) for member, output in zip(self.members, features)])
            # Row by row, as ACPEnsemble sums them: a clip's score does not depend on the clips beside it.
            return np.sum((raw - self.arrays["score_mean"]) / self.arrays["score_scale"] * self.arrays["weights"], axis=1)
        if self.kind in ("mse", "selective_mahalanobis"):  # DenseAutoencoderScorer, from each clip's error vectors
            errors = np.asarray(features, dtype=np.float32).astype(np.float64)
            if self.kind == "mse":
                return np.square(errors).mean(axis=(1, 2))
            mean_errors = errors.mean(axis=1)
            return np.minimum(_squared_norms(mean_errors, self.arrays["source_precision"]),
                              _squared_norms(mean_errors, self.arrays["target_precision"]))
        features = np.asarray(features, dtype=np.float32)
        if self.kind == "mahalanobis":
            centred = features.astype(np.float64) - self.arrays["location"]
            return np.maximum(_squared_norms(centred, self.arrays["precision"]), 0.0)
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
        if manifest.get("format") not in (1, EXPORT_FORMAT):
            raise ValueError(f"{str(folder)!r}: exported-model format {manifest.get('format')!r}, not 1 to "
                             f"{EXPORT_FORMAT}.")
        self.sample_rate, self.n_samples = manifest["sample_rate"], manifest["n_samples"]
        self._front_ends, self._scorers, self.thresholds = {}, {}, {}
        loaded = {}  # models of a shared front end share its file
        for entry in manifest["models"]:
            key = (entry["machine"], entry["section"])
            # An ensemble names one front end per member.
            front_ends = entry["frontend"] if isinstance(entry["frontend"], list) else [entry["frontend"]]
            for name in (*front_ends, entry["scorer"]):
                if not isinstance(name, str) or Path(name).name != name:  # files of its own folder only
                    raise ValueError(f"{str(folder)!r}: the manifest names {name!r}, outside its folder.")
            for name in front_ends:
                if name not in loaded:
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message="`torch.jit", category=FutureWarning)
                        loaded[name] = torch.jit.load(str(folder / name), map_location="cpu")
            with np.load(folder / entry["scorer"], allow_pickle=False) as arrays:
                self._scorers[key] = _SlimScorer(dict(arrays))
            if (self._scorers[key].kind == "ensemble") != isinstance(entry["frontend"], list) or (
                    self._scorers[key].kind == "ensemble" and len(front_ends) != len(self._scorers[key].members)):
                raise ValueError(f"{str(folder)!r}: the manifest's front ends of {key[0]} section {key[1]} do "
                                 f"not match its scorer {entry['scorer']!r}.")
            self._front_ends[key] = [loaded[name] for name in front_ends]
            self.thresholds[key] = float(entry["threshold"])
        self.keys = sorted(self._scorers)

    def score(self, X, key):
        """Anomaly scores (higher is more anomalous) and decisions (1 anomalous) of waveforms by one model."""
        import torch

        waveforms = torch.as_tensor(np.asarray(X, dtype=np.float32))
        outputs = {}  # a front end that an ensemble's members share runs once
        with torch.no_grad():
            for module in self._front_ends[key]:
                if id(module) not in outputs:
                    outputs[id(module)] = module(waveforms).numpy()
        features = [outputs[id(module)] for module in self._front_ends[key]]
        scorer = self._scorers[key]
        scores = scorer.anomaly_score(features if scorer.kind == "ensemble" else features[0])
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
