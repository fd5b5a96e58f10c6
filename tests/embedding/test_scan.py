"""ConfidentPairSCAN: the selection's statistics, the loss, training with injected anomalies, bad input."""

import joblib
import numpy as np
import pytest
import torch
from scipy import optimize, stats
from sklearn.covariance import ledoit_wolf, oas
from sklearn.pipeline import Pipeline

from skasd import KNNScorer
from skasd.datasets import make_machine_sounds
from skasd.embedding.scan import (
    ConfidentPairSCAN,
    ResNetEncoder,
    TwoViewAugmentation,
    balance_factor,
    confident_pairs,
    geometric_median_torch,
    log_mel_front_end,
    mahalanobis_scores,
    nt_xent_loss,
    shrinkage_covariance,
)
from skasd.scoring import geometric_median
from skasd.utils._torch import torch_threads

TINY = dict(
    n_fft=256,
    hop_length=128,
    n_mels=16,
    widths=(4, 8),
    blocks=(1, 1),
    projection_dims=(8, 8),
    batch_size=8,
    max_epochs=3,
    verbose=0,
)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models train fastest on one thread, and far faster than on two contended ones."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def noise_clips():
    return np.random.default_rng(0).normal(size=(20, 1600)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(noise_clips):
    return ConfidentPairSCAN(**TINY, random_state=0).fit(noise_clips)


def _sum_of_distances(y, X):
    return np.linalg.norm(X - y, axis=1).sum()


# --- geometric median ------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 2), (7, 3), (12, 4)])
def test_geometric_median_matches_numpy_and_brute_force(shape):
    X = np.random.default_rng(shape[0]).normal(size=shape)
    median = geometric_median_torch(torch.from_numpy(X), tol=1e-12, max_iter=1000).numpy()
    np.testing.assert_allclose(median, geometric_median(X), atol=1e-7)
    # Brute force: Nelder-Mead on the sum of distances from every data point.
    best = min(
        (optimize.minimize(_sum_of_distances, start, args=(X,), method="Nelder-Mead",
                           options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000}) for start in X),
        key=lambda result: result.fun,
    )
    assert _sum_of_distances(median, X) <= best.fun + 1e-9
    np.testing.assert_allclose(median, best.x, atol=1e-4)


def test_geometric_median_on_a_data_point_and_batched():
    # The centre point is the median; the mean starts on it (Vardi-Zhang stays).
    X = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -3.0]])
    np.testing.assert_allclose(geometric_median_torch(torch.from_numpy(X)).numpy(), geometric_median(X), atol=1e-9)
    # A triple point at the origin outweighs the rest: the median is on it, off the mean.
    X = np.array([[0.0, 0.0]] * 3 + [[4.0, 1.0], [5.0, -2.0]])
    np.testing.assert_allclose(geometric_median_torch(torch.from_numpy(X)).numpy(), [0.0, 0.0], atol=1e-9)
    batch = torch.from_numpy(np.random.default_rng(1).normal(size=(3, 9, 4)))
    together = geometric_median_torch(batch, tol=1e-12)
    for i in range(3):
        np.testing.assert_allclose(together[i].numpy(), geometric_median(batch[i].numpy()), atol=1e-7)


def test_geometric_median_resists_an_outlier():
    cluster = np.random.default_rng(2).normal(size=(30, 3))
    with_outlier = np.vstack([cluster, [[1000.0, 1000.0, 1000.0]]])
    mean_shift = np.linalg.norm(with_outlier.mean(0) - cluster.mean(0))
    median_shift = np.linalg.norm(
        geometric_median_torch(torch.from_numpy(with_outlier)).numpy()
        - geometric_median_torch(torch.from_numpy(cluster)).numpy()
    )
    assert mean_shift > 50 and median_shift < 0.2, (mean_shift, median_shift)


# --- covariance and scores ------------------------------------------------


