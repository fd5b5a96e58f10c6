"""Tests of the triplet construction and loss (Kuroyanagi et al., Section 4.2.1)."""

import numpy as np
import pytest
import torch

from skasd.embedding._triplet import (
    PitchShifter,
    TripletLoss,
    draw_background_partners,
    draw_snr_db,
    make_positives,
)

SR = 16000


def _tone(frequency=440.0, seconds=1.0):
    t = torch.arange(int(SR * seconds), dtype=torch.float64) / SR
    return torch.sin(2 * torch.pi * frequency * t)[None]


def _dominant_frequency(waveform):
    """Frequency (Hz) of the largest Hann-windowed FFT bin: bins are SR / n = 1 Hz apart for 1 s."""
    n = waveform.shape[-1]
    spectrum = torch.fft.rfft(waveform * torch.hann_window(n, dtype=waveform.dtype)).abs()
    return float(spectrum.argmax()) * SR / n


# ----------------------------------------------------------------------------
# Positives
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [-5.0, 0.0, 7.3, 20.0])
def test_positive_snr_equals_alpha(alpha):
    generator = torch.Generator().manual_seed(1)
    anchors = torch.randn(3, 8000, generator=generator, dtype=torch.float64)
    backgrounds = 0.1 * torch.randn(3, 8000, generator=generator, dtype=torch.float64)
    positives = make_positives(anchors, backgrounds, alpha)
    added = positives - anchors
    snr = 10 * torch.log10(anchors.pow(2).sum(1) / added.pow(2).sum(1))
    np.testing.assert_allclose(snr.numpy(), alpha, atol=1e-4)
    # The added part is a scaled copy of the background (positive gain).
    cosine = torch.nn.functional.cosine_similarity(added, backgrounds, dim=1)
    np.testing.assert_allclose(cosine.numpy(), 1.0, atol=1e-9)


def test_positive_snr_per_clip_float32():
    anchors = torch.randn(4, 4000, generator=torch.Generator().manual_seed(2))
    backgrounds = torch.randn(4, 4000, generator=torch.Generator().manual_seed(3))
    alpha = draw_snr_db(4, torch.Generator().manual_seed(0))
    added = make_positives(anchors, backgrounds, alpha) - anchors
    snr = 10 * torch.log10(anchors.double().pow(2).sum(1) / added.double().pow(2).sum(1))
    np.testing.assert_allclose(snr.numpy(), alpha.numpy(), atol=1e-3)  # float32 rounding of the sum


def test_positive_silent_background_raises():
    anchors = torch.randn(2, 100)
    backgrounds = torch.randn(2, 100)
    backgrounds[1] = 0
    with pytest.raises(ValueError, match=r"backgrounds contain silent clips.*rows \[1\]"):
        make_positives(anchors, backgrounds, 5.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(backgrounds=torch.randn(2, 99)), "same shape"),
        (dict(snr_db=torch.zeros(3)), "snr_db must be a scalar or have shape"),
        (dict(snr_db=float("nan")), "snr_db contains NaN"),
        (dict(anchors=torch.full((2, 100), float("inf"))), "anchors contain NaN or infinite"),
        (dict(anchors=torch.ones(2, 100, dtype=torch.long)), "anchors must be a floating-point"),
    ],
)
def test_positive_bad_input(kwargs, message):
    arguments = dict(anchors=torch.randn(2, 100), backgrounds=torch.randn(2, 100), snr_db=0.0) | kwargs
    with pytest.raises(ValueError, match=message):
        make_positives(**arguments)


def test_draw_snr_range():
    snr = draw_snr_db(5000, np.random.default_rng(0))
    assert snr.min() >= -5 and snr.max() <= 20
    assert snr.min() < -4.9 and snr.max() > 19.9


