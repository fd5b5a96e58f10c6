"""MultiBranchEmbedder: training through skorch, reproducibility, composition, bad input."""

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import Pipeline

from skasd import KMeansCosineScorer, MultiBranchEmbedder
from skasd.datasets import make_machine_sounds
from skasd.embedding._multibranch import MultiBranchNet, parse_branch
from skasd.embedding._training import AuxiliaryClassifierNet
from skasd.metrics import make_dcase_scorer

TINY = dict(
    branches=("stft_32ms", "stft_8ms", "spectrum"),
    embedding_dim=16,
    channels=(8, 16),
    n_subclusters=4,
    batch_size=32,
    max_epochs=8,
    lr=3e-3,
    verbose=0,
)


@pytest.fixture(scope="module")
def machines():
    """Three machine types, 0.5 s clips: train on 40 normals each, test on the rest."""
    return make_machine_sounds(
        machine_types=("fan", "pump", "gearbox"),
        n_source_train=40,
        n_target_train=4,
        n_test_normal=10,
        n_test_anomalous=10,
        duration=0.5,
        random_state=0,
    )


def _split(data):
    frame = data.frame
    train = (frame["split"] == "train").to_numpy()
    return frame, train


def test_training_separates_machine_types(machines):
    frame, train = _split(machines)
    # 14 epochs: with 8, the accuracy (about 0.55-0.63) depends on how many
    # threads torch sums with, which changes the training trajectory.
    embedder = MultiBranchEmbedder(**{**TINY, "max_epochs": 14}, random_state=0).fit(
        machines.data[train], frame["machine"][train]
    )
    test = ~train & (frame["label"] == 0).to_numpy()
    embeddings = torch.from_numpy(embedder.transform(machines.data[test]))
    criterion = embedder.net_.criterion_.eval()
    predicted = embedder.classes_[criterion.predict_proba(embeddings).argmax(1).numpy()]
    accuracy = np.mean(predicted == frame["machine"][test].to_numpy())
    # 60 held-out normals of both domains; chance is 1/3 and P(>= 36 right by
    # chance) ~ 1e-5. Twenty tiny epochs reach about 0.88.
    assert accuracy >= 0.55, accuracy
    history = embedder.net_.history
    assert history[-1, "train_loss"] < history[0, "train_loss"]


def test_output_shape_dtype_and_feature_names(machines):
    frame, train = _split(machines)
    embedder = MultiBranchEmbedder(**{**TINY, "max_epochs": 1}, random_state=0)
    out = embedder.fit_transform(machines.data[train][::9][:12], frame["machine"][train][::9][:12])
    assert out.shape == (12, 48) and out.dtype == np.float32
    assert embedder.n_embedding_ == 48
    assert list(embedder.get_feature_names_out()[:2]) == ["multibranchembedder0", "multibranchembedder1"]
    assert np.isfinite(out).all()


def test_same_random_state_same_embeddings_and_global_rng_untouched(machines):
    frame, train = _split(machines)
    X, y = machines.data[train][::3], frame["aux_label"][train][::3]
    params = {**TINY, "max_epochs": 2}
    state = torch.random.get_rng_state()
    first = MultiBranchEmbedder(**params, random_state=3).fit(X, y).transform(X)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = MultiBranchEmbedder(**params, random_state=3).fit(X, y).transform(X)
    other = MultiBranchEmbedder(**params, random_state=4).fit(X, y).transform(X)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


@pytest.mark.parametrize("loss", ["subspace", "scac", "arcface", "adaproj"])
def test_every_loss_trains(machines, loss):
    frame, train = _split(machines)
    X, y = machines.data[train][::2], frame["machine"][train][::2]
    embedder = MultiBranchEmbedder(**{**TINY, "max_epochs": 3}, loss=loss, random_state=0).fit(X, y)
    losses = embedder.net_.history[:, "train_loss"]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]


def test_wilkinghoff_two_branch_setting(machines):
    frame, train = _split(machines)
    embedder = MultiBranchEmbedder(
        **{**TINY, "branches": ("spectrum", "stft_64ms"), "embedding_dim": 128, "max_epochs": 1},
        loss="scac",
        random_state=0,
    )
    out = embedder.fit_transform(machines.data[train][::9][:10], frame["machine"][train][::9][:10])
    assert out.shape == (10, 256)
    spectrogram = embedder.net_.module_.branches[1]
    assert spectrogram.win_length == 1024 and spectrogram.hop_length == 512