@pytest.mark.parametrize("method, reference", [("ledoit_wolf", ledoit_wolf), ("oas", oas)])
@pytest.mark.parametrize("shape", [(40, 6), (16, 30)])
def test_shrinkage_covariance_matches_sklearn(method, reference, shape):
    rng = np.random.default_rng(3)
    X = rng.normal(size=shape) @ rng.normal(size=(shape[1], shape[1]))
    X -= geometric_median(X)
    covariance, shrinkage = shrinkage_covariance(torch.from_numpy(X), method)
    expected, expected_shrinkage = reference(X, assume_centered=True)
    np.testing.assert_allclose(covariance.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert shrinkage == pytest.approx(expected_shrinkage, rel=1e-10)
    if shape[0] < shape[1]:  # singular empirical covariance, invertible shrunk one
        assert np.linalg.matrix_rank(X.T @ X) < shape[1]
        assert np.linalg.eigvalsh(expected).min() > 0


def test_mahalanobis_scores_of_gaussian_samples_follow_chi2():
    rng = np.random.default_rng(4)
    p, n = 8, 4000
    mixing = rng.normal(size=(p, p)) * 0.5 + np.eye(p)
    Z = torch.from_numpy(rng.normal(size=(n, p)) @ mixing.T + 3.0)
    mu = geometric_median_torch(Z)
    covariance, _ = shrinkage_covariance(Z - mu)
    scores = mahalanobis_scores(Z, mu, covariance).numpy()
    centred = (Z - mu).numpy()
    np.testing.assert_allclose(
        scores, np.einsum("ij,jk,ik->i", centred, np.linalg.inv(covariance.numpy()), centred), rtol=1e-8
    )
    assert stats.kstest(scores, stats.chi2(p).cdf).pvalue > 0.01
    # The selection's threshold: about alpha of the normal scores lie above it.
    above = np.mean(scores > stats.chi2.ppf(0.95, p))
    assert abs(above - 0.05) < 3 * np.sqrt(0.05 * 0.95 / n), above


def test_confident_pairs_drop_a_pair_with_one_far_view():
    rng = np.random.default_rng(5)
    z1 = torch.from_numpy(rng.normal(size=(64, 4)))
    z2 = z1 + 0.1 * torch.from_numpy(rng.normal(size=(64, 4)))
    z2[3] = 40.0
    confident, scores = confident_pairs(z1, z2, threshold=stats.chi2.ppf(0.999, 4))
    assert scores.shape == (128,) and confident.dtype == torch.bool
    assert not confident[3] and scores[64 + 3] > 100
    assert confident.sum() >= 60
    means, _ = confident_pairs(z1, z2, threshold=stats.chi2.ppf(0.999, 4), center="mean", shrinkage="oas")
    assert not means[3]


# --- loss ------------------------------------------------------------------


def _hand_nt_xent(h1, h2, t):
    """Eqs. 1 and 2 with loops: views interleaved as 2k - 1 and 2k."""
    h = np.empty((2 * len(h1), h1.shape[1]))
    h[0::2], h[1::2] = h1, h2
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    sim = h @ h.T

    def ell(i, j):
        denominator = sum(np.exp(sim[i, n] / t) for n in range(len(h)) if n != i)
        return -np.log(np.exp(sim[i, j] / t) / denominator)

    return sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(len(h1))) / len(h)


def test_nt_xent_loss_matches_hand_computation():
    rng = np.random.default_rng(6)
    h1, h2 = rng.normal(size=(2, 4, 5))
    for t in (0.5, 0.1):
        loss = nt_xent_loss(torch.from_numpy(h1), torch.from_numpy(h2), t)
        assert float(loss) == pytest.approx(_hand_nt_xent(h1, h2, t), rel=1e-10)


def test_masking_removes_pairs_as_positives_and_negatives():
    rng = np.random.default_rng(7)
    h1 = torch.tensor(rng.normal(size=(5, 3)), requires_grad=True)
    h2 = torch.tensor(rng.normal(size=(5, 3)), requires_grad=True)
    mask = torch.tensor([True, False, True, True, False])
    masked = nt_xent_loss(h1, h2, 0.2, mask)
    kept = [0, 2, 3]
    assert masked.item() == pytest.approx(_hand_nt_xent(h1.detach().numpy()[kept], h2.detach().numpy()[kept], 0.2))
    assert masked.item() != pytest.approx(nt_xent_loss(h1, h2, 0.2).item())
    masked.backward()
    assert torch.all(h1.grad[~mask] == 0) and torch.all(h2.grad[~mask] == 0)
    assert torch.all(h1.grad[mask].abs().sum(1) > 0)
    # One pair has no negatives: a zero loss that still back-propagates.
    single = nt_xent_loss(h1, h2, 0.2, torch.tensor([False, True, False, False, False]))
    assert single.item() == 0.0
    single.backward()


# --- modules ---------------------------------------------------------------


