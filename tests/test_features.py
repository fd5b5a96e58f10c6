"""Tests of skasd.features against independent numpy / scipy computations."""

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from skasd import DFTSpectrum, LogMelSpectrogram, LogMelStatistics, STFTSpectrogram
from skasd.utils._torch import resolve_device, torch_threads

SAMPLE_RATE = 16000
EPS = float(np.finfo(np.float64).eps)
ALL_TRANSFORMERS = [LogMelSpectrogram, LogMelStatistics, STFTSpectrogram, DFTSpectrum]


# Independent references: float64 numpy / scipy, nothing from skasd or torchaudio.


def hann(length):
    """Periodic Hann window, as used for spectral analysis."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)


def hz_to_mel(f, scale):
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # Slaney: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
    log_step = np.log(6.4) / 27.0
    above_1khz = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / log_step
    return np.where(f < 1000.0, 3.0 * f / 200.0, above_1khz)


def mel_to_hz(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    log_step = np.log(6.4) / 27.0
    return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp(log_step * (m - 15.0)))


def mel_filterbank(n_fft, n_mels, f_min, f_max, scale, norm):
    """Triangular filters on equally spaced mel points, shape (n_mels, n_fft // 2 + 1)."""
    bin_hz = np.linspace(0, SAMPLE_RATE // 2, n_fft // 2 + 1)
    mel_edges = np.linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2)
    edges = mel_to_hz(mel_edges, scale)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hz - left) / (centre - left)
    falling = (right - bin_hz) / (right - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= 2.0 / (right - left)
    return weights


def scipy_stft_magnitude(x, n_fft, hop, win_length=None):
    """|STFT| with centred, zero-padded frames, shape (n_fft // 2 + 1, n_frames)."""
    win_length = n_fft if win_length is None else win_length
    offset = (n_fft - win_length) // 2
    window = np.zeros(n_fft)
    window[offset : offset + win_length] = hann(win_length)
    _, _, Z = scipy.signal.stft(
        x.astype(np.float64),
        window=window,
        nperseg=n_fft,
        noverlap=n_fft - hop,
        boundary="zeros",
        padded=False,
        detrend=False,
    )
    # scipy scales by 1 / sum(window) ("spectrum" scaling): undo it.
    return np.abs(Z) * window.sum()


def reference_log_mel(
    x,
    n_fft=1024,
    hop=512,
    n_mels=128,
    power=2.0,
    scale="slaney",
    norm="slaney",
    f_min=0.0,
    f_max=SAMPLE_RATE / 2,
    win_length=None,
):
    spectrogram = scipy_stft_magnitude(x, n_fft, hop, win_length) ** power
    mel = mel_filterbank(n_fft, n_mels, f_min, f_max, scale, norm) @ spectrogram
    return 20.0 / power * np.log10(np.maximum(mel, EPS))


@pytest.fixture
def noise():
    return np.random.default_rng(0).standard_normal((3, 8000 + 123)).astype(np.float32)


# Numeric agreement.


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"mel_scale": "htk", "mel_norm": None, "n_mels": 40},
        {"n_fft": 512, "hop_length": 160, "win_length": 400, "n_mels": 64},
        {"n_mels": 64, "f_min": 50.0, "f_max": 7000.0},
        {"power": 1.0, "n_mels": 64},
    ],
)
def test_log_mel_matches_scipy_reference(noise, params):
    log_mel = LogMelSpectrogram(**params).fit_transform(noise)
    reference_params = {
        "n_fft": params.get("n_fft", 1024),
        "hop": params.get("hop_length", 512),
        "n_mels": params.get("n_mels", 128),
        "power": params.get("power", 2.0),
        "scale": params.get("mel_scale", "slaney"),
        "norm": params.get("mel_norm", "slaney"),
        "f_min": params.get("f_min", 0.0),
        "f_max": params.get("f_max", SAMPLE_RATE / 2),
        "win_length": params.get("win_length"),
    }
    for clip, result in zip(noise, log_mel):
        # float32 sums over ~1000 products: a few 1e-5 relative on the mel power, 1e-4 dB.
        assert_allclose(result, reference_log_mel(clip, **reference_params), atol=5e-4)