# ----------------------------------------------------------------------------
# Background partners
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("generator", [np.random.default_rng(0), torch.Generator().manual_seed(0), 3])
def test_partners_are_of_another_machine_type(generator):
    machine = np.array(["fan"] * 50 + ["valve"] * 3 + ["pump"] * 20 + ["slider"])
    partners = draw_background_partners(machine, generator)
    assert partners.shape == machine.shape and partners.dtype == np.int64
    assert (machine[partners] != machine).all()
    # Every other-type clip can be drawn: the lone slider clip gets partners of all three other types.
    many = np.stack([draw_background_partners(machine, seed) for seed in range(60)])
    assert set(machine[many[:, -1]]) == {"fan", "valve", "pump"}
    # The valve clips draw among the 71 others roughly uniformly: all fan and pump clips show up.
    assert len(set(many[:, 50:53].ravel())) > 60


def test_partners_one_machine_type_raises():
    with pytest.raises(ValueError, match="positives need another machine type's clip as background.*'fan'"):
        draw_background_partners(["fan"] * 5, 0)


def test_partners_from_pool():
    pool = np.zeros((7, 100), dtype=np.float32)
    partners = draw_background_partners(["fan"] * 200, 0, pool=pool)
    assert partners.min() >= 0 and partners.max() < 7
    assert set(partners) == set(range(7))
    np.testing.assert_array_equal(partners, draw_background_partners(["fan"] * 200, 0, pool=7))
    with pytest.raises(ValueError, match="pool must hold at least one"):
        draw_background_partners(["fan"], 0, pool=np.zeros((0, 100)))


def test_partners_bad_generator():
    with pytest.raises(ValueError, match="generator must be"):
        draw_background_partners(["a", "b"], "seed")


# ----------------------------------------------------------------------------
# Negatives
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [-12, -9, -6, 6, 9, 12])
def test_negative_moves_the_pitch(beta):
    tone = _tone(440.0)
    shifted = PitchShifter(SR)(tone, beta)
    assert shifted.shape == tone.shape and shifted.dtype == tone.dtype
    ratio = _dominant_frequency(shifted[0]) / _dominant_frequency(tone[0])
    # 440 Hz lies on a bin of the 1-s FFT (1 Hz bins); the shifted peak is read at the nearest
    # bin, at most 0.5 Hz off, so the ratio is exact to within 0.5 / 440 (one bin at most: 1 / 440).
    assert abs(ratio - 2 ** (beta / 12)) <= 1 / 440


def test_fft_method_matches_torchaudio_on_a_tone():
    # +-12 semitones are the two shifts for which torchaudio's resampling is fast (gcd 16000, 8000).
    tone = _tone(440.0)
    for beta in (-12, 12):
        ours = PitchShifter(SR)(tone, beta)
        reference = PitchShifter(SR, method="torchaudio")(tone, beta)
        inner = slice(1000, -1000)
        error = (ours - reference)[:, inner].norm() / reference[:, inner].norm()
        assert error < 1e-2


def test_negatives_batched_groups_and_reproducible():
    anchors = torch.stack([_tone(f)[0].float() for f in (300.0, 440.0, 500.0, 620.0, 700.0)])
    shifter = PitchShifter(SR)
    state = torch.get_rng_state()
    negatives, beta = shifter.negatives(anchors, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    assert negatives.shape == anchors.shape and negatives.dtype == anchors.dtype
    assert set(beta.tolist()) <= set(shifter.semitones)
    again, beta_again = shifter.negatives(anchors, torch.Generator().manual_seed(5))
    assert torch.equal(beta, beta_again) and torch.equal(negatives, again)
    # Each row equals that clip shifted on its own by its own beta (grouping changes nothing).
    for row in range(len(anchors)):
        alone = shifter(anchors[row : row + 1], float(beta[row]))
        torch.testing.assert_close(negatives[row : row + 1], alone, atol=1e-5, rtol=0)


def test_draw_semitones_covers_all_values():
    shifter = PitchShifter(SR)
    beta = shifter.draw_semitones(2000, np.random.default_rng(0))
    assert set(beta.tolist()) == set(shifter.semitones)
    assert all(6 <= abs(value) <= 12 for value in shifter.semitones)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(semitones=()), "semitones must hold at least one"),
        (dict(semitones=(6, float("nan"))), "each of semitones must be a finite"),
        (dict(method="librosa"), "method must be"),
        (dict(n_fft=2), "n_fft must be"),
    ],
)
def test_pitch_shifter_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PitchShifter(SR, **kwargs)