def test_views_encoder_and_augmentations():
    torch.manual_seed(0)
    waveforms = torch.randn(6, 1600)
    front_end = log_mel_front_end(sample_rate=16000, n_fft=256, hop_length=128, n_mels=16)
    augmentation = TwoViewAugmentation()
    transforms = augmentation.draw_transforms(1000, torch.device("cpu"))
    assert (transforms[:, 0] != transforms[:, 1]).all()
    assert set(transforms.flatten().tolist()) == set(range(5))
    views = augmentation(waveforms, front_end)
    assert views.shape == (12, 16, 13)
    clean = front_end(waveforms)
    for name in ("time_shift", "time_mask", "frequency_mask", "gain_noise", "speed"):
        one = TwoViewAugmentation((name,))
        changed = one(waveforms, front_end)
        assert changed.shape == (12, 16, 13) and torch.isfinite(changed).all()
        assert not torch.allclose(changed[:6], clean), name
    encoder = ResNetEncoder()  # ResNet-18: 512-d
    assert encoder(torch.randn(2, 1, 128, 20)).shape == (2, 512)
    assert sum(p.numel() for p in encoder.parameters()) == pytest.approx(11.17e6, rel=0.01)


# --- training --------------------------------------------------------------


def test_fit_transform_history_and_reproducibility(noise_clips, fitted):
    out = fitted.transform(noise_clips)
    assert out.shape == (20, 8) and out.dtype == np.float32 and np.isfinite(out).all()
    assert fitted.confident_history_.shape == (3, 20) and fitted.confident_history_.dtype == np.int8
    # 20 clips, batches of 8, drop_last: 16 seen and 4 dropped per epoch.
    assert ((fitted.confident_history_ >= 0).sum(1) == 16).all()
    excluded = fitted.net_.history[:, "excluded"]
    np.testing.assert_allclose(excluded, (fitted.confident_history_ == 0).sum(1) / 16)
    # warmup: every pair kept in epochs 1 and 2, then 0.09 Theta.
    theta = stats.chi2.ppf(0.95, 8)
    assert fitted.net_.history[:, "threshold"] == pytest.approx([np.inf, np.inf, theta * balance_factor(3)])
    assert fitted.chi2_threshold_ == pytest.approx(theta) and fitted.threshold_ == pytest.approx(theta * balance_factor(3))
    assert list(fitted.get_feature_names_out()[:2]) == ["confidentpairscan0", "confidentpairscan1"]
    state = torch.random.get_rng_state()
    again = ConfidentPairSCAN(**TINY, random_state=0).fit(noise_clips)
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(again.transform(noise_clips), out)
    np.testing.assert_array_equal(again.confident_history_, fitted.confident_history_)
    other = ConfidentPairSCAN(**TINY, random_state=1).fit(noise_clips)
    assert not np.allclose(other.transform(noise_clips), out)


def test_scores_signs_offset_and_pipelines(noise_clips, fitted):
    scores = fitted.score_samples(noise_clips)
    np.testing.assert_allclose(fitted.anomaly_score(noise_clips), -scores)
    np.testing.assert_allclose(
        scores, fitted.scorer_.score_samples(fitted.transform(noise_clips).astype(np.float64))
    )
    assert fitted.offset_ == -fitted.threshold_  # contamination="auto"
    np.testing.assert_allclose(fitted.decision_function(noise_clips), scores - fitted.offset_)
    np.testing.assert_array_equal(fitted.predict(noise_clips), np.where(scores < fitted.offset_, -1, 1))
    assert fitted.reference_mask_.dtype == bool and fitted.reference_mask_.sum() >= 2
    quarter = ConfidentPairSCAN(**TINY, contamination=0.25, random_state=0).fit(noise_clips)
    assert np.mean(quarter.predict(noise_clips) == -1) == pytest.approx(0.25, abs=0.05)

    pipeline = Pipeline([("scan", ConfidentPairSCAN(**TINY, random_state=0))]).fit(noise_clips)
    np.testing.assert_allclose(pipeline.score_samples(noise_clips), scores)
    knn = Pipeline([("scan", ConfidentPairSCAN(**TINY, random_state=0)), ("knn", KNNScorer(n_neighbors=2))])
    assert knn.fit(noise_clips).score_samples(noise_clips).shape == (20,)


def test_ablations_and_schedules(noise_clips):
    theta = stats.chi2.ppf(0.95, 8)
    shift = ConfidentPairSCAN(**TINY, balance_start="shift", center="mean", shrinkage="oas", random_state=0)
    thresholds = shift.fit(noise_clips).net_.history[:, "threshold"]
    assert thresholds == pytest.approx([theta * balance_factor(e) for e in (3, 4, 5)])
    assert balance_factor(1) < 0 and balance_factor(2) < 0 < balance_factor(3)
    flat = ConfidentPairSCAN(**TINY, balance_factor=False, random_state=0).fit(noise_clips)
    assert flat.net_.history[:, "threshold"] == pytest.approx([theta] * 3)
    plain = ConfidentPairSCAN(**{**TINY, "drop_last": False}, selection=False, random_state=0).fit(noise_clips)
    assert (plain.confident_history_ == 1).all()  # all seen (no drop), all kept
    assert plain.net_.history[:, "excluded"] == [0.0] * 3 and plain.threshold_ == pytest.approx(theta)
    assert plain.reference_mask_.all()


