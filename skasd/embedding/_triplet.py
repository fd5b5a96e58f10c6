"""Triplet learning for the baseline embedder of Kuroyanagi et al. (Section 4.2.1).

Each training clip ``x_a`` (the anchor, a normal clip of machine type ``i``)
gets two companions:

- a **positive** ``x_p``: the anchor plus a clip ``x_j`` of another machine
  type ``j != i`` as background noise at a signal-to-noise ratio ``alpha``
  drawn from [-5, 20] dB (eq. 8, :func:`make_positives`,
  :func:`draw_background_partners`, :func:`draw_snr_db`);
- a **negative** ``x_n``: the anchor pitch-shifted by ``beta`` semitones,
  ``|beta|`` in [6, 12] (eq. 9, :class:`PitchShifter`).

:class:`TripletLoss` then pulls the anchor's embedding towards the
positive's and pushes it away from the negative's (eqs. 10-11): the embedder
learns to ignore background noise and to notice operational changes. The
paper trains with ``L_mlt = L_trp + L_ss`` (eq. 12), mixup applied to the
subspace loss ``L_ss`` only (probability 0.5), never to the triplets.

Norms. The paper's ``||.||`` in eq. 8 is the Euclidean norm of the whole
clip. For an anchor and a background of equal length (the case here: both
are rows of one ``(batch, n_samples)`` tensor) the ratio of Euclidean norms
equals the ratio of RMS values, so the SNR is the same either way.

Pitch shifting. :func:`torchaudio.functional.pitch_shift` (the paper's
implementation) is a phase-vocoder time stretch followed by a windowed-sinc
resampling from ``int(sample_rate / rate)`` Hz to ``sample_rate`` Hz. For
most shifts in ``+-[6, 12]`` those two rates are coprime (e.g. 22627 and
16000 Hz for +6 semitones), so the resampling kernel has ``sample_rate``
phases: building and applying it takes seconds per clip on a CPU and over a
gigabyte of memory per shift value (see ``benchmarks/bench_pitch_shift.py``).
:class:`PitchShifter` keeps torchaudio's phase vocoder (same STFT
parameters) and replaces the resampling by a band-limited FFT resampling to
the original length, batched over all clips that share a shift value; that
is milliseconds per clip on a CPU and runs on the anchors' device, so fresh
negatives can be made for every batch and no per-epoch cache is needed.
``method="torchaudio"`` keeps torchaudio's own resampling (exact reference,
grouped by shift value, slow).
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

__all__ = [
    "SINGLE_MACHINE_TYPE",
    "PitchShifter",
    "TripletLoss",
    "check_snr_range",
    "draw_background_partners",
    "draw_other_machine",
    "draw_snr_db",
    "make_positives",
]

_NORM_EPS = 1e-8  # as torch.nn.functional.cosine_similarity
_DEFAULT_SEMITONES = (-12, -11, -10, -9, -8, -7, -6, 6, 7, 8, 9, 10, 11, 12)
SINGLE_MACHINE_TYPE = (
    "Triplet positives need a clip of another machine type as background, but the training clips "
    "hold a single machine type; give clips of at least two machine types."
)
_ONE_TYPE_MESSAGE = (
    "positives need another machine type's clip as background; give clips of "
    "at least two machine types, or an external pool as background (pool=...)."
)


# ----------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------


def _check_real(value, name, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}.")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}.")
    return float(value)


def _check_waveforms(waveforms, name):
    """``waveforms`` must be a finite, non-empty 2-D floating tensor."""
    if not isinstance(waveforms, torch.Tensor):
        raise ValueError(  # noqa: TRY004 (skasd reports bad input as ValueError)
            f"{name} must be a torch.Tensor of shape (batch, n_samples), got {type(waveforms).__name__}."
        )
    if not waveforms.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {waveforms.dtype}.")
    if waveforms.ndim != 2:
        raise ValueError(f"{name} must have shape (batch, n_samples), got {tuple(waveforms.shape)}.")
    if waveforms.shape[0] == 0 or waveforms.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one clip of at least one sample, got {tuple(waveforms.shape)}.")
    if not bool(torch.isfinite(waveforms).all()):
        raise ValueError(f"{name} contain NaN or infinite samples.")
    return waveforms


def _numpy_generator(generator):
    """A numpy Generator from None, an int seed, a numpy Generator or RandomState."""
    if generator is None or (isinstance(generator, Integral) and not isinstance(generator, bool)):
        return np.random.default_rng(generator)
    if isinstance(generator, (np.random.Generator, np.random.RandomState)):
        return generator
    raise ValueError(
        "generator must be None, an int seed, a numpy Generator or RandomState, "
        f"or a torch.Generator, got {type(generator).__name__}."
    )


def _uniform(n, generator):
    """``n`` float64 draws in [0, 1) from a torch or numpy generator (never the global ones)."""
    if isinstance(generator, torch.Generator):
        return torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    return _numpy_generator(generator).random(n)


# ----------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------


class TripletLoss(nn.Module):
    r"""Triplet loss with a temperature-scaled cosine similarity (eqs. 10-11).

    With :math:`s_\tau(z, z') = \langle z, z'\rangle / (\tau \|z\| \|z'\|)`,
    the loss of one triplet is

    .. math::

        \max\{0,\ \gamma + 1 - s_\tau(z_a, z_p) + s_\tau(z_a, z_n)\}

    and ``forward`` returns its mean over the batch. The constant
    ``gamma + 1`` is implemented literally as printed in the paper: since
    :math:`s_\tau` ranges over :math:`[-1/\tau, 1/\tau]` (``[-5, 5]`` for
    ``tau = 0.2``), the hinge is zero only once the positive is closer to the
    anchor than the negative by ``tau * (gamma + 1)`` in cosine (0.3 with the
    defaults).

    Parameters
    ----------
    temperature : float, default=0.2
        :math:`\tau`, > 0.
    margin : float, default=0.5
        :math:`\gamma`, a finite real number.

    Notes
    -----
    Embeddings are normalised as ``v / max(||v||, 1e-8)`` (as
    :func:`torch.nn.functional.cosine_similarity`): an all-zero embedding has
    similarity 0 and finite gradients. The loss is computed at least in
    float32.

    References
    ----------
    .. [1] I. Kuroyanagi, T. Hayashi, K. Takeda, T. Toda, "Disentangling
       operational and environmental sound variations: triplet learning and
       pseudo-labels for anomalous sound detection", Section 4.2.1.

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding._triplet import TripletLoss
    >>> loss = TripletLoss(temperature=0.2, margin=0.5)
    >>> z_a = torch.tensor([[1.0, 0.0]])
    >>> z_p = torch.tensor([[1.0, 0.0]])  # s = 1 / 0.2 = 5
    >>> z_n = torch.tensor([[0.0, 1.0]])  # s = 0
    >>> loss(z_a, z_p, z_n)  # max(0, 0.5 + 1 - 5 + 0)
    tensor(0.)
    >>> loss(z_a, z_n, z_p)  # positive and negative swapped: 0.5 + 1 - 0 + 5
    tensor(6.5000)
    """

    def __init__(self, *, temperature=0.2, margin=0.5):
        super().__init__()
        self.temperature = _check_real(temperature, "temperature", positive=True)
        self.margin = _check_real(margin, "margin")

    def similarity(self, z, z_other):
        r"""Row-wise :math:`s_\tau(z, z')` of eq. 10, shape ``(batch,)``."""
        z = nn.functional.normalize(z, dim=-1, eps=_NORM_EPS)
        z_other = nn.functional.normalize(z_other, dim=-1, eps=_NORM_EPS)
        return (z * z_other).sum(dim=-1) / self.temperature

    def forward(self, z_anchor, z_positive, z_negative):
        """Mean triplet loss over the batch.

        Parameters
        ----------
        z_anchor, z_positive, z_negative : torch.Tensor of shape (batch, embedding_dim)
            Embeddings of the anchors, positives and negatives; row ``k`` of
            each forms one triplet.

        Returns
        -------
        loss : torch.Tensor
            Scalar, >= 0.

        Raises
        ------
        ValueError
            If an argument is not a finite, non-empty 2-D floating tensor, or
            the three shapes differ.
        """
        names = ("z_anchor", "z_positive", "z_negative")
        tensors = [_check_waveforms(z, name) for z, name in zip((z_anchor, z_positive, z_negative), names)]
        shapes = {name: tuple(z.shape) for name, z in zip(names, tensors)}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"z_anchor, z_positive and z_negative must have the same shape, got {shapes}.")
        dtype = torch.promote_types(torch.float32, torch.promote_types(z_anchor.dtype, z_positive.dtype))
        dtype = torch.promote_types(dtype, z_negative.dtype)
        z_a, z_p, z_n = (z.to(dtype) for z in tensors)
        hinge = self.margin + 1.0 - self.similarity(z_a, z_p) + self.similarity(z_a, z_n)
        return torch.clamp(hinge, min=0.0).mean()

    def extra_repr(self):
        return f"temperature={self.temperature}, margin={self.margin}"


# ----------------------------------------------------------------------------
# Positives (eq. 8)
# ----------------------------------------------------------------------------


def make_positives(anchors, backgrounds, snr_db):
    r"""Add background clips to the anchors at a given SNR (eq. 8).

    .. math::

        x_p = x_a + 10^{-\alpha/20} \frac{\|x_a\|}{\|x_j\|} x_j

    with :math:`\|\cdot\|` the Euclidean norm of the whole clip (for clips of
    equal length the same ratio as of their RMS values), so that
    ``10 * log10(||x_a||^2 / ||x_p - x_a||^2) = alpha``.

    Parameters
    ----------
    anchors : torch.Tensor of shape (batch, n_samples)
        The anchor clips ``x_a``.
    backgrounds : torch.Tensor of shape (batch, n_samples)
        One background clip ``x_j`` per anchor (of another machine type, see
        :func:`draw_background_partners`), on the anchors' device.
    snr_db : float or torch.Tensor of shape () or (batch,)
        The SNR ``alpha`` in dB, one for all or one per anchor
        (:func:`draw_snr_db` draws them).

    Returns
    -------
    positives : torch.Tensor of shape (batch, n_samples)
        In the promoted dtype of ``anchors`` and ``backgrounds``. A silent
        anchor gets a silent background: its positive is the anchor itself.

    Raises
    ------
    ValueError
        If the clips are not finite, non-empty 2-D floating tensors of one
        shape, ``snr_db`` has the wrong shape or is not finite, or a
        background clip is silent (zero norm: it cannot be scaled to an SNR).

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding._triplet import make_positives
    >>> anchors = torch.tensor([[3.0, 4.0]])      # norm 5
    >>> backgrounds = torch.tensor([[0.0, 2.0]])  # norm 2
    >>> make_positives(anchors, backgrounds, 20.0)  # background scaled to norm 0.5
    tensor([[3.0000, 4.5000]])
    """
    _check_waveforms(anchors, "anchors")
    _check_waveforms(backgrounds, "backgrounds")
    if anchors.shape != backgrounds.shape:
        raise ValueError(
            f"anchors and backgrounds must have the same shape, got {tuple(anchors.shape)} "
            f"and {tuple(backgrounds.shape)}."
        )
    dtype = torch.promote_types(anchors.dtype, backgrounds.dtype)
    anchors, backgrounds = anchors.to(dtype), backgrounds.to(device=anchors.device, dtype=dtype)
    if isinstance(snr_db, torch.Tensor):
        snr = snr_db.to(device=anchors.device, dtype=dtype)
    elif isinstance(snr_db, Real) and not isinstance(snr_db, bool):
        snr = torch.tensor(float(snr_db), device=anchors.device, dtype=dtype)
    else:
        raise ValueError(f"snr_db must be a real number or a torch.Tensor, got {type(snr_db).__name__}.")
    if snr.ndim == 0:
        snr = snr.expand(anchors.shape[0])
    if snr.shape != (anchors.shape[0],):
        raise ValueError(f"snr_db must be a scalar or have shape (batch,) = ({anchors.shape[0]},), got {tuple(snr.shape)}.")
    if not bool(torch.isfinite(snr).all()):
        raise ValueError("snr_db contains NaN or infinite values.")
    background_norm = torch.linalg.vector_norm(backgrounds, dim=1)
    silent = background_norm == 0
    if bool(silent.any()):
        rows = torch.nonzero(silent).flatten()[:5].tolist()
        raise ValueError(
            f"backgrounds contain silent clips (zero norm, rows {rows}{'...' if int(silent.sum()) > 5 else ''}): "
            "they cannot be scaled to an SNR; draw other background clips."
        )
    anchor_norm = torch.linalg.vector_norm(anchors, dim=1)
    gain = torch.pow(10.0, -snr / 20.0) * anchor_norm / background_norm
    return anchors + gain[:, None] * backgrounds


def draw_snr_db(n_clips, generator=None, *, snr_range=(-5.0, 20.0)):
    """Draw ``n_clips`` SNRs uniformly from ``snr_range`` (dB), as the paper does.

    Parameters
    ----------
    n_clips : int
        How many to draw, >= 1.
    generator : torch.Generator, numpy Generator, int or None, default=None
        Source of randomness (the global generators are never used; None
        draws from fresh entropy).
    snr_range : (float, float), default=(-5.0, 20.0)
        Lowest and highest SNR in dB.

    Returns
    -------
    snr_db : torch.Tensor of shape (n_clips,), float32, on the CPU

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding._triplet import draw_snr_db
    >>> snr = draw_snr_db(1000, torch.Generator().manual_seed(0))
    >>> bool((snr >= -5).all() and (snr <= 20).all())
    True
    """
    if isinstance(n_clips, bool) or not isinstance(n_clips, Integral) or n_clips < 1:
        raise ValueError(f"n_clips must be an integer >= 1, got {n_clips!r}.")
    low, high = check_snr_range(snr_range)
    return torch.from_numpy(low + (high - low) * _uniform(int(n_clips), generator)).float()


def check_snr_range(snr_range, name="snr_range"):
    """``(low, high)`` in dB as floats, or a one-line error naming the parameter ``name``."""
    try:
        low, high = (float(value) for value in snr_range)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of real numbers (low, high), got {snr_range!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ValueError(f"{name} must be a finite pair with low <= high, got {snr_range!r}.")
    return low, high


def draw_background_partners(machine, generator=None, *, pool=None):
    """For each clip, the index of a background clip of another machine type.

    Parameters
    ----------
    machine : array-like of shape (n_clips,)
        Machine type of each clip (any hashable labels, e.g. strings).
    generator : torch.Generator, numpy Generator, int or None, default=None
        Source of randomness (the global generators are never used; None
        draws from fresh entropy).
    pool : array-like of shape (n_pool, n_samples) or int, default=None
        An external pool of background clips (or its number of clips). When
        given, partners are drawn uniformly from the pool instead and one
        machine type is enough.

    Returns
    -------
    partners : ndarray of shape (n_clips,), int64
        Without ``pool``: indices into the clips, ``partners[k]`` drawn
        uniformly among the clips whose machine type differs from
        ``machine[k]``. With ``pool``: indices into the pool.

    Raises
    ------
    ValueError
        If ``machine`` is empty or not 1-D, if all clips are of one machine
        type and no pool is given, or the pool is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.embedding._triplet import draw_background_partners
    >>> machine = np.array(["fan", "fan", "valve", "pump"])
    >>> partners = draw_background_partners(machine, np.random.default_rng(0))
    >>> bool((machine[partners] != machine).all())
    True
    >>> draw_background_partners(["fan", "fan"], 0)
    Traceback (most recent call last):
    ...
    ValueError: positives need another machine type's clip as background; ...
    """
    machine = np.asarray(machine)
    if machine.ndim != 1 or machine.shape[0] == 0:
        raise ValueError(f"machine must be a non-empty 1-D array of machine types, got shape {machine.shape}.")
    n_clips = machine.shape[0]
    if pool is not None:
        n_pool = int(pool) if isinstance(pool, Integral) and not isinstance(pool, bool) else len(pool)
        if n_pool < 1:
            raise ValueError("pool must hold at least one background clip, got an empty pool.")
        return np.minimum((_uniform(n_clips, generator) * n_pool).astype(np.int64), n_pool - 1)
    _, codes, counts = np.unique(machine, return_inverse=True, return_counts=True)
    if len(counts) < 2:
        raise ValueError(f"{_ONE_TYPE_MESSAGE} All {n_clips} clips are of machine type {str(machine[0])!r}.")
    codes = torch.from_numpy(codes.astype(np.int64).ravel())
    return draw_other_machine(codes, codes, torch.from_numpy(_uniform(n_clips, generator))).numpy()


def draw_other_machine(anchor_machine, pool_machine, uniform):
    """For each anchor, the index of a pool clip of another machine type.

    Vectorised: the pool is sorted by machine type once, and a uniform draw
    over the clips of the *other* types skips the anchor type's block.

    Parameters
    ----------
    anchor_machine : torch.Tensor of shape (batch,), integer
        Machine-type code of each anchor.
    pool_machine : torch.Tensor of shape (n_pool,), integer
        Machine-type code of each pool clip.
    uniform : torch.Tensor of shape (batch,)
        Uniform draws in [0, 1), one per anchor.

    Returns
    -------
    index : torch.Tensor of shape (batch,), int64
        Rows of the pool.

    Raises
    ------
    ValueError
        If an anchor's machine type is the only one in the pool.
    """
    order = torch.argsort(pool_machine, stable=True)
    sorted_machine = pool_machine[order]
    start = torch.searchsorted(sorted_machine, anchor_machine, side="left")
    end = torch.searchsorted(sorted_machine, anchor_machine, side="right")
    n_other = len(pool_machine) - (end - start)
    if bool((n_other == 0).any()):
        raise ValueError(SINGLE_MACHINE_TYPE)
    rank = torch.minimum((uniform * n_other).long(), n_other - 1)
    # Ranks at or past the anchor type's block jump over it.
    position = torch.where(rank < start, rank, rank + (end - start))
    return order[position]


# ----------------------------------------------------------------------------
# Negatives (eq. 9)
# ----------------------------------------------------------------------------


def _fft_resample(waveforms, length):
    """Band-limited resampling of each row to ``length`` samples through the FFT.

    The rows are extended by their mirror image first, so that the periodic
    signal the FFT sees has no jump at the clip's ends (no ringing from the
    edges); the spectrum is then cut (anti-aliasing, a brick-wall low-pass at
    the new Nyquist frequency) or zero-padded and transformed back.
    """
    n = waveforms.shape[-1]
    extended = torch.cat([waveforms, waveforms.flip(-1)], dim=-1)
    spectrum = torch.fft.rfft(extended)
    n_bins = length + 1  # rfft bins of the extended output, 2 * length samples
    if spectrum.shape[-1] >= n_bins:
        spectrum = spectrum[..., :n_bins]
    else:
        spectrum = nn.functional.pad(spectrum, (0, n_bins - spectrum.shape[-1]))
    return torch.fft.irfft(spectrum, n=2 * length)[..., :length] * (length / n)


class PitchShifter(nn.Module):
    """Batched pitch shifting for triplet negatives (eq. 9).

    The shift follows :func:`torchaudio.functional.pitch_shift`: a phase
    vocoder stretches each clip in time by ``2 ** (n_steps / 12)`` (same STFT:
    ``n_fft``, hop ``n_fft // 4``, Hann window), then the stretched clip is
    resampled back to its original length, which raises the pitch by
    ``n_steps`` semitones (lowers it for negative ``n_steps``).

    Clips sharing a shift value are processed as one batch, on their own
    device; with ``method="fft"`` (default) the resampling is an FFT
    band-limited resampling of the mirrored clip (cost ``O(n log n)``, no
    resampling kernel), with ``method="torchaudio"`` it is torchaudio's
    windowed-sinc resampling (the paper's implementation, but seconds per
    clip on a CPU for shift values whose resampling rates are coprime with
    ``sample_rate``, see the module docstring). The two agree on pure tones
    (same frequency, amplitude and waveform up to a sub-sample time offset);
    on broadband sound they differ near the Nyquist frequency, where the FFT
    method's ideal low-pass keeps what torchaudio's windowed sinc (rolloff
    0.99) attenuates.

    Parameters
    ----------
    sample_rate : int, default=16000
        Sample rate of the clips. The ``"fft"`` method does not depend on it;
        the ``"torchaudio"`` method passes it on.
    semitones : sequence of float, default=(-12, ..., -6, 6, ..., 12)
        The shift values ``beta`` :meth:`negatives` draws from, uniformly.
        The default is the paper's ``|beta|`` in [6, 12] in whole semitones
        (14 values).
    n_fft : int, default=512
        FFT size of the phase vocoder (torchaudio's default).
    method : {"fft", "torchaudio"}, default="fft"
        How the stretched clip is resampled.

    Attributes
    ----------
    semitones : tuple of float
        The shift values.

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding._triplet import PitchShifter
    >>> t = torch.arange(16000) / 16000
    >>> tone = torch.sin(2 * torch.pi * 440 * t)[None]
    >>> shifter = PitchShifter(16000)
    >>> octave_up = shifter(tone, 12)
    >>> int(torch.fft.rfft(octave_up[0]).abs().argmax())  # Hz (1 Hz bins)
    880
    >>> negatives, beta = shifter.negatives(tone.repeat(4, 1), torch.Generator().manual_seed(0))
    >>> negatives.shape, beta.shape
    (torch.Size([4, 16000]), torch.Size([4]))
    """

    def __init__(self, sample_rate=16000, *, semitones=_DEFAULT_SEMITONES, n_fft=512, method="fft"):
        super().__init__()
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, Integral) or sample_rate < 1:
            raise ValueError(f"sample_rate must be an integer >= 1, got {sample_rate!r}.")
        if isinstance(n_fft, bool) or not isinstance(n_fft, Integral) or n_fft < 4:
            raise ValueError(f"n_fft must be an integer >= 4, got {n_fft!r}.")
        if method not in ("fft", "torchaudio"):
            raise ValueError(f"method must be 'fft' or 'torchaudio', got {method!r}.")
        try:
            values = tuple(semitones)
        except TypeError:
            raise ValueError(f"semitones must be a sequence of real numbers, got {semitones!r}.") from None
        if not values:
            raise ValueError("semitones must hold at least one shift value, got an empty sequence.")
        self.semitones = tuple(_check_real(value, "each of semitones") for value in values)
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.hop_length = self.n_fft // 4
        self.method = method
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def extra_repr(self):
        return f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, method={self.method!r}, semitones={self.semitones}"

    def _shift_group(self, waveforms, n_steps):
        if n_steps == 0:
            return waveforms.clone()
        if self.method == "torchaudio":
            import torchaudio

            return torchaudio.functional.pitch_shift(waveforms, self.sample_rate, n_steps, n_fft=self.n_fft)
        n_samples = waveforms.shape[-1]
        rate = 2.0 ** (-float(n_steps) / 12.0)
        window = self.window.to(device=waveforms.device, dtype=waveforms.dtype)
        spec = torch.stft(
            waveforms, self.n_fft, hop_length=self.hop_length, window=window,
            center=True, pad_mode="reflect", return_complex=True,
        )  # fmt: skip
        import torchaudio

        phase_advance = torch.linspace(
            0, math.pi * self.hop_length, spec.shape[-2], device=spec.device, dtype=waveforms.dtype
        )[..., None]
        stretched_spec = torchaudio.functional.phase_vocoder(spec, rate, phase_advance)
        stretched = torch.istft(
            stretched_spec, self.n_fft, hop_length=self.hop_length, window=window,
            length=int(round(n_samples / rate)),
        )  # fmt: skip
        return _fft_resample(stretched, n_samples)

    def forward(self, waveforms, n_steps):
        """Pitch-shift each clip by its number of semitones.

        Parameters
        ----------
        waveforms : torch.Tensor of shape (batch, n_samples)
            Clips, on any device, ``n_samples >= n_fft``.
        n_steps : float or sequence or torch.Tensor of shape (batch,)
            Semitones, one for all clips or one per clip (any real values,
            not only :attr:`semitones`).

        Returns
        -------
        shifted : torch.Tensor of shape (batch, n_samples)
            Same dtype (computed at least in float32) and device.

        Raises
        ------
        ValueError
            If ``waveforms`` is not a finite, non-empty 2-D floating tensor,
            is shorter than ``n_fft``, or ``n_steps`` has the wrong shape or
            non-finite values.
        """
        _check_waveforms(waveforms, "waveforms")
        if waveforms.shape[1] < self.n_fft:
            raise ValueError(
                f"waveforms must have at least n_fft = {self.n_fft} samples per clip, got {waveforms.shape[1]}."
            )
        steps = torch.as_tensor(n_steps.detach().cpu() if isinstance(n_steps, torch.Tensor) else n_steps,
                                dtype=torch.float64)  # fmt: skip
        if steps.ndim == 0:
            steps = steps.expand(waveforms.shape[0])
        if steps.shape != (waveforms.shape[0],):
            raise ValueError(
                f"n_steps must be a number or have shape (batch,) = ({waveforms.shape[0]},), got {tuple(steps.shape)}."
            )
        if not bool(torch.isfinite(steps).all()):
            raise ValueError("n_steps contains NaN or infinite values.")
        dtype = waveforms.dtype
        compute = waveforms.to(torch.promote_types(dtype, torch.float32))
        shifted = torch.empty_like(compute)
        values, inverse = torch.unique(steps, return_inverse=True)
        for group, value in enumerate(values.tolist()):
            rows = torch.nonzero(inverse == group).flatten().to(waveforms.device)
            shifted[rows] = self._shift_group(compute[rows], value)
        return shifted.to(dtype)

    def draw_semitones(self, n_clips, generator=None):
        """Draw ``n_clips`` shift values uniformly from :attr:`semitones` (float64 CPU tensor)."""
        if isinstance(n_clips, bool) or not isinstance(n_clips, Integral) or n_clips < 1:
            raise ValueError(f"n_clips must be an integer >= 1, got {n_clips!r}.")
        choice = np.minimum((_uniform(int(n_clips), generator) * len(self.semitones)).astype(np.int64),
                            len(self.semitones) - 1)  # fmt: skip
        return torch.tensor(self.semitones, dtype=torch.float64)[torch.from_numpy(choice)]

    def negatives(self, anchors, generator=None):
        """Negatives for a batch of anchors: each pitch-shifted by a random ``beta``.

        Parameters
        ----------
        anchors : torch.Tensor of shape (batch, n_samples)
            Anchor clips, on the training device (the shift runs there).
        generator : torch.Generator, numpy Generator, int or None, default=None
            Draws ``beta`` uniformly from :attr:`semitones` for each clip (the
            global generators are never used; None draws from fresh entropy).

        Returns
        -------
        negatives : torch.Tensor of shape (batch, n_samples)
            Same dtype and device as ``anchors``.
        beta : torch.Tensor of shape (batch,)
            The shift of each clip in semitones, float64 on the anchors' device.
        """
        _check_waveforms(anchors, "anchors")
        beta = self.draw_semitones(anchors.shape[0], generator)
        return self(anchors, beta), beta.to(anchors.device)
