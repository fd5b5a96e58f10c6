"""Frozen torch embedders: a fixed model maps each clip to one embedding.

Nothing is learned in ``fit``: it validates the parameters and the clips,
builds or loads the torch module (kept on the CPU, so that a fitted
estimator pickled on a GPU machine reloads on one without), runs it once on
the first clip to check what it returns, and records the output shape.
``transform`` runs the module in batches on ``device`` and pools
frame-level outputs with :class:`~skasd.embedding.FramePooling`.
"""

import copy
import io
import os
import warnings
from numbers import Integral
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._checkpoints import load_into, load_state_dict
from ..utils._deprecation import renamed_parameter
from ..utils._torch import resolve_device, transform_in_batches
from ..utils._waveforms import pcm_as_float
from ._pooling import POOLINGS, FramePooling

__all__ = ["TorchModuleEmbedder"]


class _SerializedScriptModule:
    """A TorchScript module as the bytes of ``torch.jit.save``, for pickling.

    ScriptModules do not pickle; an estimator holding one stores this in its
    pickled state instead and turns it back into a module (on the CPU) when
    unpickled.
    """

    def __init__(self, module):
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            # Deprecated in recent torch; the user chose TorchScript, pickling must still work.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(module, buffer)
        self.data = buffer.getvalue()

    def load(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(io.BytesIO(self.data), map_location="cpu")


def _copy_module(module):
    """A deep copy of ``module``; a script module comes back on the CPU.

    Deep copies of script modules misbehave (their parameters are not
    leaves, so that ``.to()`` warns); a save and load round trip does not.
    """
    if isinstance(module, torch.jit.ScriptModule):
        return _SerializedScriptModule(module).load()
    return copy.deepcopy(module)


def _on_cpu(module):
    """Whether every parameter and buffer of ``module`` is on the CPU."""
    tensors = [*module.parameters(), *module.buffers()]
    return all(tensor.device.type == "cpu" for tensor in tensors)


def _check_module_output(output, n_clips, name):
    """Check the contract on a module's output for a batch of ``n_clips`` clips."""
    if not isinstance(output, torch.Tensor):
        raise ValueError(  # noqa: TRY004 - bad input is a ValueError throughout skasd
            f"{name} must return a tensor of shape (batch, dim) or (batch, n_frames, dim); "
            f"it returned a {type(output).__name__}."
        )
    shape = tuple(output.shape)
    if output.ndim not in (2, 3) or shape[0] != n_clips:
        raise ValueError(
            f"{name} must return a tensor of shape (batch, dim) or (batch, n_frames, dim); "
            f"for a batch of shape ({n_clips}, n_samples) it returned shape {shape}."
        )
    if 0 in shape:
        raise ValueError(
            f"{name} returned an empty tensor of shape {shape} for a batch of {n_clips} clip(s)."
        )
    if not output.is_floating_point():
        raise ValueError(
            f"{name} must return floating-point values; it returned {output.dtype}."
        )


class _EmbeddingHead:
    """Callable for :func:`transform_in_batches`: model, contract check, pooling, float32."""

    def __init__(self, model, pooling, name):
        self.model = model
        self.pooling = FramePooling(pooling)
        self.name = name

    def __call__(self, waveforms):
        output = self.model(waveforms)
        _check_module_output(output, waveforms.shape[0], self.name)
        return self.pooling(output).float()


class FrozenEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Validation, batching, device, pooling and pickling shared by the frozen embedders.

    Subclasses declare their own parameters and implement ``_build_module``
    (return the torch module mapping (batch, n_samples) float32 waveforms to
    (batch, dim) or (batch, n_frames, dim)); they may check the clip length
    in ``_check_n_samples``.
    """

    _parameter_constraints: ClassVar[dict] = {
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions(set(POOLINGS))],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    #: Named in the errors about the module's output.
    _module_name = "module"

    def _check_n_samples(self, n_samples):
        """Raise a ValueError when clips of ``n_samples`` are too short; no-op by default."""

    def _build_module(self):
        """Return the torch module; called by ``fit``."""
        raise NotImplementedError

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the clips, build or load the model and check its output.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, finite. Nothing is learned from
            them: the first clip only checks what the model returns.
        y : None
            Ignored, present for API consistency.

        Returns
        -------
        self : object
            This embedder.
        """
        X = validate_data(self, pcm_as_float(X), dtype=np.float32)
        resolve_device(self.device)  # fail early on a device this machine lacks
        self._check_n_samples(X.shape[1])
        module = self._build_module()
        # In place on modules, which fit owns (copied or built): the fitted
        # estimator keeps its module on the CPU, in evaluation mode.
        if not _on_cpu(module):
            module = module.to("cpu")
        module.eval()
        self.module_ = module
        probe = np.require(
            X[:1], dtype=np.float32, requirements=["C_CONTIGUOUS", "WRITEABLE"]
        )
        with torch.inference_mode():
            output = module(torch.from_numpy(probe))
        _check_module_output(output, 1, self._module_name)
        self.output_shape_ = tuple(output.shape[1:])
        return self

    def _inference_module(self, n_samples=None):
        """The fitted model and its pooling as one torch module: waveforms to embeddings (for export)."""
        check_is_fitted(self)
        return torch.nn.Sequential(self.module_, FramePooling(self.pooling)).eval()

    @property
    def _n_features_out(self):
        """Columns of ``transform``'s output, for :meth:`get_feature_names_out`."""
        dim = self.output_shape_[-1]
        return (
            2 * dim
            if len(self.output_shape_) == 2 and self.pooling == "meanmax"
            else dim
        )

    def transform(self, X):
        """Embed each clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, finite, with ``n_samples`` equal to
            ``n_features_in_``.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_embedding), dtype float32
            One embedding per clip: the model's output pooled over its
            frames (``n_embedding = dim``, or ``2 * dim`` with
            ``pooling="meanmax"`` on frame-level outputs).
        """
        check_is_fitted(self)
        X = validate_data(self, pcm_as_float(X), dtype=np.float32, reset=False)
        device = resolve_device(self.device)
        # The fitted module stays on the CPU; other devices get a copy.
        module = (
            self.module_
            if device.type == "cpu"
            else _copy_module(self.module_).to(device)
        )
        embeddings = transform_in_batches(
            X,
            _EmbeddingHead(module, self.pooling, self._module_name),
            batch_size=self.batch_size,
            device=device,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=type(self).__name__,
        )
        bad = ~np.isfinite(embeddings).all(axis=1)
        if bad.any():
            raise ValueError(
                f"{self._module_name} produced NaN or infinite embeddings for "
                f"{int(bad.sum())} clip(s), the first at row {int(np.flatnonzero(bad)[0])}."
            )
        return embeddings

    def __getstate__(self):
        # Copy: on Python >= 3.11 the base class may hand back __dict__ itself.
        state = dict(super().__getstate__())
        for key, value in state.items():
            if isinstance(value, torch.jit.ScriptModule):
                state[key] = _SerializedScriptModule(value)
            elif isinstance(value, torch.nn.Module) and not _on_cpu(value):
                # A module parameter living on a GPU is stored on the CPU, so
                # that the pickle loads on a machine without one.
                state[key] = _copy_module(value).to("cpu")
        return state

    def __setstate__(self, state):
        state = {
            key: value.load() if isinstance(value, _SerializedScriptModule) else value
            for key, value in state.items()
        }
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


FROZEN_PARAMETERS_DOC = """\
    pooling : {"mean", "max", "meanmax"}, default="mean"
        How frame-level outputs (batch, n_frames, dim) become one vector per
        clip (:class:`~skasd.embedding.FramePooling`): the mean over frames,
        the maximum, or both concatenated (``2 * dim`` columns). Outputs of
        shape (batch, dim) are used as they are.

    batch_size : int, default=1
        Clips embedded together. One at a time by default: a clip's
        embedding then does not depend on the clips embedded with it
        (convolutions round differently for other batch shapes: with
        batches of 4 every SoundNet feature moves in its last digits), so
        that ``skasd score`` and ``skasd monitor``, which see one clip, give
        exactly what ``skasd evaluate`` computed. It costs about 15 % against
        batches of 4 on CPU (benchmarks/bench_batch_invariance.py); raise it
        on a GPU.

    device : str, default="auto"
        Where the model runs: ``"auto"`` (CUDA when available, else CPU),
        ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or ``"mps"``. A device
        this machine lacks is a ``ValueError`` in ``fit`` and ``transform``.
        The fitted model is kept on the CPU and copied to the device for
        each ``transform``, so an estimator fitted and pickled on a GPU
        machine reloads on one without (with ``device="auto"`` it then runs
        on the CPU) and gives the same embeddings, up to floating-point
        rounding.

    n_jobs : int, default=None
        On CPU, batches are spread over ``n_jobs`` joblib threads, each
        running torch single-threaded (torch's thread count is 1 during
        ``transform`` and restored afterwards). ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context; ``-1`` means all CPUs.
        Ignored on other devices.

    verbose : int, default=0
        Show a progress bar over batches when > 0.
"""

FROZEN_ATTRIBUTES_DOC = """\
    module_ : torch.nn.Module
        The model, on the CPU, in evaluation mode.

    output_shape_ : tuple of int
        Shape of the model's output for one clip of ``n_features_in_``
        samples: ``(n_frames, dim)`` or ``(dim,)``.

    n_features_in_ : int
        Clip length in samples seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during :term:`fit`, defined only when `X`
        has string column names.
"""


def _load_torchscript(path):
    with warnings.catch_warnings():
        # Deprecated in recent torch releases, still how many models are shipped.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise ValueError(
                f"weights={str(path)!r} could not be loaded as a TorchScript file "
                f"(torch.jit.load: {exc}). Without module or module_factory, weights must "
                "be a TorchScript file; to load a state dict, also pass the module it fits."
            ) from exc


