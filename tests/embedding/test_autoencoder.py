"""DenseAutoencoderScorer, the DCASE autoencoder baseline: its network, losses and scores against numpy."""

import re
import warnings

import numpy as np
import pytest
import sklearn
import torch
from sklearn.pipeline import make_pipeline

from skasd import DenseAutoencoderScorer, LogMelSpectrogram
from skasd.datasets import make_machine_sounds
from skasd.embedding import DenseAutoencoder
from skasd.embedding._autoencoder_scorer import selective_mahalanobis, stack_frames
from skasd.embedding._dense_autoencoder import ReconstructionNet
from skasd.pipelines import fit_models, make_preset, score_models

BN_EPS = 1e-3  # the baseline's batch norm eps

# A tiny front end and network: 2 frames of 4 mel bands per window (8 inputs), 3 hidden units, a code of 2.
TINY = dict(sample_rate=16000, n_fft=64, hop_length=32, n_mels=4, n_frames=2, hidden_units=(3,), bottleneck=2,
            batch_size=64, max_epochs=2, random_state=0)


@pytest.fixture(scope="module")
def clips():
    """12 clips of 320 samples (11 frames, 10 windows each): 9 source, 3 target."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(12, 320)) * np.linspace(0.5, 2.0, 12)[:, None]).astype(np.float32)
    return X, np.array(["source"] * 9 + ["target"] * 3)


# -- a numpy autoencoder -------------------------------------------------------


def _layers(module):
    """The module's layers in order, as numpy parameters: ("linear", W, b), ("bn", mean, var, gamma, beta), ("relu",)."""
    out = []
    for layer in [*module.encoder, *module.decoder]:
        if isinstance(layer, torch.nn.Linear):
            out.append(("linear", layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()))
        elif isinstance(layer, torch.nn.BatchNorm1d):
            out.append(("bn", *(t.detach().double().numpy() for t in (layer.running_mean, layer.running_var,
                                                                       layer.weight, layer.bias))))
        else:
            out.append(("relu",))
    return out


def _numpy_forward(layers, x):
    """The autoencoder's inference (batch norm with its running statistics) in float64."""
    for kind, *params in layers:
        if kind == "linear":
            weight, bias = params
            x = x @ weight.T + bias
        elif kind == "bn":
            mean, var, gamma, beta = params
            x = (x - mean) / np.sqrt(var + BN_EPS) * gamma + beta
        else:
            x = np.maximum(x, 0.0)
    return x


def _set_by_hand(module):
    """Fixed, hand-chosen weights: each parameter a ramp of its own range; batch-norm statistics too."""
    with torch.no_grad():
        for index, layer in enumerate([*module.encoder, *module.decoder]):
            if isinstance(layer, torch.nn.Linear):
                n = layer.weight.numel()
                layer.weight.copy_(torch.linspace(-0.5, 0.6, n).reshape(layer.weight.shape) * (-1) ** index)
                layer.bias.copy_(torch.linspace(0.1, -0.2, layer.bias.numel()))
            elif isinstance(layer, torch.nn.BatchNorm1d):
                n = layer.num_features
                layer.running_mean.copy_(torch.linspace(-1.0, 2.0, n))
                layer.running_var.copy_(torch.linspace(0.5, 3.0, n))
                layer.weight.copy_(torch.linspace(0.8, 1.5, n))
                layer.bias.copy_(torch.linspace(0.3, -0.1, n))


def _windows_by_loop(log_mel, n_frames):
    """Window w of a clip: frames w .. w + n_frames - 1, frame by frame, written out with loops."""
    n_clips, n_mels, n_time = log_mel.shape
    out = np.zeros((n_clips, n_time - n_frames + 1, n_frames * n_mels))
    for c in range(n_clips):
        for w in range(n_time - n_frames + 1):
            for t in range(n_frames):
                out[c, w, t * n_mels:(t + 1) * n_mels] = log_mel[c, :, w + t]
    return out