def test_branch_windows_in_samples():
    net = MultiBranchNet(("stft_256ms", "stft_8ms", "spectrum"), sample_rate=16000, channels=(4,), embedding_dim=8,
                         n_samples=16000)
    assert [getattr(branch, "win_length", None) for branch in net.branches] == [4096, 128, None]
    assert [getattr(branch, "hop_length", None) for branch in net.branches] == [2048, 64, None]
    assert parse_branch("stft_0.5ms") == ("stft", 0.5)


@pytest.mark.parametrize("n_samples", [1600, 8000, 16001])
def test_flattened_branches_keep_every_frequency_position(n_samples):
    """The first dense layer takes channels x frequency positions of the CNN output: its size by hand."""
    net = MultiBranchNet(("stft_64ms", "spectrum"), sample_rate=16000, channels=(4, 6), embedding_dim=8,
                         n_samples=n_samples)
    spectrogram, spectrum = net.branches
    # STFT: 513 bins -> stem conv stride 2 -> 257 -> max pool stride 2 -> 129 -> residual stride 2 -> 65.
    assert spectrogram.head[1].in_features == 6 * 65
    # Spectrum: n // 2 bins (DC dropped) -> conv stride 64 (kernel 256, padding 128) -> conv stride 32 (64, 32).
    first = (n_samples // 2 + 2 * 128 - 256) // 64 + 1
    assert spectrum.head[1].in_features == 6 * ((first + 2 * 32 - 64) // 32 + 1)
    # The probe that sized the layers left the batch-normalisation statistics untouched.
    norms = [m for m in net.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    assert norms and all(int(m.num_batches_tracked) == 0 for m in norms)
    assert net(torch.randn(3, n_samples)).shape == (3, 16)


def test_frequency_bands_average_the_frequency_axis_as_before():
    net = MultiBranchNet(("stft_64ms", "spectrum"), sample_rate=16000, channels=(4, 6), embedding_dim=8,
                         n_frequency_bands=4)
    assert [branch.head[1].in_features for branch in net.branches] == [24, 24]
    assert net(torch.randn(2, 4000)).shape == (2, 16)  # any clip length: the bands do not depend on it
    with pytest.raises(ValueError, match="SpectrumBranch needs n_samples"):
        MultiBranchNet(("spectrum",), sample_rate=16000, channels=(4,), embedding_dim=8)


@pytest.mark.parametrize("n_frequency_bands", [None, 4])
def test_both_frequency_designs_train_and_embed(machines, n_frequency_bands):
    frame, train = _split(machines)
    embedder = MultiBranchEmbedder(**{**TINY, "max_epochs": 2}, n_frequency_bands=n_frequency_bands,
                                   random_state=0).fit(machines.data[train], frame["machine"][train])
    assert embedder.transform(machines.data[~train]).shape == ((~train).sum(), 48)
    assert embedder.net_.module_.branches[0].n_frequency_bands == n_frequency_bands


def test_mixup_blends_inputs_and_targets_with_one_ratio():
    skorch_net = AuxiliaryClassifierNet(torch.nn.Identity, torch.nn.MSELoss, n_classes=3, mixup_probability=1.0)
    X = torch.eye(4) * torch.arange(1.0, 5.0)[:, None]  # row i: (i + 1) at column i
    y = torch.tensor([0, 1, 2, 0])
    torch.manual_seed(0)
    mixed, targets = skorch_net.mix(X, y)
    np.testing.assert_allclose(targets.sum(1), 1.0, rtol=1e-6)
    # Each mixed row is lam * x_i + (1 - lam) * x_j: recover lam from x_i's entry.
    lam = mixed[torch.arange(4), torch.arange(4)] / torch.arange(1.0, 5.0)
    one_hot = torch.nn.functional.one_hot(y, 3).float()
    for i in range(4):
        if lam[i] < 1:  # j != i, else the clip is mixed with itself
            j = int(torch.nonzero(mixed[i] * (torch.arange(4) != i), as_tuple=True)[0][0])
            np.testing.assert_allclose(targets[i], lam[i] * one_hot[i] + (1 - lam[i]) * one_hot[j], atol=1e-6)
    skorch_net.mixup_probability = 0.0
    same, hard = skorch_net.mix(X, y)
    assert torch.equal(same, X) and torch.equal(hard, one_hot)


def test_pickle_round_trip_gives_same_embeddings(machines, tmp_path):
    frame, train = _split(machines)
    X, y = machines.data[train][::9][:16], frame["machine"][train][::9][:16]
    embedder = MultiBranchEmbedder(**{**TINY, "max_epochs": 1}, random_state=0).fit(X, y)
    joblib.dump(embedder, tmp_path / "embedder.joblib")
    reloaded = joblib.load(tmp_path / "embedder.joblib")
    np.testing.assert_array_equal(reloaded.transform(X), embedder.transform(X))


def test_early_stopping_and_checkpoint(machines, tmp_path):
    frame, train = _split(machines)
    X, y = machines.data[train], frame["machine"][train]
    embedder = MultiBranchEmbedder(
        **{**TINY, "max_epochs": 30, "lr": 0.5},
        early_stopping=True,
        n_iter_no_change=2,
        validation_fraction=0.2,
        checkpoint_dir=tmp_path / "checkpoints",
        random_state=0,
    ).fit(X, y)
    history = embedder.net_.history
    assert "valid_loss" in history[-1]
    assert len(history) < 30, "a learning rate of 0.5 diverges; early stopping must end training"
    assert (tmp_path / "checkpoints" / "params.pt").exists()


def test_pipeline_and_grid_search_with_routed_aux_labels(machines):
    frame, train = _split(machines)
    fan = (frame["machine"] == "fan").to_numpy()
    development = fan & ~train
    rows = fan & (train | development)
    test_fold = np.where(development[rows], 0, -1)
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = Pipeline(
            [
                ("embed", MultiBranchEmbedder(**{**TINY, "max_epochs": 2}, random_state=0).set_fit_request(aux_label=True)),
                ("score", KMeansCosineScorer(n_clusters=2).set_fit_request(domain=True)),
            ]
        )
        search = GridSearchCV(
            pipeline,
            {"score__n_clusters": [1, 2]},
            scoring=make_dcase_scorer().set_score_request(domain=True),
            cv=PredefinedSplit(test_fold),
            error_score="raise",
        )
        search.fit(
            machines.data[rows],
            machines.target[rows],
            aux_label=frame["aux_label"].to_numpy()[rows],
            domain=frame["domain"].to_numpy()[rows],
        )
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and ((scores > 0) & (scores <= 1)).all()
    assert search.best_estimator_.score_samples(machines.data[development]).shape == (development.sum(),)


def test_y_is_required():
    X = np.zeros((4, 800), np.float32)
    with pytest.raises(ValueError, match="MultiBranchEmbedder requires y to be passed, but the target y is None: fit needs the auxiliary"):
        MultiBranchEmbedder(**TINY).fit(X)


def test_class_with_a_single_clip_trains_but_not_with_a_stratified_hold_out():
    X = np.random.default_rng(0).normal(size=(5, 800)).astype(np.float32)
    y = ["fan", "fan", "fan", "fan", "pump"]
    assert MultiBranchEmbedder(**{**TINY, "max_epochs": 1}).fit(X, y).classes_.tolist() == ["fan", "pump"]
    message = (
        r"needs at least 2 clips per class with early_stopping=True \(the validation split is stratified "
        r"by class\); class\(es\) 'pump' in y have fewer"
    )
    with pytest.raises(ValueError, match=message):
        MultiBranchEmbedder(**TINY, early_stopping=True).fit(X, y)


def test_a_single_class_is_refused():
    X = np.random.default_rng(0).normal(size=(4, 800)).astype(np.float32)
    with pytest.raises(ValueError, match=r"y holds 1 class \('fan'\)"):
        MultiBranchEmbedder(**TINY).fit(X, ["fan"] * 4)


def test_clips_shorter_than_the_longest_window_are_refused():
    X = np.random.default_rng(0).normal(size=(4, 400)).astype(np.float32)
    message = (
        r"Clips of 400 samples \(n_features = 400\) are too short for the branches \('stft_32ms', 'stft_8ms', "
        r"'spectrum'\): they need at least 512 samples \(the longest STFT window at sample_rate=16000\)"
    )
    with pytest.raises(ValueError, match=message):
        MultiBranchEmbedder(**TINY).fit(X, ["a", "b"] * 2)


def test_bad_branch_name():
    X = np.zeros((4, 800), np.float32)
    with pytest.raises(ValueError, match="branches: 'mel' is not a branch name"):
        MultiBranchEmbedder(**{**TINY, "branches": ("mel",)}).fit(X, ["a", "b"] * 2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_without_gpu_is_refused():
    X = np.random.default_rng(0).normal(size=(4, 800)).astype(np.float32)
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not available"):
        MultiBranchEmbedder(**TINY, device="cuda").fit(X, ["a", "b"] * 2)


def test_nan_waveforms_are_refused():
    X = np.zeros((4, 800), np.float32)
    X[1, 3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MultiBranchEmbedder(**TINY).fit(X, ["a", "b"] * 2)


def test_verbose_prints_one_line_per_epoch(machines, capsys):
    frame, train = _split(machines)
    MultiBranchEmbedder(**{**TINY, "max_epochs": 2, "verbose": 1}, random_state=0).fit(
        machines.data[train][::9][:10], frame["machine"][train][::9][:10]
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) == 2, lines
    MultiBranchEmbedder(**{**TINY, "max_epochs": 2}, random_state=0).fit(
        machines.data[train][::9][:10], frame["machine"][train][::9][:10]
    )
    assert capsys.readouterr().out == ""


def test_transform_uses_n_jobs_threads_with_the_same_result(machines):
    frame, train = _split(machines)
    X, y = machines.data[train][::9][:16], frame["machine"][train][::9][:16]
    embedder = MultiBranchEmbedder(**{**TINY, "max_epochs": 1, "batch_size": 4}, random_state=0).fit(X, y)
    serial = embedder.transform(X)
    parallel = embedder.set_params(n_jobs=2).transform(X)
    np.testing.assert_allclose(parallel, serial, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_embeddings_match_cpu(machines):
    frame, train = _split(machines)
    X, y = machines.data[train][::4], frame["machine"][train][::4]
    embedder = MultiBranchEmbedder(**{**TINY, "max_epochs": 2}, device="cpu", random_state=0).fit(X, y)
    on_cpu = embedder.transform(X)
    embedder.net_.module_.to("cuda")
    on_gpu = embedder.transform(X)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-4, atol=1e-5)
    trained_on_gpu = MultiBranchEmbedder(**{**TINY, "max_epochs": 2}, device="cuda", random_state=0).fit(X, y)
    assert trained_on_gpu.transform(X).shape == on_cpu.shape


def test_triplet_learning_with_machine_types_from_the_labels(machines, tmp_path):
    frame, train = _split(machines)
    X, y = machines.data[train][::3], frame["aux_label"][train][::3].to_numpy()
    embedder = MultiBranchEmbedder(**{**TINY, "max_epochs": 3}, triplet=True, random_state=0).fit(X, y)
    triplet = [np.mean(epoch) for epoch in embedder.net_.history[:, "batches", :, "triplet_loss"]]
    assert np.isfinite(triplet).all() and triplet[-1] < triplet[0]
    # Classes map to the machine type before "|": fan|..., gearbox|..., pump|...
    machine_of_class = [label.split("|")[0] for label in embedder.classes_]
    codes = embedder.net_.class_machine
    assert [codes[i] == codes[j] for i, j in [(0, 1)]] == [machine_of_class[0] == machine_of_class[1]]
    assert len(set(codes)) == 3
    assert embedder.net_.background is None  # the training clips are not kept
    joblib.dump(embedder, tmp_path / "triplet.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "triplet.joblib").transform(X[:4]), embedder.transform(X[:4]))


def test_triplet_learning_needs_two_machine_types(machines):
    frame, train = _split(machines)
    fan = train & (frame["machine"] == "fan").to_numpy()
    with pytest.raises(ValueError, match="Triplet positives need a clip of another machine type as background"):
        MultiBranchEmbedder(**TINY, triplet=True).fit(machines.data[fan], frame["aux_label"][fan])


# --- noise clips mixed into the training batches ---------------------------------------------------------------


def test_noise_mixer_reaches_the_drawn_snr_with_a_drawn_noise_clip():
    from skasd.embedding._training import NoiseMixer

    rng = np.random.default_rng(0)
    clean = rng.normal(size=(6, 400)).astype(np.float32) * np.arange(1, 7, dtype=np.float32)[:, None]
    noise = rng.normal(size=(3, 400)).astype(np.float32) * np.array([[0.1], [1.0], [5.0]], dtype=np.float32)
    mixer = NoiseMixer(noise, (-5.0, 10.0), seed=7)
    mixed = mixer(torch.from_numpy(clean)).numpy().astype(np.float64)

    # The draws, made again independently: clip indices first, then the SNRs uniform in the range.
    again = np.random.default_rng(7)
    index = again.integers(3, size=6)
    snr_db = -5.0 + 15.0 * again.random(6)
    np.testing.assert_array_equal(mixer.last_noise_index_, index)
    np.testing.assert_allclose(mixer.last_snr_db_, snr_db, rtol=0, atol=1e-5)
    added = mixed - clean
    measured = 10 * np.log10(np.sum(clean.astype(np.float64) ** 2, axis=1) / np.sum(added**2, axis=1))
    np.testing.assert_allclose(measured, snr_db, rtol=0, atol=1e-3)
    # What was added is the drawn noise clip, scaled.
    gain = np.sum(added * noise[index], axis=1) / np.sum(noise[index].astype(np.float64) ** 2, axis=1)
    np.testing.assert_allclose(added, gain[:, None] * noise[index], rtol=0, atol=1e-4)


# Tiny clips for the fits with noise: 0.1 s, two machine types, a small network.
NOISE_FIT = {"branches": ("stft_16ms", "spectrum"), "embedding_dim": 8, "channels": (4,), "n_subclusters": 2,
             "batch_size": 4, "max_epochs": 2, "verbose": 0}


def _tiny_clips(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(16, 1600)).astype(np.float32)
    noise = rng.normal(scale=0.05, size=(5, 1600)).astype(np.float32)
    return X, np.array(["fan", "pump"] * 8), noise


def test_without_noise_the_training_is_the_same_and_with_noise_it_differs():
    X, y, noise = _tiny_clips(1)
    params = {**NOISE_FIT, "random_state": 3}
    default = MultiBranchEmbedder(**params).fit(X, y)
    off = MultiBranchEmbedder(**params).fit(X, y, noise=None)
    on = MultiBranchEmbedder(**params).fit(X, y, noise=noise)
    np.testing.assert_array_equal(default.transform(X), off.transform(X))
    assert default.net_.history[:, "train_loss"] == off.net_.history[:, "train_loss"]
    assert on.net_.history[:, "train_loss"] != default.net_.history[:, "train_loss"]
    again = MultiBranchEmbedder(**params).fit(X, y, noise=noise)
    np.testing.assert_array_equal(on.transform(X), again.transform(X))  # the noise draws come from random_state
    assert on.net_.noise_mixer is None  # the fitted embedder does not carry the noise clips


def test_a_fit_with_noise_mixes_every_batch_with_triplets(monkeypatch):
    from skasd.embedding import _training

    X, machine, noise = _tiny_clips(2)
    calls = []
    original = _training.NoiseMixer.__call__

    def spy(self, Xi):
        mixed = original(self, Xi)
        calls.append((Xi.shape[0], self.last_snr_db_.copy()))
        return mixed

    monkeypatch.setattr(_training.NoiseMixer, "__call__", spy)
    embedder = MultiBranchEmbedder(**NOISE_FIT, triplet=True, noise_snr=(5.0, 15.0), random_state=0)
    embeddings = embedder.fit(X, machine, noise=noise).transform(X)
    assert len(calls) == 2 * len(X) // NOISE_FIT["batch_size"]  # every batch of both epochs
    assert all(n == NOISE_FIT["batch_size"] for n, _ in calls)
    snr = np.concatenate([s for _, s in calls])
    assert snr.min() >= 5.0 and snr.max() <= 15.0
    assert embeddings.shape == (len(X), 16) and np.all(np.isfinite(embeddings))


def test_bad_noise_is_refused_in_one_line():
    X, y, _ = _tiny_clips(3)
    embedder = MultiBranchEmbedder(**NOISE_FIT)
    with pytest.raises(ValueError, match=r"noise clips have 100 samples but the training clips 1600: load them"):
        embedder.fit(X, y, noise=np.ones((2, 100), dtype=np.float32))
    silent = np.ones((3, X.shape[1]), dtype=np.float32)
    silent[1] = 0
    with pytest.raises(ValueError, match=r"noise clip\(s\) \[1\] are silent: they cannot be scaled to an SNR"):
        embedder.fit(X, y, noise=silent)
    with pytest.raises(ValueError, match=r"noise_snr must be a finite pair with low <= high, got \(10, 0\)"):
        embedder.set_params(noise_snr=(10, 0)).fit(X, y, noise=silent[:1])