@pytest.fixture(scope="module")
def contaminated():
    data = make_machine_sounds(
        machine_types=("fan",), n_source_train=100, n_target_train=0, n_test_normal=1, n_test_anomalous=1,
        duration=0.25, sample_rate=8000, anomaly_strength=3.0, contamination=0.08, random_state=0,
    )
    train = (data.frame["split"] == "train").to_numpy()
    return data.data[train], (data.frame["anomaly_kind"][train] != "").to_numpy()


def test_fit_excludes_injected_anomalies_more_often(contaminated):
    X, injected = contaminated
    assert injected.sum() == 8 and len(X) == 100
    scan = ConfidentPairSCAN(
        sample_rate=8000, n_fft=128, hop_length=64, n_mels=16, widths=(4, 8), blocks=(1, 1), projection_dims=(8, 8),
        batch_size=50, max_epochs=12, lr=3e-3, random_state=0, verbose=0,
    ).fit(X)
    history = scan.confident_history_
    seen = history >= 0
    rate = (history == 0).sum(0) / seen.sum(0)
    # Exclusion blind to the anomalies would give both groups the same rate
    # (about 0.4 here, over the 10 selecting epochs). Over data seeds 0-2 and
    # model seeds 0-2 the injected clips' mean rate is 0.25 to 0.5 higher
    # (one-sided Mann-Whitney p <= 0.005); this seed: 0.71 against 0.45.
    assert rate[injected].mean() > rate[~injected].mean() + 0.15, (rate[injected].mean(), rate[~injected].mean())
    assert stats.mannwhitneyu(rate[injected], rate[~injected], alternative="greater").pvalue < 0.01
    blind = ConfidentPairSCAN(**{**scan.get_params(), "selection": False}).fit(X)
    assert (blind.confident_history_ != 0).all()


# --- bad input -------------------------------------------------------------


def test_bad_input_gets_clear_errors(noise_clips):
    with pytest.raises(ValueError, match="batch_size=1: contrastive learning needs at least 2"):
        ConfidentPairSCAN(**{**TINY, "batch_size": 1}).fit(noise_clips)
    # A batch larger than the data is clipped to it, with drop_last or without (as MLPClassifier clips its own).
    for drop_last in (True, False):
        with pytest.warns(UserWarning, match=r"^batch_size=32 is larger than the 20 clips given to fit: training on "
                                             r"batches of all 20 clips\.$"):
            clamped = ConfidentPairSCAN(**{**TINY, "batch_size": 32, "max_epochs": 1}, drop_last=drop_last).fit(
                noise_clips
            )
        # One full batch per epoch: every clip is seen (no -1), none dropped.
        assert clamped.net_.batch_size == 20 and (clamped.confident_history_ >= 0).all()
    for alpha in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="'alpha' parameter"):
            ConfidentPairSCAN(**TINY, alpha=alpha).fit(noise_clips)
    with pytest.raises(ValueError, match="widths and blocks"):
        ConfidentPairSCAN(**{**TINY, "blocks": (1,)}).fit(noise_clips)
    with pytest.raises(ValueError, match="augmentations"):
        ConfidentPairSCAN(**TINY, augmentations=("reverb",)).fit(noise_clips)
    with pytest.raises(ValueError, match="infinity or a value too large|NaN"):
        ConfidentPairSCAN(**TINY).fit(np.where(noise_clips > 2.5, np.nan, noise_clips))
    with pytest.raises(ValueError, match="minimum of 2"):
        ConfidentPairSCAN(**TINY).fit(noise_clips[:1])


def test_collapsed_embeddings_are_reported_not_a_nan_loss():
    # Constant clips that a circular shift cannot change: all 2N views are equal.
    X = np.full((16, 1600), 0.1, dtype=np.float32)
    scan = ConfidentPairSCAN(**TINY, augmentations=("time_shift",), random_state=0)
    with pytest.raises(ValueError, match=r"collapsed to a point at epoch 1, batch 1"):
        scan.fit(X)


def test_pickle_round_trip(noise_clips, fitted, tmp_path):
    joblib.dump(fitted, tmp_path / "scan.joblib")
    reloaded = joblib.load(tmp_path / "scan.joblib")
    np.testing.assert_array_equal(reloaded.anomaly_score(noise_clips), fitted.anomaly_score(noise_clips))
