"""Spectrogram ViT: masks, UFO loss, EMA teacher, pre-training, checkpoints, fine-tuning, bad input."""

import re
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from skasd import KNNScorer, WardDAPEmbedder
from skasd.embedding._vit import MaskedTeacherStudentPretrainer, ViTArcFaceEmbedder
from skasd.embedding._vit_modules import SpectrogramViT, sincos_positions
from skasd.embedding._vit_training import (
    EMATeacher,
    WarmupCosine,
    ema_update,
    inverse_block_mask,
    n_kept_patches,
    teacher_targets,
    ufo_loss,
)
from skasd.utils._torch import torch_threads

SAMPLE_RATE = 16000
N_SAMPLES = 8000  # 0.5 s: 51 frames, 6 time patches of 8 frames
ARCHITECTURE = {"n_mels": 32, "patch_size": (8, 8), "embed_dim": 16, "depth": 1, "n_heads": 2}
TINY_DAP = dict(
    **ARCHITECTURE, decoder_depth=1, mask_ratio=0.5, block_size=2, n_masks=2, ema_decay=0.99, ema_end_decay=None,
    lr=3e-3, warmup_steps=1, batch_size=8, max_epochs=3, device="cpu", verbose=0,
)
TINY_FT = dict(**ARCHITECTURE, lr=3e-3, warmup_steps=2, batch_size=8, max_epochs=3, device="cpu", verbose=0)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models train fastest on one thread, and far faster than on two contended ones."""
    with torch_threads(1):
        yield


def _tones(frequencies, rng, n_samples=N_SAMPLES):
    """One clip per frequency: a tone with a random phase and level in white noise."""
    t = np.arange(n_samples) / SAMPLE_RATE
    phases = rng.uniform(0, 2 * np.pi, len(frequencies))
    levels = rng.uniform(0.5, 1.5, len(frequencies))
    clips = levels[:, None] * np.sin(2 * np.pi * np.asarray(frequencies)[:, None] * t + phases[:, None])
    return (clips + 0.3 * rng.normal(size=clips.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    return _tones(rng.uniform(200, 4000, 16), rng)


@pytest.fixture(scope="module")
def pretrained(clips):
    return MaskedTeacherStudentPretrainer(**TINY_DAP, random_state=0).fit(clips)


# --- the ViT -----------------------------------------------------------------


def test_vit_shapes_positions_and_state_dict():
    vit = SpectrogramViT()  # the defaults: 128 mels, 16 x 16 patches
    assert vit.patch_grid(10 * SAMPLE_RATE) == (8, 62)
    assert vit.min_samples() == 15 * 160
    tiny = SpectrogramViT(**ARCHITECTURE)
    out = tiny(torch.randn(3, N_SAMPLES))
    assert out.shape == (3, 1 + 4 * 6, 16)
    assert tiny.embed(torch.randn(2, N_SAMPLES)).shape == (2, 16)
    # The front end's window and filterbank are rebuilt from the parameters, not saved.
    keys = set(tiny.state_dict())
    assert {"input_mean", "input_std", "cls_token", "patch_embed.weight"} <= keys
    assert not any(key.startswith("front_end") for key in keys)
    positions = sincos_positions(2, 3, 8).numpy()
    # Row f * n_time + t: first half codes f (sin, cos), second half codes t.
    omega = 1 / 10000 ** (np.arange(2) / 2)
    f, t = 1, 2
    expected = np.concatenate([np.sin(f * omega), np.cos(f * omega), np.sin(t * omega), np.cos(t * omega)])
    np.testing.assert_allclose(positions[f * 3 + t], expected, rtol=1e-6)


# --- masks -------------------------------------------------------------------


@pytest.mark.parametrize("grid, mask_ratio", [((8, 62), 0.8), ((4, 6), 0.5), ((2, 3), 0.7), ((5, 5), 0.1)])
def test_inverse_block_mask_keeps_the_exact_requested_count(grid, mask_ratio):
    n_patches = grid[0] * grid[1]
    n_keep = n_kept_patches(mask_ratio, n_patches)
    assert n_keep == round((1 - mask_ratio) * n_patches)
    torch.manual_seed(0)
    keep = inverse_block_mask(grid, n_keep, 20, block_size=5)
    assert keep.shape == (20, n_patches) and keep.dtype == torch.bool
    assert (keep.sum(dim=1) == n_keep).all()
    masked_fraction = 1 - keep.float().mean().item()
    assert masked_fraction == pytest.approx(1 - n_keep / n_patches)
    assert abs(masked_fraction - mask_ratio) <= 0.5 / n_patches + 1e-6


def test_kept_patches_form_blocks():
    grid, n_keep = (8, 62), n_kept_patches(0.8, 8 * 62)
    torch.manual_seed(1)
    keep = inverse_block_mask(grid, n_keep, 50, block_size=5).view(50, *grid)
    padded = torch.nn.functional.pad(keep.float(), (1, 1, 1, 1))
    neighbours = padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
    kept_neighbours = neighbours[keep]
    # Blocks: nearly every kept patch touches another, with three kept neighbours on average.
    # Random masking at this ratio: 1 - 0.8 ** 4 = 59 % would, with 0.8 on average.
    assert (kept_neighbours > 0).float().mean() > 0.97
    assert kept_neighbours.mean() > 2.5
    # Different masks for different copies.
    assert not torch.equal(keep[0], keep[1])


# --- targets and UFO loss ----------------------------------------------------


def _instance_norm(h, eps=1e-5):
    mean = h.mean(axis=1, keepdims=True)
    var = h.var(axis=1, keepdims=True)
    return (h - mean) / np.sqrt(var + eps)


def _layer_norm(h, eps=1e-5):
    mean = h.mean(axis=2, keepdims=True)
    var = h.var(axis=2, keepdims=True)
    return (h - mean) / np.sqrt(var + eps)


def test_teacher_targets_and_ufo_loss_match_hand_computation():
    rng = np.random.default_rng(2)
    layers = [rng.normal(loc=i, scale=1 + i, size=(3, 10, 8)) for i in range(3)]
    frame, utterance = teacher_targets([torch.from_numpy(h) for h in layers])
    expected_frame = np.mean([_instance_norm(h) for h in layers], axis=0)
    expected_utterance = np.mean([_layer_norm(h).mean(axis=1) for h in layers], axis=0)
    np.testing.assert_allclose(frame.numpy(), expected_frame, atol=1e-5)
    np.testing.assert_allclose(utterance.numpy(), expected_utterance, atol=1e-5)

    x_o, y_o = rng.normal(size=(2, 4, 6, 8))
    c, y = rng.normal(size=(2, 4, 8))
    loss, frame_loss, utterance_loss = ufo_loss(*(torch.from_numpy(a) for a in (x_o, y_o, c, y)))
    # ||X_o - Y_o||^2 averaged over the masked patches, per dimension; ||c - y||^2 likewise over clips.
    l_f = sum(np.sum((x_o[b, p] - y_o[b, p]) ** 2) for b in range(4) for p in range(6)) / (4 * 6 * 8)
    l_u = sum(np.sum((c[b] - y[b]) ** 2) for b in range(4)) / (4 * 8)
    assert frame_loss.item() == pytest.approx(l_f, rel=1e-12)
    assert utterance_loss.item() == pytest.approx(l_u, rel=1e-12)
    assert loss.item() == pytest.approx(l_f + l_u, rel=1e-12)


# --- EMA and schedules -------------------------------------------------------


def test_ema_update_matches_hand_computation():
    torch.manual_seed(3)
    teacher, student = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = {k: v.detach().numpy().copy() for k, v in teacher.state_dict().items()}
    ema_update(teacher, student, 0.9)
    for key, value in teacher.state_dict().items():
        expected = 0.9 * before[key] + 0.1 * student.state_dict()[key].numpy()
        np.testing.assert_allclose(value.numpy(), expected, rtol=1e-6)
    callback = EMATeacher(0.99, 0.999, n_steps=11)
    assert [callback.decay_at(s) for s in (0, 5, 10, 50)] == pytest.approx([0.99, 0.9945, 0.999, 0.999])
    assert EMATeacher(0.9).decay_at(100) == 0.9
    schedule = WarmupCosine(2, 6)
    assert [schedule(s) for s in range(7)] == pytest.approx([0.5, 1, 1, 0.8535534, 0.5, 0.1464466, 0])


def test_teacher_follows_the_student_by_ema_during_training(clips):
    # m = 0 copies the student after each step; m = 1 keeps the teacher at the start.
    copied = MaskedTeacherStudentPretrainer(**{**TINY_DAP, "ema_decay": 0.0, "max_epochs": 1}, random_state=0)
    module = copied.fit(clips).net_.module_
    for t, s in zip(module.teacher.parameters(), module.student.parameters(), strict=True):
        assert torch.equal(t, s)
    frozen = MaskedTeacherStudentPretrainer(**{**TINY_DAP, "ema_decay": 1.0, "max_epochs": 1}, random_state=0)
    module = frozen.fit(clips).net_.module_
    assert not torch.equal(module.teacher.cls_token, module.student.cls_token)
    ramp = MaskedTeacherStudentPretrainer(**{**TINY_DAP, "ema_end_decay": 0.999}, random_state=0).fit(clips)
    decays = [d for epoch in ramp.net_.history[:, "batches", :, "ema_decay"] for d in epoch]
    assert decays == pytest.approx(np.linspace(0.99, 0.999, 6))


# --- pre-training ------------------------------------------------------------


def test_pretraining_lowers_the_loss_and_embeds(clips):
    dap = MaskedTeacherStudentPretrainer(**{**TINY_DAP, "max_epochs": 8}, random_state=0).fit(clips)
    losses = dap.net_.history[:, "train_loss"]
    assert losses[-1] < 0.6 * losses[0], losses
    frame, utterance = dap.net_.history[:, "frame_loss"], dap.net_.history[:, "utterance_loss"]
    assert frame == pytest.approx([np.mean(e) for e in dap.net_.history[:, "batches", :, "frame_loss"]])
    assert frame[-1] < frame[0] and utterance[-1] < utterance[0]
    assert np.add(frame, utterance) == pytest.approx(losses)
    assert dap.patch_grid_ == (4, 6) and dap.n_patches_ == 24 and dap.n_kept_patches_ == 12
    out = dap.transform(clips)
    assert out.shape == (16, 16) and out.dtype == np.float32 and np.isfinite(out).all()
    # Eq. 8: the mean of the student's final patch outputs.
    student = dap.net_.module_.student.eval()
    with torch.no_grad():
        expected = student(torch.from_numpy(clips))[:, 1:].mean(1).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert list(dap.get_feature_names_out()[:2]) == [
        "maskedteacherstudentpretrainer0",
        "maskedteacherstudentpretrainer1",
    ]


def test_same_random_state_same_embeddings_and_global_rng_untouched(clips, pretrained):
    state = torch.random.get_rng_state()
    again = MaskedTeacherStudentPretrainer(**TINY_DAP, random_state=0).fit(clips)
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(again.transform(clips), pretrained.transform(clips))
    other = MaskedTeacherStudentPretrainer(**TINY_DAP, random_state=1).fit(clips)
    assert not np.allclose(other.transform(clips), pretrained.transform(clips))


def test_checkpoint_round_trip_reproduces_the_saved_weights(tmp_path, clips, pretrained):
    path = pretrained.save_checkpoint(tmp_path / "dap.pt")
    saved = torch.load(path, weights_only=True)
    for key, value in pretrained.net_.module_.student.state_dict().items():
        assert torch.equal(saved[key], value.cpu())
    # A learning rate of 1e-12 leaves the loaded weights as they were: student and teacher start from them,
    # and the input statistics come from the file, not from the (louder) clips.
    resumed = MaskedTeacherStudentPretrainer(**{**TINY_DAP, "lr": 1e-12, "max_epochs": 1}, weights=str(path))
    resumed.fit(3 * clips)
    module = resumed.net_.module_
    for key, value in saved.items():
        torch.testing.assert_close(module.student.state_dict()[key], value, atol=1e-8, rtol=0)
        torch.testing.assert_close(module.teacher.state_dict()[key], value, atol=1e-6, rtol=0)  # m t + (1 - m) t
    np.testing.assert_allclose(resumed.transform(clips), pretrained.transform(clips), atol=1e-5)

    # Fine-tuning starts from the same weights: from the file or from the fitted pre-trainer.
    frozen = dict(TINY_FT, lr=1e-12, max_epochs=1, pooling="mean", mixup_probability=0.0)
    y = ["a", "b"] * 8
    for weights in (path, pretrained):
        tuned = ViTArcFaceEmbedder(**frozen, weights=weights, random_state=0).fit(clips, y)
        np.testing.assert_allclose(tuned.transform(clips), pretrained.transform(clips), atol=1e-5)
        assert not hasattr(tuned, "pretrainer_")
    # The fitted pre-trainer is copied, not changed.
    np.testing.assert_array_equal(pretrained.transform(clips), MaskedTeacherStudentPretrainer(
        **TINY_DAP, random_state=0).fit(clips).transform(clips))


def test_unfitted_pretrainer_as_weights_is_fitted_first(clips, pretrained):
    unfitted = MaskedTeacherStudentPretrainer(**TINY_DAP, random_state=0)
    frozen = dict(TINY_FT, lr=1e-12, max_epochs=1, pooling="mean", mixup_probability=0.0)
    tuned = ViTArcFaceEmbedder(**frozen, weights=unfitted, random_state=0).fit(clips, ["a", "b"] * 8)
    assert not hasattr(unfitted, "net_")  # a clone was fitted
    np.testing.assert_array_equal(tuned.pretrainer_.transform(clips), pretrained.transform(clips))
    np.testing.assert_allclose(tuned.transform(clips), pretrained.transform(clips), atol=1e-5)


def renamed(old):
    """The FutureWarning of a former name of ``weights``."""
    return f"`{old}` was renamed `weights` in version 0.1 and will be removed in 0.2."


def test_former_names_checkpoint_and_encoder_warn_and_are_used(tmp_path, clips, pretrained):
    path = pretrained.save_checkpoint(tmp_path / "dap.pt")
    dap = dict(TINY_DAP, max_epochs=1, random_state=0)
    fine_tuning = dict(TINY_FT, max_epochs=1, random_state=0)
    y = ["a", "b"] * 8
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the new name does not warn
        expected_dap = MaskedTeacherStudentPretrainer(**dap, weights=path).fit(clips).transform(clips)
        expected_tuned = {
            kind: ViTArcFaceEmbedder(**fine_tuning, weights=weights).fit(clips, y).transform(clips)
            for kind, weights in (("path", path), ("estimator", pretrained))
        }
    with pytest.warns(FutureWarning, match=f"^{re.escape(renamed('checkpoint'))}$"):
        old_dap = MaskedTeacherStudentPretrainer(**dap, checkpoint=path).fit(clips)
    np.testing.assert_array_equal(old_dap.transform(clips), expected_dap)
    for kind, weights in (("path", path), ("estimator", pretrained)):
        with pytest.warns(FutureWarning, match=f"^{re.escape(renamed('encoder'))}$"):
            old_tuned = ViTArcFaceEmbedder(**fine_tuning, encoder=weights).fit(clips, y)
        np.testing.assert_array_equal(old_tuned.transform(clips), expected_tuned[kind])


@pytest.mark.parametrize("cls, old", [(MaskedTeacherStudentPretrainer, "checkpoint"), (ViTArcFaceEmbedder, "encoder")])
def test_former_and_new_name_of_weights_together_are_an_error(tmp_path, clips, pretrained, cls, old):
    path = pretrained.save_checkpoint(tmp_path / "dap.pt")
    params = TINY_DAP if cls is MaskedTeacherStudentPretrainer else TINY_FT
    message = (
        f"Only one of `weights` and `{old}` may be given: `{old}` was renamed `weights` in version 0.1; "
        "pass `weights` only."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        cls(**params, weights=path, **{old: path}).fit(clips, ["a", "b"] * 8)


def test_ward_dap_embedder_hands_its_pretrainer_to_the_fine_tuner_as_weights(clips):
    """The fitted pre-trainer becomes the fine-tuner's ``weights``, also over a former ``encoder``, silently."""
    stages = dict(
        pretrainer=MaskedTeacherStudentPretrainer(**{**TINY_DAP, "max_epochs": 1}),
        fine_tuner=ViTArcFaceEmbedder(**{**TINY_FT, "max_epochs": 1}, encoder="/no/such/file.pt"),
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        embedder = WardDAPEmbedder(**stages).fit(clips, machine=["fan"] * 16)
    assert embedder.fine_tuner_.weights is embedder.pretrainer_
    assert embedder.fine_tuner_.encoder == "deprecated"
    assert embedder.transform(clips).shape == (16, 16)


# --- fine-tuning -------------------------------------------------------------


@pytest.fixture(scope="module")
def three_tones():
    """Three classes of tones (300, 1200 and 3500 Hz, +-5 %): 10 training and 5 test clips each."""
    rng = np.random.default_rng(4)
    centres = np.repeat([300.0, 1200.0, 3500.0], 15)
    X = _tones(centres * rng.uniform(0.95, 1.05, centres.size), rng)
    y = np.repeat(["fan|low", "fan|mid", "pump|high"], 15)
    test = np.tile(np.arange(15) >= 10, 3)
    return X[~test], y[~test], X[test], y[test]


def test_fine_tuning_separates_easy_classes(three_tones):
    X_train, y_train, X_test, y_test = three_tones
    embedder = ViTArcFaceEmbedder(**{**TINY_FT, "max_epochs": 12}, random_state=0).fit(X_train, y_train)
    history = embedder.net_.history
    assert history[-1, "train_loss"] < history[0, "train_loss"]
    assert list(embedder.classes_) == ["fan|low", "fan|mid", "pump|high"]
    train, test = embedder.transform(X_train), embedder.transform(X_test)
    assert train.shape == (30, 16) and train.dtype == np.float32
    # Nearest class centre on the unit sphere: chance is 1/3.

    def unit(E):
        return E / np.linalg.norm(E, axis=1, keepdims=True)

    centres = np.stack([unit(train)[y_train == c].mean(0) for c in embedder.classes_])
    predicted = embedder.classes_[np.argmax(unit(test) @ centres.T, axis=1)]
    assert np.mean(predicted == y_test) >= 0.8
    # The ArcFace head classifies the held-out clips too.
    with torch.no_grad():
        proba = embedder.net_.criterion_.predict_proba(torch.from_numpy(test)).numpy()
    assert np.mean(embedder.classes_[proba.argmax(1)] == y_test) >= 0.8
    # Cosine learning rate with warm-up, per batch: 3 batches per epoch, 36 steps, 2 of warm-up.
    lrs = [lr for epoch in history[:, "batches", :, "event_lr"] for lr in epoch]
    schedule = WarmupCosine(2, 36)
    assert lrs == pytest.approx([3e-3 * schedule(step) for step in range(36)])
    # Into a k-NN scorer.
    pipeline = make_pipeline(ViTArcFaceEmbedder(**TINY_FT, random_state=0), KNNScorer(n_neighbors=1))
    assert pipeline.fit(X_train, y_train).score_samples(X_test).shape == (15,)


def test_fine_tuning_reproducible_and_pickles(tmp_path, three_tones):
    X_train, y_train, X_test, _ = three_tones
    params = dict(TINY_FT, max_epochs=2, time_mask_fraction=0.3, frequency_mask_fraction=0.3)
    first = ViTArcFaceEmbedder(**params, random_state=5).fit(X_train, y_train)
    again = ViTArcFaceEmbedder(**params, random_state=5).fit(X_train, y_train, aux_label=y_train)
    np.testing.assert_array_equal(first.transform(X_test), again.transform(X_test))
    joblib.dump(first, tmp_path / "vit.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "vit.joblib").transform(X_test), first.transform(X_test))


def test_pretrainer_pickles(tmp_path, clips, pretrained):
    joblib.dump(pretrained, tmp_path / "dap.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "dap.joblib").transform(clips), pretrained.transform(clips))


# --- bad input ---------------------------------------------------------------


def test_mismatched_checkpoint_lists_the_keys_and_both_shapes(tmp_path, clips, pretrained):
    path = pretrained.save_checkpoint(tmp_path / "dap.pt")
    wider = dict(TINY_DAP, embed_dim=32)
    with pytest.raises(ValueError, match=r"shape mismatches: 'blocks\.0\.linear1\.bias': \(64,\) in the file, \(128,\)"):
        MaskedTeacherStudentPretrainer(**wider, weights=path).fit(clips)
    with pytest.raises(ValueError, match=r"^weights=.* 'patch_embed\.weight': \(16, 1, 8, 8\) in the file, \(16, 1, 16, 8\) in the"):
        ViTArcFaceEmbedder(**dict(TINY_FT, patch_size=(16, 8)), weights=path).fit(clips, ["a", "b"] * 8)
    with pytest.raises(ValueError, match=r"missing keys \(in the module, not in the file\): 'blocks\.1\."):
        MaskedTeacherStudentPretrainer(**dict(TINY_DAP, depth=2), weights=path).fit(clips)
    with pytest.raises(ValueError, match="weights='/no/such/file.pt' is not an existing file"):
        MaskedTeacherStudentPretrainer(**TINY_DAP, weights="/no/such/file.pt").fit(clips)


def test_bad_input_gets_clear_errors(clips):
    short = clips[:, :1000]  # 7 frames < one patch of 8
    with pytest.raises(ValueError, match=r"Clips of 1000 samples .* give 7 log-mel frame\(s\).*at least 1120 samples"):
        MaskedTeacherStudentPretrainer(**TINY_DAP).fit(short)
    with pytest.raises(ValueError, match=r"Clips of 1000 samples"):
        ViTArcFaceEmbedder(**TINY_FT).fit(short, ["a", "b"] * 8)
    nan = clips.copy()
    nan[3, 10] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MaskedTeacherStudentPretrainer(**TINY_DAP).fit(nan)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        ViTArcFaceEmbedder(**TINY_FT).fit(nan, ["a", "b"] * 8)
    with pytest.raises(ValueError, match="ViTArcFaceEmbedder requires y to be passed"):
        ViTArcFaceEmbedder(**TINY_FT).fit(clips)
    with pytest.raises(ValueError, match="y holds 1 class"):
        ViTArcFaceEmbedder(**TINY_FT).fit(clips, ["a"] * 16)
    for ratio in (0.0, 1.0, 1.5, -0.2):
        with pytest.raises(ValueError, match=r"The 'mask_ratio' parameter .* range \(0.0, 1.0\)"):
            MaskedTeacherStudentPretrainer(**dict(TINY_DAP, mask_ratio=ratio)).fit(clips)
    with pytest.raises(ValueError, match=r"mask_ratio=0.99 keeps round\(\(1 - mask_ratio\) \* 24\) = 0 of the 24"):
        MaskedTeacherStudentPretrainer(**dict(TINY_DAP, mask_ratio=0.99)).fit(clips)
    with pytest.raises(ValueError, match="n_mels=30 must be a multiple of patch_size"):
        MaskedTeacherStudentPretrainer(**dict(TINY_DAP, n_mels=30)).fit(clips)
    with pytest.raises(ValueError, match="embed_dim=18 must be a multiple of 4"):
        ViTArcFaceEmbedder(**dict(TINY_FT, embed_dim=18)).fit(clips, ["a", "b"] * 8)
    with pytest.raises(ValueError, match="patch_size must be two positive ints"):
        MaskedTeacherStudentPretrainer(**dict(TINY_DAP, patch_size=(8,))).fit(clips)
    with pytest.raises(ValueError, match="silent or constant"):
        MaskedTeacherStudentPretrainer(**TINY_DAP).fit(np.zeros_like(clips))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(clips):
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not available"):
        MaskedTeacherStudentPretrainer(**{**TINY_DAP, "device": "cuda"}).fit(clips)
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not available"):
        ViTArcFaceEmbedder(**{**TINY_FT, "device": "cuda"}).fit(clips, ["a", "b"] * 8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_a_gpu_and_reloading_the_pickle(tmp_path, clips):
    dap = MaskedTeacherStudentPretrainer(**{**TINY_DAP, "device": "cuda"}, random_state=0).fit(clips)
    assert next(dap.net_.module_.student.parameters()).is_cuda
    path = dap.save_checkpoint(tmp_path / "dap.pt")
    assert all(value.device.type == "cpu" for value in torch.load(path, weights_only=True).values())
    tuned = ViTArcFaceEmbedder(**{**TINY_FT, "device": "cuda"}, weights=dap, random_state=0).fit(clips, ["a", "b"] * 8)
    out = tuned.transform(clips)
    assert out.shape == (16, 16) and np.isfinite(out).all()
    joblib.dump(tuned, tmp_path / "vit.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "vit.joblib").transform(clips), out, atol=1e-5)


def test_docs_example_runs(tmp_path, monkeypatch):
    docs = Path(__file__).resolve().parents[2] / "docs" / "dap.md"
    block = re.search(r"## A runnable tiny example\n\n.*?```python\n(.*?)```", docs.read_text(), re.DOTALL).group(1)
    monkeypatch.chdir(tmp_path)  # the example writes its checkpoint to the working directory
    namespace = {}
    exec(compile(block, str(docs), "exec"), namespace)  # noqa: S102
    labels = namespace["labels"]
    assert {label.split("|")[0] for label in labels} == {"fan", "pump"}
    assert all(label.startswith("pump|pseudo_") for label in labels if label.startswith("pump"))
    assert (tmp_path / "dap.pt").is_file()
    assert namespace["anomaly_scores"].shape == (len(namespace["X_test"]),)
    assert np.isfinite(namespace["anomaly_scores"]).all()