def test_pitch_shifter_bad_input():
    shifter = PitchShifter(SR)
    with pytest.raises(ValueError, match="at least n_fft = 512 samples"):
        shifter(torch.randn(2, 100), 6)
    with pytest.raises(ValueError, match=r"n_steps must be a number or have shape \(batch,\)"):
        shifter(torch.randn(2, 1000), [6, 7, 8])
    with pytest.raises(ValueError, match="waveforms must have shape"):
        shifter(torch.randn(1000), 6)


# ----------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------


def _hand_loss(z_a, z_p, z_n, tau=0.2, gamma=0.5):
    def s(u, v):
        return np.sum(u * v, axis=1) / (tau * np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))

    return np.maximum(0.0, gamma + 1 - s(z_a, z_p) + s(z_a, z_n))


def test_triplet_loss_against_hand_computation():
    z_a = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, -2.0, 1.0]])
    z_p = np.array([[2.0, 0.1, 0.0], [0.0, 1.0, 1.0], [-1.0, 0.0, 3.0]])
    z_n = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 0.1], [0.5, -2.0, 1.1]])
    per_triplet = _hand_loss(z_a, z_p, z_n)
    assert per_triplet[0] == 0.0  # cos(a, p) ~ 1, cos(a, n) = 0: 1.5 - 4.99 + 0 < 0
    assert (per_triplet[1:] > 0).all()  # the hinge is active
    # Row 0 by hand: s(a, p) = 2 / (0.2 * sqrt(4.01)), s(a, n) = 0.
    assert _hand_loss(z_a[:1], z_n[:1], z_p[:1])[0] == pytest.approx(1.5 + 2 / (0.2 * np.sqrt(4.01)))
    tensors = [torch.tensor(z, requires_grad=True) for z in (z_a, z_p, z_n)]
    loss = TripletLoss()(*tensors)
    assert loss.item() == pytest.approx(per_triplet.mean(), rel=1e-12)
    loss.backward()
    for tensor in tensors:
        assert torch.isfinite(tensor.grad).all()
    assert tensors[0].grad[0].abs().max() == 0  # an inactive hinge contributes no gradient
    assert tensors[0].grad[1:].abs().max() > 0


@pytest.mark.parametrize("temperature, margin", [(0.2, 0.5), (1.0, 0.0), (0.05, 2.0)])
def test_triplet_loss_parameters(temperature, margin):
    generator = torch.Generator().manual_seed(0)
    z = [torch.randn(6, 4, generator=generator, dtype=torch.float64) for _ in range(3)]
    expected = _hand_loss(*(t.numpy() for t in z), tau=temperature, gamma=margin).mean()
    assert TripletLoss(temperature=temperature, margin=margin)(*z).item() == pytest.approx(expected, rel=1e-12)


def test_triplet_loss_zero_embedding_is_finite():
    z_a = torch.zeros(2, 3, requires_grad=True)
    loss = TripletLoss()(z_a, torch.randn(2, 3), torch.randn(2, 3))
    assert loss.item() == pytest.approx(1.5)
    loss.backward()
    assert torch.isfinite(z_a.grad).all()


@pytest.mark.parametrize(
    "shapes, message",
    [
        (((2, 3), (2, 3), (2, 4)), "must have the same shape"),
        (((2, 3), (3, 3), (2, 3)), "must have the same shape"),
        (((2, 3), (2, 3), (6,)), "z_negative must have shape"),
        (((0, 3), (0, 3), (0, 3)), "z_anchor must hold at least one"),
    ],
)
def test_triplet_loss_bad_shapes(shapes, message):
    with pytest.raises(ValueError, match=message):
        TripletLoss()(*(torch.randn(shape) for shape in shapes))


def test_triplet_loss_bad_parameters():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        TripletLoss(temperature=0.0)
    with pytest.raises(ValueError, match="margin must be a finite real"):
        TripletLoss(margin=float("inf"))
    with pytest.raises(ValueError, match="z_positive contain NaN"):
        TripletLoss()(torch.randn(2, 3), torch.full((2, 3), float("nan")), torch.randn(2, 3))