class TorchModuleEmbedder(FrozenEmbedder):
    __doc__ = f"""Embed clips with any frozen torch model: yours, or one loaded from local disk.

    How to use BEATs, EAT, a model trained elsewhere or any other
    ``torch.nn.Module`` as a scikit-learn transformer in front of skasd's
    scorers. The model is not trained: ``fit`` only builds it, and
    ``transform`` runs it in inference mode, in batches, on ``device``,
    pooling frame-level outputs into one vector per clip.

    **Input contract.** The model is called as ``model(waveforms)`` with
    ``waveforms`` a float32 tensor of shape (batch, n_samples): raw clips at
    ``sample_rate`` Hz, as given in ``X`` (no scaling, no resampling; put any
    feature extraction, normalisation or resampling inside the model, e.g. in
    a wrapping ``nn.Module``). It must return a floating-point tensor of
    shape (batch, dim), one embedding per clip, or (batch, n_frames, dim),
    one per frame, which is pooled according to ``pooling``. It must not
    modify its input in place (the tensor may share memory with ``X``), and
    with ``n_jobs > 1`` it is called from several threads at once.

    **Where the model comes from**, exactly one of:

    - ``module``: a ``torch.nn.Module`` instance (a ``torch.jit`` script
      module too). ``fit`` deep-copies it, so the parameter is never changed.
    - ``weights`` alone: a TorchScript file (``torch.jit.save``), loaded
      with ``torch.jit.load(map_location="cpu")``.
    - ``weights`` with ``module`` or ``module_factory``: a state-dict
      file (``torch.save(model.state_dict(), path)``), loaded with
      ``torch.load(weights_only=True)``, which refuses pickled code, then
      into a copy of ``module`` (or into ``module_factory()``) with
      ``load_state_dict(strict=True)``. ``weights_key`` picks the state
      dict out of a file holding several entries.
    - ``module_factory`` alone: ``module_factory()`` returns the model.

    Files are read from local disk only, in ``fit``; nothing is downloaded.

    Parameters
    ----------
    module : torch.nn.Module, default=None
        The model, or the architecture a state-dict ``weights`` file is
        loaded into. Its class must be importable for the fitted estimator to
        pickle (defined in a module, not in a function or ``__main__``).

    weights : str or os.PathLike, default=None
        Path of a TorchScript file or, with ``module`` or
        ``module_factory``, of a state-dict file. TorchScript files hold
        code run by the TorchScript interpreter: load only files you trust
        (and note that recent torch releases deprecate TorchScript in favour
        of ``torch.export``; a state dict is the durable choice).

    module_factory : callable, default=None
        Called without arguments in ``fit``; returns the model (into which
        ``weights``, if given, is loaded). Use a function defined at the
        top level of a module, not a lambda, for the estimator to pickle.

    weights_key : str, default=None
        When the ``weights`` file holds a dict of several entries, the key
        of the state dict (``"model"`` for BEATs checkpoints,
        ``"state_dict"`` for Lightning ones). ``None`` means the file is the
        state dict.

    sample_rate : int, default=16000
        Sample rate of the waveforms in Hz; the model receives the clips at
        this rate (it is recorded, not used, by this class).

{FROZEN_PARAMETERS_DOC}
    checkpoint : str or os.PathLike, default="deprecated"
        Former name of ``weights``.

        .. deprecated:: 0.1
           ``checkpoint`` was renamed ``weights`` in 0.1 and will be
           removed in 0.2.

    checkpoint_key : str, default="deprecated"
        Former name of ``weights_key``.

        .. deprecated:: 0.1
           ``checkpoint_key`` was renamed ``weights_key`` in 0.1 and will
           be removed in 0.2.

    Attributes
    ----------
{FROZEN_ATTRIBUTES_DOC}
    See Also
    --------
    SoundNetEmbedder : A pretrained raw-waveform CNN with weights at hand.
    skasd.embedding.FramePooling : The pooling over frames.

    Notes
    -----
    The fitted model, stored in ``module_``, pickles with the estimator
    (``joblib.dump``): TorchScript modules as the bytes of ``torch.jit.save``,
    other modules as usual, always on the CPU, so that the pickle loads on a
    machine without a GPU. ``fit`` runs the model once on the first clip to
    check its output against the contract above; a model that returns
    anything else is a ``ValueError`` there, not later.

    References
    ----------
    .. [1] S. Chen, Y. Wu, C. Wang, S. Liu, D. Tompkins, Z. Chen and F. Wei,
       "BEATs: Audio pre-training with acoustic tokenizers," in Proc. ICML,
       2023.

    .. [2] W. Chen, Y. Liang, Z. Ma, Z. Zheng and X. Chen, "EAT:
       Self-supervised pre-training with efficient audio transformer," in
       Proc. IJCAI, 2024.

    Examples
    --------
    A model returning frames, here 4-dimensional features of 100-sample
    frames, mean-pooled into one embedding per clip:

    >>> import numpy as np
    >>> import torch
    >>> from skasd import TorchModuleEmbedder
    >>> model = torch.nn.Sequential(torch.nn.Unflatten(1, (-1, 100)), torch.nn.Linear(100, 4))
    >>> X = np.random.default_rng(0).normal(size=(3, 1600))
    >>> embedder = TorchModuleEmbedder(model).fit(X)
    >>> embedder.output_shape_  # 16 frames of dimension 4 per clip
    (16, 4)
    >>> E = embedder.transform(X)
    >>> E.shape, E.dtype
    ((3, 4), dtype('float32'))

    The same weights from a state-dict file:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.pt")
    >>> torch.save(model.state_dict(), path)
    >>> architecture = torch.nn.Sequential(torch.nn.Unflatten(1, (-1, 100)), torch.nn.Linear(100, 4))
    >>> loaded = TorchModuleEmbedder(architecture, weights=path).fit(X)
    >>> bool(np.array_equal(loaded.transform(X), E))
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **FrozenEmbedder._parameter_constraints,
        "module": [torch.nn.Module, None],
        "weights": [str, os.PathLike, None],
        "module_factory": [callable, None],
        "weights_key": [str, None],
        "checkpoint": [str, os.PathLike, None, Hidden(StrOptions({"deprecated"}))],
        "checkpoint_key": [str, None, Hidden(StrOptions({"deprecated"}))],
    }

    def __init__(
        self,
        module=None,
        *,
        weights=None,
        module_factory=None,
        weights_key=None,
        sample_rate=16000,
        pooling="mean",
        batch_size=1,
        device="auto",
        n_jobs=None,
        verbose=0,
        checkpoint="deprecated",
        checkpoint_key="deprecated",
    ):
        self.module = module
        self.weights = weights
        self.module_factory = module_factory
        self.weights_key = weights_key
        self.sample_rate = sample_rate
        self.pooling = pooling
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.checkpoint = checkpoint
        self.checkpoint_key = checkpoint_key

    def _build_module(self):
        if self.module is not None and self.module_factory is not None:
            raise ValueError("Pass at most one of module and module_factory, not both.")
        weights = renamed_parameter(self, "checkpoint", "weights")
        weights_key = renamed_parameter(self, "checkpoint_key", "weights_key")
        if (
            self.module is None
            and self.module_factory is None
            and weights is None
        ):
            raise ValueError(
                "TorchModuleEmbedder needs a model: pass module (a torch.nn.Module), "
                "module_factory (a callable returning one) or weights (a TorchScript file)."
            )
        if weights_key is not None and weights is None:
            raise ValueError(
                "weights_key is only used with weights, which is None."
            )
        path = None
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise ValueError(
                    f"weights={str(weights)!r} is not an existing file."
                )

        if self.module is not None:
            module = _copy_module(self.module)
        elif self.module_factory is not None:
            module = self.module_factory()
            if not isinstance(module, torch.nn.Module):
                raise ValueError(
                    f"module_factory must return a torch.nn.Module; it returned a {type(module).__name__}."
                )
        else:
            if weights_key is not None:
                raise ValueError(
                    "weights_key names a state dict inside the weights file; a state dict needs "
                    "module or module_factory to load into."
                )
            return _load_torchscript(path)
        if path is None:
            return module
        return load_into(module, load_state_dict(path, weights_key), path)