def test_log_mel_statistics_are_mean_and_std_of_log_mel(noise):
    log_mel = LogMelSpectrogram(n_mels=32).fit_transform(noise).astype(np.float64)
    statistics = LogMelStatistics(n_mels=32).fit_transform(noise)
    assert statistics.shape == (3, 64)
    assert_allclose(statistics[:, :32], log_mel.mean(axis=-1), rtol=1e-5, atol=1e-4)
    assert_allclose(statistics[:, 32:], log_mel.std(axis=-1), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("chosen", [("mean", "std"), ("max",), ("max", "mean"), ["std", "mean", "max"]])
def test_log_mel_statistics_computes_the_chosen_statistics_in_their_order(noise, chosen):
    log_mel = LogMelSpectrogram(n_mels=8).fit_transform(noise).astype(np.float64)
    reference = {"mean": log_mel.mean(axis=-1), "std": log_mel.std(axis=-1), "max": log_mel.max(axis=-1)}
    transformer = LogMelStatistics(n_mels=8, statistics=chosen).fit(noise)
    assert_allclose(transformer.transform(noise), np.hstack([reference[name] for name in chosen]), rtol=1e-5,
                    atol=1e-4)
    assert transformer.get_feature_names_out().tolist() == [f"logmel_{name}_{m}" for name in chosen for m in range(8)]


@pytest.mark.parametrize("chosen", [(), ("mean", "mean"), ("median",), "mean"])
def test_log_mel_statistics_refuses_unknown_repeated_or_no_statistics(noise, chosen):
    with pytest.raises((ValueError, TypeError), match="statistics"):
        LogMelStatistics(statistics=chosen).fit(noise)


@pytest.mark.parametrize(
    "window_ms, hop_ms, n_fft, hop",
    [(64.0, None, 1024, 512), (25.0, 10.0, 400, 160), (32.0, 8.0, 512, 128)],
)
def test_stft_matches_scipy_reference(noise, window_ms, hop_ms, n_fft, hop):
    spectrogram = STFTSpectrogram(window_ms=window_ms, hop_ms=hop_ms).fit_transform(noise)
    assert spectrogram.shape == (3, n_fft // 2 + 1, 1 + noise.shape[1] // hop)
    for clip, result in zip(noise, spectrogram):
        reference = scipy_stft_magnitude(clip, n_fft, hop)
        assert_allclose(result, reference, rtol=1e-4, atol=1e-5 * reference.max())


def test_stft_log_power_is_decibels_of_power(noise):
    power = STFTSpectrogram(power=2.0).fit_transform(noise).astype(np.float64)
    decibels = STFTSpectrogram(power=2.0, log=True, eps=1e-10).fit_transform(noise)
    assert_allclose(decibels, 10 * np.log10(np.maximum(power, 1e-10)), atol=1e-3)


def test_dft_matches_numpy_rfft(noise):
    spectrum = DFTSpectrum().fit_transform(noise)
    assert spectrum.shape == (3, noise.shape[1] // 2 + 1)
    reference = np.abs(np.fft.rfft(noise.astype(np.float64), axis=1))
    assert_allclose(spectrum, reference, rtol=1e-4, atol=1e-5 * reference.max())


@pytest.mark.parametrize(
    "n_samples, frequency, expected_bin",
    [(16000, 1000.0, 1000), (8000, 440.0, 220), (16001, 2500.0, 2500)],
)
def test_dft_of_a_sine_peaks_at_its_bin(n_samples, frequency, expected_bin):
    t = np.arange(n_samples) / SAMPLE_RATE
    spectrum = DFTSpectrum().fit_transform(np.sin(2 * np.pi * frequency * t)[np.newaxis])
    # Bin k is k * sample_rate / n_samples Hz: 2500 Hz is bin 2500.16 for 16001 samples.
    assert spectrum[0].argmax() == expected_bin
    if frequency * n_samples / SAMPLE_RATE == expected_bin:
        # No leakage on a bin: the peak is n_samples / 2 for amplitude 1.
        assert spectrum[0].max() == pytest.approx(n_samples / 2, rel=1e-4)


def test_dft_f_max_keeps_bins_up_to_f_max():
    X = np.random.default_rng(1).standard_normal((2, 16000))
    full = DFTSpectrum().fit_transform(X)
    cropped = DFTSpectrum(f_max=1000.0).fit_transform(X)
    # 1 Hz bins for a 1 s clip: 0 Hz, ..., 1000 Hz.
    assert cropped.shape == (2, 1001)
    assert_array_equal(cropped, full[:, :1001])
    assert DFTSpectrum(f_max=8000).fit_transform(X).shape == full.shape


# Invariants.


@pytest.mark.parametrize("gain", [0.01, 3.0, 1000.0])
def test_scaling_the_waveform_shifts_log_mel_by_its_decibels(noise, gain):
    transformer = LogMelSpectrogram(n_mels=64)
    shift = transformer.fit_transform(noise * gain) - transformer.transform(noise)
    assert_allclose(shift, 20 * np.log10(gain), atol=1e-3)


@pytest.mark.parametrize("n_samples", [1, 5, 511, 512, 513, 1024, 16000])
def test_output_shapes_follow_the_documented_formulas(n_samples):
    X = np.random.default_rng(2).standard_normal((2, n_samples))
    frames_512, frames_160 = 1 + n_samples // 512, 1 + n_samples // 160
    assert LogMelSpectrogram(n_mels=40).fit_transform(X).shape == (2, 40, frames_512)
    log_mel_160 = LogMelSpectrogram(n_mels=40, hop_length=160).fit_transform(X)
    assert log_mel_160.shape == (2, 40, frames_160)
    assert LogMelStatistics(n_mels=40).fit_transform(X).shape == (2, 80)
    assert STFTSpectrogram().fit_transform(X).shape == (2, 513, frames_512)
    assert STFTSpectrogram(window_ms=25, hop_ms=10).fit_transform(X).shape == (2, 201, frames_160)
    assert DFTSpectrum().fit_transform(X).shape == (2, n_samples // 2 + 1)


@pytest.mark.parametrize("Transformer", ALL_TRANSFORMERS)
def test_batch_size_and_n_jobs_do_not_change_results(Transformer, noise):
    X = np.concatenate([noise, noise[::-1] * 0.5])
    expected = Transformer(batch_size=len(X)).fit_transform(X)
    for batch_size, n_jobs in [(1, None), (4, None), (1, 2), (4, -1)]:
        result = Transformer(batch_size=batch_size, n_jobs=n_jobs).fit_transform(X)
        assert_allclose(result, expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("Transformer", ALL_TRANSFORMERS)
def test_output_is_float32_for_any_float_input(Transformer, noise):
    for dtype in (np.float32, np.float64):
        assert Transformer().fit_transform(noise.astype(dtype)).dtype == np.float32


@pytest.mark.parametrize("Transformer", ALL_TRANSFORMERS)
def test_stateless_transform_needs_no_fit(Transformer, noise):
    assert_array_equal(Transformer().transform(noise), Transformer().fit_transform(noise))


def test_silence_maps_to_the_eps_floor():
    log_mel = LogMelSpectrogram(n_mels=16).fit_transform(np.zeros((1, 2048)))
    assert_allclose(log_mel, 10 * np.log10(EPS), rtol=1e-6)
    log_mel = LogMelSpectrogram(n_mels=16, eps=1e-10, power=1.0).fit_transform(np.zeros((1, 2048)))
    assert_allclose(log_mel, -200.0, rtol=1e-6)


def test_read_only_input_is_accepted_without_warnings(noise):
    noise.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogMelStatistics(n_mels=16).fit_transform(noise)


@settings(max_examples=25, deadline=None)
@given(
    X=st.integers(1, 3).flatmap(
        lambda n_clips: st.integers(1, 3000).flatmap(
            lambda n_samples: arrays(
                np.float32,
                (n_clips, n_samples),
                elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32),
            )
        )
    ),
    # Smaller FFTs leave some of the 16 mel filters without a frequency bin.
    n_fft=st.sampled_from([128, 256, 1024]),
    hop_divisor=st.sampled_from([1, 2, 4]),
    batch_size=st.integers(1, 3),
)
def test_log_mel_properties(X, n_fft, hop_divisor, batch_size):
    hop = n_fft // hop_divisor
    transformer = LogMelSpectrogram(
        n_fft=n_fft, hop_length=hop, n_mels=16, mel_scale="htk", batch_size=batch_size
    )
    log_mel = transformer.fit_transform(X)
    assert log_mel.shape == (X.shape[0], 16, 1 + X.shape[1] // hop)
    assert np.isfinite(log_mel).all()
    assert log_mel.min() >= np.float32(10 * np.log10(EPS)) - 1e-3
    # Each clip alone gives the same result as in the batch.
    assert_allclose(transformer.transform(X[-1:]), log_mel[-1:], rtol=1e-5, atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(
    X=st.integers(1, 3).flatmap(
        lambda n_clips: st.integers(1, 5000).flatmap(
            lambda n_samples: arrays(
                np.float32,
                (n_clips, n_samples),
                elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32),
            )
        )
    ),
    f_max=st.one_of(st.none(), st.floats(0, SAMPLE_RATE / 2)),
)
def test_dft_properties(X, f_max):
    spectrum = DFTSpectrum(f_max=f_max).fit_transform(X)
    full = np.abs(np.fft.rfft(X.astype(np.float64), axis=1))
    n_samples = X.shape[1]
    bin_hz = np.arange(n_samples // 2 + 1) * SAMPLE_RATE / n_samples
    n_kept = full.shape[1] if f_max is None else np.count_nonzero(bin_hz <= f_max)
    assert spectrum.shape == (X.shape[0], n_kept)
    assert_allclose(spectrum, full[:, :n_kept], rtol=1e-4, atol=1e-4 * max(full.max(), 1.0))


# Parameters, names, device, threads, progress.


def test_log_mel_statistics_feature_names():
    names = LogMelStatistics(n_mels=3).fit(np.zeros((1, 100))).get_feature_names_out()
    assert names.tolist() == [
        "logmel_mean_0",
        "logmel_mean_1",
        "logmel_mean_2",
        "logmel_std_0",
        "logmel_std_1",
        "logmel_std_2",
    ]


def test_pandas_output_carries_the_feature_names(noise):
    frame = LogMelStatistics(n_mels=4).set_output(transform="pandas").fit_transform(noise)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == [f"logmel_{s}_{m}" for s in ("mean", "std") for m in range(4)]


def test_dft_feature_names_follow_the_clip_length():
    assert DFTSpectrum().fit(np.zeros((1, 10))).get_feature_names_out().tolist() == [
        f"dft_bin_{k}" for k in range(6)
    ]
    assert len(DFTSpectrum(f_max=2000).get_feature_names_out([f"s{i}" for i in range(16)])) == 3
    with pytest.raises(NotFittedError):
        DFTSpectrum().get_feature_names_out()


def test_device_auto_resolves_to_an_available_device(noise):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert_allclose(
        LogMelSpectrogram(device="auto").fit_transform(noise),
        LogMelSpectrogram(device="cpu").fit_transform(noise),
        atol=1e-3,
    )


@pytest.mark.parametrize("Transformer", ALL_TRANSFORMERS)
def test_default_device_is_auto_and_without_a_gpu_gives_the_cpus_features(Transformer, noise):
    assert Transformer().device == "auto"
    on_cpu = Transformer(device="cpu").fit_transform(noise)
    if torch.cuda.is_available():
        assert_allclose(Transformer().fit_transform(noise), on_cpu, rtol=1e-4, atol=1e-3)
    else:
        assert_array_equal(Transformer().fit_transform(noise), on_cpu)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "meta"])
def test_unknown_device_is_a_clear_error(device, noise):
    with pytest.raises(ValueError, match=f"device='{device}' is not supported"):
        LogMelSpectrogram(device=device).fit_transform(noise)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(noise):
    with pytest.raises(ValueError, match="CUDA is not available"):
        DFTSpectrum(device="cuda").fit_transform(noise)


@pytest.mark.parametrize("n_jobs", [None, 1, -1])
def test_torch_threads_are_restored(n_jobs, noise):
    before = torch.get_num_threads()
    LogMelSpectrogram(n_jobs=n_jobs).fit_transform(noise)
    assert torch.get_num_threads() == before


def test_torch_threads_are_restored_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_n_jobs_zero_is_a_clear_error(noise):
    with pytest.raises(ValueError, match="n_jobs == 0"):
        STFTSpectrogram(n_jobs=0).fit_transform(noise)


@pytest.mark.parametrize("verbose", [0, 1])
def test_verbose_shows_a_progress_bar(verbose, noise, capsys):
    LogMelSpectrogram(batch_size=1, verbose=verbose).fit_transform(noise)
    stderr = capsys.readouterr().err
    assert ("LogMelSpectrogram" in stderr) == bool(verbose)
    if verbose:
        assert "3/3" in stderr


# Clear errors.


@pytest.mark.parametrize("Transformer", ALL_TRANSFORMERS)
@pytest.mark.parametrize(
    "bad_value, message",
    [(np.nan, "Input X contains NaN"), (-np.inf, "Input X contains infinity")],
)
def test_non_finite_samples_are_rejected(Transformer, bad_value, message, noise):
    X = noise.copy()
    X[1, 10] = bad_value
    with pytest.raises(ValueError, match=message):
        Transformer().fit(X)
    with pytest.raises(ValueError, match=message):
        Transformer().transform(X)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_values_overflowing_float32_are_rejected():
    with pytest.raises(ValueError, match="infinity or a value too large for dtype\\('float32'\\)"):
        LogMelSpectrogram().fit_transform(np.full((1, 100), 1e300))


@pytest.mark.parametrize("Transformer", ALL_TRANSFORMERS)
def test_wrong_number_of_dimensions_is_rejected(Transformer):
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        Transformer().fit_transform(np.zeros(100))
    with pytest.raises(ValueError, match="Found array with dim 3"):
        Transformer().fit_transform(np.zeros((2, 3, 100)))


def test_clip_length_must_match_the_fitted_one(noise):
    transformer = LogMelStatistics().fit(noise)
    expected = f"X has 100 features, but LogMelStatistics is expecting {noise.shape[1]} features"
    with pytest.raises(ValueError, match=expected):
        transformer.transform(noise[:, :100])


@pytest.mark.parametrize(
    "transformer, message",
    [
        (LogMelSpectrogram(win_length=2048), "win_length=2048 must be at most n_fft=1024"),
        (LogMelStatistics(f_max=9000.0), "f_max=9000.0 must be at most the Nyquist frequency"),
        (LogMelSpectrogram(f_min=4000.0, f_max=3000.0), "f_min=4000.0 must be below f_max=3000.0"),
        (STFTSpectrogram(window_ms=0.01), "window_ms=0.01 is shorter than one sample"),
        (STFTSpectrogram(hop_ms=0.01), "hop_ms=0.01 is shorter than one sample"),
        (STFTSpectrogram(window_ms=0.07), "Half the window is shorter than one sample"),
        (DFTSpectrum(f_max=8001), "f_max=8001 must be at most the Nyquist frequency"),
        (LogMelSpectrogram(n_mels=0), "The 'n_mels' parameter of LogMelSpectrogram must be"),
        (STFTSpectrogram(log="yes"), "The 'log' parameter of STFTSpectrogram must be"),
    ],
)
def test_invalid_parameters_are_clear_errors_in_fit_and_transform(transformer, message, noise):
    with pytest.raises(ValueError, match=message):
        transformer.fit(noise)
    with pytest.raises(ValueError, match=message):
        transformer.transform(noise)


def test_docs_example_runs_and_detects_the_fault():
    docs = Path(__file__).resolve().parents[1] / "docs" / "features.md"
    block = re.search(r"```python\n(.*?)```", docs.read_text(), re.DOTALL).group(1)
    namespace = {}
    exec(compile(block, str(docs), "exec"), namespace)
    assert roc_auc_score(namespace["y_test"], namespace["anomaly_score"]) == 1.0


def test_int16_and_uint8_waveforms_are_pcm_scaled_to_the_float_range():
    """What scipy.io.wavfile.read returns (int16 for DCASE's 16-bit files) gives the features of the float clips."""
    import warnings

    from skasd.pipelines import make_preset

    rng = np.random.default_rng(0)
    pcm16 = rng.integers(-20000, 20000, size=(12, 4000)).astype(np.int16)
    as_float = pcm16.astype(np.float32) / 32768
    message = (r"^X holds int16 samples: read as PCM audio and scaled to \[-1, 1\] \(\(x - 0\) / 32768\), the range "
               r"of float waveforms\. Pass float waveforms to silence this\.$")
    with pytest.warns(UserWarning, match=message):
        features = LogMelStatistics().fit_transform(pcm16)
    np.testing.assert_array_equal(features, LogMelStatistics().fit_transform(as_float))
    pcm8 = rng.integers(0, 256, size=(12, 4000)).astype(np.uint8)
    with pytest.warns(UserWarning, match=r"uint8 samples: .* \(\(x - 128\) / 128\)"):
        features = LogMelStatistics().fit_transform(pcm8)
    np.testing.assert_array_equal(features, LogMelStatistics().fit_transform((pcm8.astype(np.float32) - 128) / 128))
    # Through a whole preset: the scores of the scaled clips.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from_pcm = make_preset("logmel-density").fit(pcm16[:8]).score_samples(pcm16[8:])
    np.testing.assert_array_equal(from_pcm, make_preset("logmel-density").fit(as_float[:8]).score_samples(as_float[8:]))
    # Wider integers are numbers, not audio (scikit-learn's checks pass them).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogMelStatistics().fit_transform(pcm16.astype(np.int32))