def _numpy_errors(estimator, X):
    """Each clip's error vectors x - x_hat, (n_clips, n_windows * n_frames, n_mels), computed with numpy."""
    log_mel = LogMelSpectrogram(sample_rate=estimator.sample_rate, n_fft=estimator.n_fft,
                                hop_length=estimator.hop_length, n_mels=estimator.n_mels).fit_transform(X)
    windows = _windows_by_loop(log_mel.astype(np.float64), estimator.n_frames)
    reconstruction = _numpy_forward(_layers(estimator.net_.module_), windows.reshape(-1, windows.shape[-1]))
    errors = windows - reconstruction.reshape(windows.shape)
    return errors.reshape(len(X), -1, estimator.n_mels)


# -- the network ---------------------------------------------------------------


def test_the_default_network_is_the_baselines():
    module = DenseAutoencoder(640)
    linear = [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert linear == [(640, 128), (128, 128), (128, 128), (128, 128), (128, 8),
                      (8, 128), (128, 128), (128, 128), (128, 128), (128, 640)]
    norms = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 9 and all(n.momentum == 0.01 and n.eps == 1e-3 for n in norms)
    assert isinstance(module.decoder[-1], torch.nn.Linear)  # no activation on the output


def test_forward_pass_equals_a_hand_built_network():
    """4 -> 3 -> 2 -> 3 -> 4 with weights written out here, computed by hand in numpy."""
    module = DenseAutoencoder(4, hidden_units=(3,), bottleneck=2).eval()
    W1 = np.array([[0.5, -0.2, 0.1, 0.0], [0.3, 0.4, -0.6, 0.2], [-0.1, 0.2, 0.3, 0.7]])
    b1 = np.array([0.1, -0.1, 0.05])
    W2 = np.array([[0.6, -0.4, 0.2], [0.1, 0.5, -0.3]])
    b2 = np.array([0.0, 0.2])
    W3 = np.array([[0.7, -0.2], [0.3, 0.4], [-0.5, 0.6]])
    b3 = np.array([0.05, 0.0, -0.05])
    W4 = np.array([[0.2, 0.1, -0.3], [0.4, -0.2, 0.1], [0.0, 0.3, 0.5], [-0.6, 0.2, 0.2]])
    b4 = np.array([0.1, 0.2, 0.3, 0.4])
    # batch norm: running mean and variance, scale, shift (eps 1e-3)
    bn1 = (np.array([0.2, -0.1, 0.0]), np.array([1.5, 0.5, 2.0]), np.array([1.0, 0.8, 1.2]), np.array([0.0, 0.1, -0.1]))
    bn2 = (np.array([0.1, 0.3]), np.array([0.7, 1.1]), np.array([0.9, 1.1]), np.array([0.2, -0.2]))
    bn3 = (np.array([-0.3, 0.0, 0.4]), np.array([1.0, 2.5, 0.4]), np.array([1.3, 0.7, 1.0]), np.array([0.0, 0.0, 0.3]))
    linears = [module.encoder[0], module.encoder[3], module.decoder[0], module.decoder[3]]
    norms = [module.encoder[1], module.encoder[4], module.decoder[1]]
    with torch.no_grad():
        for layer, (W, b) in zip(linears, [(W1, b1), (W2, b2), (W3, b3), (W4, b4)]):
            layer.weight.copy_(torch.tensor(W))
            layer.bias.copy_(torch.tensor(b))
        for layer, (mean, var, gamma, beta) in zip(norms, [bn1, bn2, bn3]):
            layer.running_mean.copy_(torch.tensor(mean))
            layer.running_var.copy_(torch.tensor(var))
            layer.weight.copy_(torch.tensor(gamma))
            layer.bias.copy_(torch.tensor(beta))
    x = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 0.25, -1.0, 2.0]])

    def bn_relu(h, mean, var, gamma, beta):
        return np.maximum((h - mean) / np.sqrt(var + 1e-3) * gamma + beta, 0.0)

    h = bn_relu(x @ W1.T + b1, *bn1)
    z = bn_relu(h @ W2.T + b2, *bn2)
    h = bn_relu(z @ W3.T + b3, *bn3)
    expected = h @ W4.T + b4
    with torch.no_grad():
        got = module(torch.tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    # The training loss: the mean over the batch and the width of the squared error, against the input.
    net = ReconstructionNet(module, torch.nn.MSELoss, batch_size=2, max_epochs=1, train_split=None).initialize()
    X = torch.tensor(x, dtype=torch.float32)
    loss = net.get_loss(net.infer(X), None, X=X).item()
    assert loss == pytest.approx(np.mean((expected - x) ** 2), rel=1e-5)


def test_stack_frames_matches_windows_written_out():
    log_mel = np.random.default_rng(1).normal(size=(2, 3, 7)).astype(np.float32)
    got = stack_frames(log_mel, 3)
    assert got.shape == (2, 5, 9) and got.dtype == np.float32
    np.testing.assert_array_equal(got, _windows_by_loop(log_mel, 3))


def test_selective_mahalanobis_is_the_smaller_of_the_two_quadratic_forms():
    rng = np.random.default_rng(2)
    errors = rng.normal(size=(6, 3))
    A, B = rng.normal(size=(2, 3, 3))
    source, target = A @ A.T + np.eye(3), B @ B.T + 0.1 * np.eye(3)
    expected = [min(e @ source @ e, e @ target @ e) for e in errors]
    np.testing.assert_allclose(selective_mahalanobis(errors, source, target), expected, rtol=1e-12)


# -- the scores ------------------------------------------------------------------


def test_mse_is_the_mean_squared_error_over_a_clips_windows_with_hand_set_weights(clips):
    """Forward pass and MSE of a hand-built network: the estimator's front end, windows and averaging."""
    X, _ = clips
    ae = DenseAutoencoderScorer(**TINY).fit(X)
    _set_by_hand(ae.net_.module_)
    errors = _numpy_errors(ae, X)
    # a clip's score: the mean over its windows of each window's mean squared error
    expected = np.array([np.mean([np.mean(w ** 2) for w in clip.reshape(ae.n_windows_, -1)]) for clip in errors])
    np.testing.assert_allclose(ae.anomaly_score(X), expected, rtol=1e-4)
    assert ae.n_windows_ == 1 + 320 // 32 - 2 + 1


def test_selective_mahalanobis_against_numpy(clips):
    """Covariances of the training errors per domain, inverted; the smaller quadratic form of the mean error."""
    X, domain = clips
    ae = DenseAutoencoderScorer(mode="selective_mahalanobis", **TINY).fit(X, domain=domain)
    errors = _numpy_errors(ae, X)

    def covariance(rows):
        centred = rows - rows.mean(axis=0)
        return centred.T @ centred / (len(rows) - 1)

    source = covariance(errors[domain == "source"].reshape(-1, ae.n_mels))
    target = covariance(errors[domain == "target"].reshape(-1, ae.n_mels))
    np.testing.assert_allclose(ae.source_covariance_, source, rtol=1e-3, atol=1e-6 * np.abs(source).max())
    np.testing.assert_allclose(ae.target_covariance_, target, rtol=1e-3, atol=1e-6 * np.abs(target).max())
    mean_error = errors.mean(axis=1)
    P_s, P_t = np.linalg.inv(source), np.linalg.inv(target)
    expected = [min(e @ P_s @ e, e @ P_t @ e) for e in mean_error]
    np.testing.assert_allclose(ae.anomaly_score(X), expected, rtol=1e-3)
    assert ae.n_target_ == 3


def test_scores_follow_the_outlier_detector_signs(clips):
    X, domain = clips
    for mode in ("mse", "selective_mahalanobis"):
        ae = DenseAutoencoderScorer(mode=mode, contamination=0.25, **TINY).fit(X, domain=domain)
        normality = ae.score_samples(X)
        assert normality.dtype == np.float64
        np.testing.assert_array_equal(ae.anomaly_score(X), -normality)
        np.testing.assert_allclose(ae.decision_function(X), normality - ae.offset_)
        labels = ae.predict(X)
        np.testing.assert_array_equal(labels, np.where(normality - ae.offset_ < 0, -1, 1))
        # offset_ from the training clips' own scores: a quarter of them called anomalous
        assert np.mean(labels == -1) == pytest.approx(0.25, abs=1 / len(X))
    assert not hasattr(ae, "transform")


def test_same_seed_same_scores(clips):
    X, _ = clips
    first = DenseAutoencoderScorer(**TINY).fit(X).anomaly_score(X)
    np.testing.assert_array_equal(DenseAutoencoderScorer(**TINY).fit(X).anomaly_score(X), first)


# -- the domain --------------------------------------------------------------------


def test_domain_reaches_fit_through_metadata_routing(clips):
    X, domain = clips
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = DenseAutoencoderScorer(mode="selective_mahalanobis", **TINY).set_fit_request(domain=True)
        pipeline = make_pipeline(scorer).fit(X, domain=domain)
    direct = DenseAutoencoderScorer(mode="selective_mahalanobis", **TINY).fit(X, domain=domain)
    assert pipeline[-1].n_target_ == 3
    np.testing.assert_array_equal(pipeline.score_samples(X), direct.score_samples(X))


def test_without_domain_the_selective_distance_is_a_single_one(clips):
    X, _ = clips
    with pytest.warns(UserWarning, match=r"^No domain was given to DenseAutoencoderScorer\.fit: all clips are taken"):
        ae = DenseAutoencoderScorer(mode="selective_mahalanobis", **TINY).fit(X)
    np.testing.assert_array_equal(ae.target_covariance_, ae.source_covariance_)
    assert ae.n_target_ == 0
    # all-source domain: the same, silently; the MSE needs no domain
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        all_source = DenseAutoencoderScorer(mode="selective_mahalanobis", **TINY).fit(X, domain=["source"] * len(X))
        DenseAutoencoderScorer(**TINY).fit(X)
    np.testing.assert_array_equal(all_source.anomaly_score(X), ae.anomaly_score(X))


@pytest.mark.parametrize("domain, message", [
    (["source"] * 11, "domain has 11 values but X has 12 clips."),
    (["source"] * 11 + ["other"], "domain must hold 'source' or 'target' for each clip; found ['other']."),
])
def test_bad_domain_is_refused(clips, domain, message):
    X, _ = clips
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        DenseAutoencoderScorer(**TINY).fit(X, domain=domain)


def test_bad_hidden_units_are_refused(clips):
    X, _ = clips
    with pytest.raises(ValueError, match=r"^hidden_units must be a sequence of positive ints; got \(3, 0\)\.$"):
        DenseAutoencoderScorer(**{**TINY, "hidden_units": (3, 0)}).fit(X)


# -- the presets --------------------------------------------------------------------


@pytest.mark.parametrize("name, mode", [("dcase-ae", "mse"), ("dcase-ae-mahalanobis", "selective_mahalanobis")])
def test_presets_fit_on_generated_clips_with_the_domain(name, mode):
    """The published settings, trained 3 epochs instead of 100, per machine type and section, domain routed."""
    data = make_machine_sounds(machine_types="fan", n_sections=1, n_source_train=8, n_target_train=3,
                               n_test_normal=4, n_test_anomalous=4, duration=0.5, random_state=0)
    frame = data.frame
    train = (frame["split"] == "train").to_numpy()
    preset = make_preset(name, sample_rate=data.sample_rate, random_state=0)
    ae = preset[-1]
    assert (ae.mode, ae.n_fft, ae.hop_length, ae.n_mels, ae.n_frames, ae.hidden_units, ae.bottleneck, ae.lr,
            ae.batch_size, ae.max_epochs) == (mode, 1024, 512, 128, 5, (128, 128, 128, 128), 8, 1e-3, 256, 100)
    models = fit_models(lambda: _short(name, data.sample_rate), data.data[train], frame[train])
    anomaly_score, decision = score_models(models, data.data[~train], frame[~train])
    assert np.isfinite(anomaly_score).all() and set(np.unique(decision)) <= {0, 1}
    (model,) = models.values()
    assert model[-1].n_target_ == 3 and model[-1].n_windows_ == 1 + 8000 // 512 - 5 + 1


def _short(name, sample_rate):
    pipeline = make_preset(name, sample_rate=sample_rate, random_state=0)
    pipeline[-1].set_params(max_epochs=3)
    return pipeline
