"""Time-frequency features of waveforms, computed with torchaudio.

Every transformer here takes waveforms ``X`` of shape (n_clips, n_samples)
and is stateless: ``fit`` only validates the parameters and records
``n_features_in_`` (the clip length); ``transform`` works without ``fit``.
The computation runs in batches of ``batch_size`` clips on ``device``, on CPU
spread over ``n_jobs`` joblib threads, and returns float32 numpy arrays.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
import torchaudio
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from .utils._torch import resolve_device, transform_in_batches
from .utils._waveforms import pcm_as_float

__all__ = ["DFTSpectrum", "LogMelSpectrogram", "LogMelStatistics", "STFTSpectrogram"]

# The DCASE baselines floor spectra at sys.float_info.epsilon before the log.
_DEFAULT_EPS = float(np.finfo(np.float64).eps)


class _PowerSpectrogram(torch.nn.Module):
    """``|STFT| ** power`` of centred, zero-padded frames with a periodic Hann window.

    (batch, n_samples) -> (batch, n_fft // 2 + 1, 1 + n_samples // hop_length).
    """

    def __init__(self, n_fft, hop_length, win_length, power):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.power = power
        self.register_buffer("window", torch.hann_window(win_length))

    def forward(self, waveforms):
        spectrum = torchaudio.functional.spectrogram(
            waveforms,
            pad=0,
            window=self.window,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            power=None,
            normalized=False,
            center=True,
            # Zero padding, unlike reflection, works for clips shorter than n_fft // 2.
            pad_mode="constant",
        )
        # re² + im² is several times faster than abs() ** 2, which takes a square root first.
        power = spectrum.real.square().add_(spectrum.imag.square())
        return power if self.power == 2 else power.pow_(self.power / 2)


class _MelFilterbank(torch.nn.Module):
    """(batch, n_freqs, n_frames) -> (batch, n_mels, n_frames) through a (n_freqs, n_mels) bank."""

    def __init__(self, filterbank):
        super().__init__()
        self.register_buffer("weights", filterbank.T.contiguous())

    def forward(self, spectrogram):
        return torch.matmul(self.weights, spectrogram)


class _Decibels(torch.nn.Module):
    """``20 / power * log10(max(x, eps))``: decibels of a spectrum raised to ``power``."""

    def __init__(self, power, eps):
        super().__init__()
        self.scale = 20.0 / power
        self.eps = eps

    def forward(self, spectrum):
        return spectrum.clamp(min=self.eps).log10_().mul_(self.scale)


#: The statistics over time LogMelStatistics can compute.
_STATISTICS = ("mean", "std", "max")


class _StatisticsOverTime(torch.nn.Module):
    """(batch, n_bands, n_frames) -> (batch, len(statistics) * n_bands): each statistic of every band in turn."""

    def __init__(self, statistics):
        super().__init__()
        self.statistics = tuple(statistics)

    def forward(self, frames):
        std, mean = torch.std_mean(frames, dim=-1, correction=0)
        computed = {"mean": mean, "std": std}
        if "max" in self.statistics:
            computed["max"] = frames.amax(dim=-1)
        return torch.cat([computed[name] for name in self.statistics], dim=-1)


class _MagnitudeSpectrum(torch.nn.Module):
    """``|rfft(x)|`` of whole clips, keeping the first ``n_bins`` bins."""

    def __init__(self, n_bins):
        super().__init__()
        self.n_bins = n_bins

    def forward(self, waveforms):
        return torch.fft.rfft(waveforms, dim=-1)[..., : self.n_bins].abs()


class _WaveformTransformer(TransformerMixin, BaseEstimator):
    """Validation, batching, device and threads shared by the waveform transformers.

    Subclasses declare their own parameters and build, in ``_build_module``,
    the torch module mapping a batch of waveforms to a batch of features.
    """

    _parameter_constraints: dict = {
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def _check_params(self):
        """Check what ``_parameter_constraints`` cannot express; no-op by default."""

    def _build_module(self, n_samples):
        """Return the torch module computing the features of clips of ``n_samples``."""
        raise NotImplementedError

    def _inference_module(self, n_samples):
        """The torch module computing the features of clips of ``n_samples`` (for export)."""
        return self._build_module(n_samples).eval()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and record the clip length; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms.
        y : None
            Ignored, present for API consistency.

        Returns
        -------
        self : object
            This transformer.
        """
        self._check_params()
        validate_data(self, pcm_as_float(X), dtype=np.float32)
        return self

    def transform(self, X):
        """Compute the features of each clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms, finite. After ``fit``, ``n_samples`` must equal
            ``n_features_in_``.

        Returns
        -------
        features : ndarray of dtype float32
            One row per clip; the class docstring gives the shape.
        """
        # Stateless: transform may run without fit, so it validates too.
        check_is_fitted(self)
        self._validate_params()
        self._check_params()
        X = validate_data(self, pcm_as_float(X), dtype=np.float32, reset=False)
        device = resolve_device(self.device)
        module = self._build_module(X.shape[1]).to(device)
        return transform_in_batches(
            X,
            module,
            batch_size=self.batch_size,
            device=device,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=type(self).__name__,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class _LogMelTransformer(_WaveformTransformer):
    """Parameters and log-mel module shared by LogMelSpectrogram and LogMelStatistics."""

    _parameter_constraints: dict = {
        **_WaveformTransformer._parameter_constraints,
        "n_fft": [Interval(Integral, 1, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "win_length": [Interval(Integral, 1, None, closed="left"), None],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "f_min": [Interval(Real, 0, None, closed="left")],
        "f_max": [Interval(Real, 0, None, closed="neither"), None],
        "power": [Interval(Real, 0, None, closed="neither")],
        "mel_scale": [StrOptions({"slaney", "htk"})],
        "mel_norm": [StrOptions({"slaney"}), None],
        "eps": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        sample_rate=16000,
        n_fft=1024,
        hop_length=512,
        win_length=None,
        n_mels=128,
        f_min=0.0,
        f_max=None,
        power=2.0,
        mel_scale="slaney",
        mel_norm="slaney",
        eps=_DEFAULT_EPS,
        batch_size=4,
        device="auto",
        n_jobs=None,
        verbose=0,
    ):
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.f_min = f_min
        self.f_max = f_max
        self.power = power
        self.mel_scale = mel_scale
        self.mel_norm = mel_norm
        self.eps = eps
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self):
        if self.win_length is not None and self.win_length > self.n_fft:
            raise ValueError(
                f"win_length={self.win_length} must be at most n_fft={self.n_fft}."
            )
        nyquist = self.sample_rate / 2
        f_max = nyquist if self.f_max is None else self.f_max
        if f_max > nyquist:
            raise ValueError(
                f"f_max={self.f_max} must be at most the Nyquist frequency "
                f"sample_rate / 2 = {nyquist}."
            )
        if self.f_min >= f_max:
            raise ValueError(f"f_min={self.f_min} must be below f_max={f_max}.")

    def _log_mel_module(self):
        filterbank = torchaudio.functional.melscale_fbanks(
            n_freqs=self.n_fft // 2 + 1,
            f_min=self.f_min,
            f_max=self.sample_rate / 2 if self.f_max is None else self.f_max,
            n_mels=self.n_mels,
            sample_rate=self.sample_rate,
            norm=self.mel_norm,
            mel_scale=self.mel_scale,
        )
        win_length = self.n_fft if self.win_length is None else self.win_length
        return torch.nn.Sequential(
            _PowerSpectrogram(self.n_fft, self.hop_length, win_length, self.power),
            _MelFilterbank(filterbank),
            _Decibels(self.power, self.eps),
        )


_LOG_MEL_PARAMETERS_DOC = """\
    sample_rate : int, default=16000
        Sample rate of the waveforms in Hz.

    n_fft : int, default=1024
        FFT size of each frame; ``n_fft // 2 + 1`` frequency bins feed the
        mel filterbank.

    hop_length : int, default=512
        Samples between the starts of successive frames.

    win_length : int, default=None
        Length of the Hann window, at most ``n_fft`` (zero-padded to it on
        both sides). ``None`` means ``n_fft``.

    n_mels : int, default=128
        Number of mel bands.

    f_min : float, default=0.0
        Lowest frequency of the mel filterbank in Hz.

    f_max : float, default=None
        Highest frequency of the mel filterbank in Hz, at most
        ``sample_rate / 2``; ``None`` means ``sample_rate / 2``.

    power : float, default=2.0
        Exponent of the STFT magnitude before the filterbank: 2 for power,
        1 for magnitude. The log is scaled by ``20 / power`` so that the
        result is in decibels either way.

    mel_scale : {"slaney", "htk"}, default="slaney"
        Mel scale of the filterbank. ``"slaney"`` with ``mel_norm="slaney"``
        is librosa's default, which the DCASE baselines use.

    mel_norm : {"slaney"} or None, default="slaney"
        ``"slaney"`` divides each triangular filter by its width in Hz
        (constant energy per band); ``None`` keeps peak height 1.

    eps : float, default=2.220446049250313e-16
        Floor applied before the log (the DCASE baselines use
        ``sys.float_info.epsilon``); silence maps to ``20 / power *
        log10(eps)`` dB, about -156.5 dB with ``power=2``.
"""

_RUNTIME_PARAMETERS_DOC = """\
    batch_size : int, default=4
        Clips processed together. Small batches are fastest on CPU (they
        stay in cache); raise it on a GPU.

    device : str, default="auto"
        Where torch computes: ``"auto"`` (CUDA when available, else CPU),
        ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or ``"mps"``; a device
        this machine lacks is a ``ValueError``. The result is always a
        numpy array. Without a GPU, ``"auto"`` is the CPU and the features
        are those of ``"cpu"``; on a GPU they agree with the CPU's up to
        float32 rounding.

        .. versionchanged:: 0.1
           The default changed from ``"cpu"`` to ``"auto"``, as the torch
           embedders'.

    n_jobs : int, default=None
        On CPU, batches are spread over ``n_jobs`` joblib threads, each
        running torch single-threaded (torch's thread count is set to 1
        during ``transform`` and restored afterwards). ``None`` means 1
        unless in a :func:`joblib.parallel_config` context; ``-1`` means all
        CPUs. Ignored on other devices.

    verbose : int, default=0
        Show a progress bar over batches when > 0.
"""

_WAVEFORM_ATTRIBUTES_DOC = """\
    n_features_in_ : int
        Clip length in samples seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during :term:`fit`, defined only when `X`
        has string column names.
"""

_DCASE_BASELINE_REFERENCES_DOC = """\
    .. [1] N. Harada, D. Niizumi, Y. Ohishi, D. Takeuchi and M. Yasuda,
       "First-shot anomaly sound detection for machine condition monitoring:
       A domain generalization baseline," in Proc. EUSIPCO, 2023.

    .. [2] K. Dohi, K. Imoto, N. Harada, D. Niizumi, Y. Koizumi, T. Nishida,
       H. Purohit, R. Tanabe, T. Endo and Y. Kawaguchi, "Description and
       discussion on DCASE 2023 Challenge Task 2: First-shot unsupervised
       anomalous sound detection for machine condition monitoring," in Proc.
       DCASE Workshop, 2023.
"""

_WILKINGHOFF_REFERENCES_DOC = """\
    .. [1] K. Wilkinghoff, "Design choices for learning embeddings from
       auxiliary tasks for domain generalization in anomalous sound
       detection," in Proc. ICASSP, 2023.

    .. [2] K. Wilkinghoff, "Self-supervised learning for anomalous sound
       detection," in Proc. ICASSP, 2024.
"""


class LogMelSpectrogram(_LogMelTransformer):
    __doc__ = f"""Log-mel spectrogram of each clip, as in the DCASE Task 2 baselines.

    For a clip ``x``, frames of ``n_fft`` samples start every ``hop_length``
    samples; the clip is first zero-padded by ``n_fft // 2`` on both sides so
    that frame ``t`` is centred on sample ``t * hop_length`` (clips shorter
    than ``n_fft`` therefore work). With ``w`` a periodic Hann window of
    ``win_length`` samples and ``M`` the mel filterbank of shape
    (n_mels, n_fft // 2 + 1)::

        S[f, t] = |sum_n w[n] x[t * hop_length + n - n_fft // 2] exp(-2j pi f n / n_fft)| ** power
        out[m, t] = 20 / power * log10(max(sum_f M[m, f] S[f, t], eps))

    which is ``10 * log10`` of the mel power (decibels) for ``power=2``.

    Parameters
    ----------
{_LOG_MEL_PARAMETERS_DOC}
{_RUNTIME_PARAMETERS_DOC}
    Attributes
    ----------
{_WAVEFORM_ATTRIBUTES_DOC}
    See Also
    --------
    LogMelStatistics : Mean and standard deviation over time of these frames.
    STFTSpectrogram : Linear-frequency spectrogram.

    Notes
    -----
    The output has shape (n_clips, n_mels, n_frames) with ``n_frames = 1 +
    n_samples // hop_length``: 313 frames for a 10 s clip at 16 kHz with the
    defaults. Being 3-D, it feeds torch models rather than scikit-learn
    estimators, which take :class:`LogMelStatistics` instead.

    References
    ----------
{_DCASE_BASELINE_REFERENCES_DOC}
    Examples
    --------
    >>> import numpy as np
    >>> from skasd import LogMelSpectrogram
    >>> t = np.arange(16000) / 16000
    >>> X = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)])
    >>> S = LogMelSpectrogram().fit_transform(X)
    >>> S.shape, S.dtype
    ((2, 128, 32), dtype('float32'))
    """

    def _build_module(self, n_samples):
        return self._log_mel_module()


class LogMelStatistics(_LogMelTransformer):
    __doc__ = f"""Mean and standard deviation (or maximum) over time of each log-mel band.

    A fast embedding that learns nothing: the log-mel spectrogram of
    :class:`LogMelSpectrogram` (same parameters, same formula), summarised
    per band ``m`` over its ``n_frames`` frames::

        mean[m] = sum_t L[m, t] / n_frames
        std[m] = sqrt(sum_t (L[m, t] - mean[m]) ** 2 / n_frames)
        max[m] = max_t L[m, t]

    (the population standard deviation, 0 for a single frame). The output
    is each of ``statistics`` for every band in turn, by default
    ``[mean[0], ..., mean[n_mels - 1], std[0], ..., std[n_mels - 1]]`` of
    shape (n_clips, 2 * n_mels), ready for scikit-learn scorers.

    The mean and standard deviation describe lasting changes of the
    spectrum, the faults of most machines, and are robust to short
    background events. A fault made of short events (clicks, impacts, a
    valve's chatter) is diluted by a mean over 10 s and kept by the
    maximum: ``statistics=("mean", "std", "max")`` raises the real valve
    split's official score from 0.568 to 0.847 with local-density scoring,
    but lowers that of generated machines with lasting faults and background
    events from 0.849 to 0.694 and gains nothing on the anomalies of six
    other real machine types (docs/features.md, "Choosing the front end").

    Parameters
    ----------
{_LOG_MEL_PARAMETERS_DOC}
    statistics : tuple of {{"mean", "std", "max"}}, default=("mean", "std")
        The statistics over time, in the order of the output's blocks;
        each at most once.

{_RUNTIME_PARAMETERS_DOC}
    Attributes
    ----------
{_WAVEFORM_ATTRIBUTES_DOC}
    See Also
    --------
    LogMelSpectrogram : The frames these statistics summarise.

    References
    ----------
{_DCASE_BASELINE_REFERENCES_DOC}
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import NearestNeighbors
    >>> from skasd import LogMelStatistics
    >>> t = np.arange(16000) / 16000
    >>> reference = np.stack([np.sin(2 * np.pi * f * t) for f in (440, 2000)])
    >>> stats = LogMelStatistics(n_mels=64)
    >>> E = stats.fit_transform(reference)
    >>> E.shape
    (2, 128)
    >>> stats.get_feature_names_out()[[0, 64]].tolist()
    ['logmel_mean_0', 'logmel_std_0']
    >>> query = stats.transform(np.sin(2 * np.pi * 450 * t)[np.newaxis])
    >>> NearestNeighbors(n_neighbors=1).fit(E).kneighbors(query, return_distance=False)
    array([[0]])
    >>> LogMelStatistics(n_mels=64, statistics=("mean", "std", "max")).fit_transform(reference).shape
    (2, 192)
    """

    _parameter_constraints: dict = {
        **_LogMelTransformer._parameter_constraints,
        "statistics": [tuple, list],
    }

    def __init__(
        self,
        *,
        sample_rate=16000,
        n_fft=1024,
        hop_length=512,
        win_length=None,
        n_mels=128,
        f_min=0.0,
        f_max=None,
        power=2.0,
        mel_scale="slaney",
        mel_norm="slaney",
        eps=_DEFAULT_EPS,
        statistics=("mean", "std"),
        batch_size=4,
        device="auto",
        n_jobs=None,
        verbose=0,
    ):
        super().__init__(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length, n_mels=n_mels,
            f_min=f_min, f_max=f_max, power=power, mel_scale=mel_scale, mel_norm=mel_norm, eps=eps,
            batch_size=batch_size, device=device, n_jobs=n_jobs, verbose=verbose,
        )
        self.statistics = statistics

    def _check_params(self):
        super()._check_params()
        statistics = list(self.statistics)
        unknown = [name for name in statistics if name not in _STATISTICS]
        if not statistics or unknown or len(set(statistics)) != len(statistics):
            raise ValueError(
                f"statistics must name each of {', '.join(map(repr, _STATISTICS))} at most once, and at least "
                f"one; got {self.statistics!r}."
            )

    def _build_module(self, n_samples):
        return torch.nn.Sequential(self._log_mel_module(), _StatisticsOverTime(self.statistics))

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the input seen in ``fit``; the names do not
            depend on it.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``logmel_<statistic>_<band>`` for each of ``statistics`` in
            turn and each band: ``logmel_mean_0``, ...,
            ``logmel_mean_<n_mels - 1>``, then ``logmel_std_0``, ... .
        """
        _check_feature_names_in(self, input_features, generate_names=False)
        names = [f"logmel_{stat}_{band}" for stat in self.statistics for band in range(self.n_mels)]
        return np.asarray(names, dtype=object)


class STFTSpectrogram(_WaveformTransformer):
    __doc__ = f"""Magnitude short-time Fourier transform with the window given in milliseconds.

    The window is a periodic Hann window of ``n_fft = round(window_ms *
    sample_rate / 1000)`` samples, the hop ``hop = round(hop_ms *
    sample_rate / 1000)`` samples (half the window when ``hop_ms`` is None).
    As for :class:`LogMelSpectrogram`, the clip is zero-padded by
    ``n_fft // 2`` on both sides, so frame ``t`` is centred on sample
    ``t * hop`` and clips shorter than the window work::

        S[f, t] = |sum_n w[n] x[t * hop + n - n_fft // 2] exp(-2j pi f n / n_fft)| ** power

    and, with ``log=True``, ``20 / power * log10(max(S[f, t], eps))``
    (decibels). The default 64 ms window at 16 kHz is 1024 samples with a
    512-sample hop, the spectrogram branch of Wilkinghoff's embedders.

    Parameters
    ----------
    sample_rate : int, default=16000
        Sample rate of the waveforms in Hz.

    window_ms : float, default=64.0
        Window (and FFT) length in milliseconds; must give at least one
        sample.

    hop_ms : float, default=None
        Hop between frames in milliseconds; must give at least one sample.
        ``None`` means half the window, ``n_fft // 2`` samples.

    power : float, default=1.0
        Exponent of the magnitude: 1 for magnitude, 2 for power.

    log : bool, default=False
        Return decibels ``20 / power * log10(max(S, eps))`` instead of ``S``.

    eps : float, default=2.220446049250313e-16
        Floor before the log; unused when ``log=False``.

{_RUNTIME_PARAMETERS_DOC}
    Attributes
    ----------
{_WAVEFORM_ATTRIBUTES_DOC}
    See Also
    --------
    DFTSpectrum : Spectrum of the whole clip, the other branch.
    LogMelSpectrogram : Mel-frequency, log-compressed spectrogram.

    Notes
    -----
    The output has shape (n_clips, n_fft // 2 + 1, n_frames) with
    ``n_frames = 1 + n_samples // hop``: (513, 313) for a 10 s clip at
    16 kHz with the defaults.

    References
    ----------
{_WILKINGHOFF_REFERENCES_DOC}
    Examples
    --------
    >>> import numpy as np
    >>> from skasd import STFTSpectrogram
    >>> t = np.arange(16000) / 16000
    >>> X = np.sin(2 * np.pi * 1000 * t)[np.newaxis]
    >>> S = STFTSpectrogram(window_ms=32.0).fit_transform(X)
    >>> S.shape
    (1, 257, 63)
    >>> int(S[0, :, 10].argmax())  # 1000 Hz / (16000 Hz / 512) = bin 32
    32
    """

    _parameter_constraints: dict = {
        **_WaveformTransformer._parameter_constraints,
        "window_ms": [Interval(Real, 0, None, closed="neither")],
        "hop_ms": [Interval(Real, 0, None, closed="neither"), None],
        "power": [Interval(Real, 0, None, closed="neither")],
        "log": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        sample_rate=16000,
        window_ms=64.0,
        hop_ms=None,
        power=1.0,
        log=False,
        eps=_DEFAULT_EPS,
        batch_size=4,
        device="auto",
        n_jobs=None,
        verbose=0,
    ):
        self.sample_rate = sample_rate
        self.window_ms = window_ms
        self.hop_ms = hop_ms
        self.power = power
        self.log = log
        self.eps = eps
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _window_and_hop(self):
        """Window and hop lengths in samples."""
        n_fft = round(self.window_ms * self.sample_rate / 1000)
        hop = n_fft // 2 if self.hop_ms is None else round(self.hop_ms * self.sample_rate / 1000)
        return n_fft, hop

    def _check_params(self):
        n_fft, hop = self._window_and_hop()
        if n_fft < 1:
            raise ValueError(
                f"window_ms={self.window_ms} is shorter than one sample at "
                f"sample_rate={self.sample_rate}."
            )
        if hop < 1:
            culprit = "Half the window" if self.hop_ms is None else f"hop_ms={self.hop_ms}"
            raise ValueError(
                f"{culprit} is shorter than one sample at sample_rate={self.sample_rate}."
            )

    def _build_module(self, n_samples):
        n_fft, hop = self._window_and_hop()
        power_spectrogram = _PowerSpectrogram(n_fft, hop, n_fft, self.power)
        if not self.log:
            return power_spectrogram
        return torch.nn.Sequential(power_spectrogram, _Decibels(self.power, self.eps))


class DFTSpectrum(_WaveformTransformer):
    __doc__ = f"""Magnitude of the discrete Fourier transform of each whole clip.

    For a clip ``x`` of ``N`` samples::

        out[k] = |sum_n x[n] exp(-2j pi k n / N)|,  k = 0, ..., N // 2

    (``numpy.abs(numpy.fft.rfft(x))``, unnormalised, no window): the
    frequency resolution of the whole clip, as in the spectrum branch of
    Wilkinghoff's multi-branch embedders. With ``f_max``, only the bins
    whose frequency ``k * sample_rate / N`` is at most ``f_max`` are kept.

    Parameters
    ----------
    sample_rate : int, default=16000
        Sample rate of the waveforms in Hz; only used with ``f_max``.

    f_max : float, default=None
        Highest frequency kept in Hz, at most ``sample_rate / 2``. ``None``
        keeps all ``N // 2 + 1`` bins.

{_RUNTIME_PARAMETERS_DOC}
    Attributes
    ----------
{_WAVEFORM_ATTRIBUTES_DOC}
    See Also
    --------
    STFTSpectrogram : Short-time spectra, the other branch.

    Notes
    -----
    The output has shape (n_clips, N // 2 + 1), or (n_clips, 1 +
    floor(f_max * N / sample_rate)) with ``f_max``: 80001 columns for a
    10 s clip at 16 kHz.

    References
    ----------
{_WILKINGHOFF_REFERENCES_DOC}
    Examples
    --------
    >>> import numpy as np
    >>> from skasd import DFTSpectrum
    >>> t = np.arange(16000) / 16000
    >>> X = np.sin(2 * np.pi * 1000 * t)[np.newaxis]
    >>> spectrum = DFTSpectrum(f_max=4000).fit_transform(X)
    >>> spectrum.shape
    (1, 4001)
    >>> int(spectrum[0].argmax())  # 1 Hz per bin for a 1 s clip
    1000
    """

    _parameter_constraints: dict = {
        **_WaveformTransformer._parameter_constraints,
        "f_max": [Interval(Real, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        sample_rate=16000,
        f_max=None,
        batch_size=4,
        device="auto",
        n_jobs=None,
        verbose=0,
    ):
        self.sample_rate = sample_rate
        self.f_max = f_max
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self):
        if self.f_max is not None and self.f_max > self.sample_rate / 2:
            raise ValueError(
                f"f_max={self.f_max} must be at most the Nyquist frequency "
                f"sample_rate / 2 = {self.sample_rate / 2}."
            )

    def _n_bins(self, n_samples):
        n_bins = n_samples // 2 + 1
        if self.f_max is None:
            return n_bins
        return min(n_bins, math.floor(self.f_max * n_samples / self.sample_rate) + 1)

    def _build_module(self, n_samples):
        return _MagnitudeSpectrum(self._n_bins(n_samples))

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input column names; only their number matters. ``None`` uses
            the clip length seen in ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``dft_bin_0``, ``dft_bin_1``, ...: one per kept frequency bin.
        """
        input_features = _check_feature_names_in(self, input_features, generate_names=False)
        if input_features is None:
            check_is_fitted(self, "n_features_in_")
            n_samples = self.n_features_in_
        else:
            n_samples = len(input_features)
        names = [f"dft_bin_{k}" for k in range(self._n_bins(n_samples))]
        return np.asarray(names, dtype=object)
