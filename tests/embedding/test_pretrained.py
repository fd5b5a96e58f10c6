"""Tests of the frame pooling and TorchModuleEmbedder against numpy references."""

import contextlib
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skasd.embedding._pooling import FramePooling
from skasd.embedding._pretrained import TorchModuleEmbedder

FRAME, DIM = 50, 6


class FrameModel(torch.nn.Module):
    """(batch, n_samples) -> (batch, n_samples // FRAME, DIM): a linear map of each frame.

    Defined at module level so that estimators holding it pickle. The
    dropout checks that the embedder runs the model in evaluation mode.
    """

    def __init__(self, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.frame = FRAME
        self.proj = torch.nn.Linear(FRAME, DIM)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(DIM, FRAME, generator=generator))
            self.proj.bias.copy_(torch.randn(DIM, generator=generator))
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, waveforms):
        n_frames = waveforms.shape[1] // self.frame
        frames = waveforms[:, : n_frames * self.frame].reshape(
            waveforms.shape[0], n_frames, self.frame
        )
        return self.dropout(self.proj(frames))


class ClipModel(torch.nn.Module):
    """(batch, n_samples) -> (batch, 2): mean and max of each clip, already one vector per clip."""

    def forward(self, waveforms):
        return torch.stack([waveforms.mean(dim=1), waveforms.amax(dim=1)], dim=1)


class BadOutputModel(torch.nn.Module):
    """Returns what the test asks for, to break the output contract."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def forward(self, waveforms):
        if self.kind == "1d":
            return waveforms.sum(dim=1)
        if self.kind == "tuple":
            return (waveforms, waveforms)
        if self.kind == "int":
            return waveforms.long()[:, :3]
        if self.kind == "batch":
            return waveforms[:1, :3]  # right for a batch of one clip only
        if self.kind == "nan":
            return torch.where(waveforms[:, :3] > 0, torch.nan, 0.0)
        raise AssertionError(self.kind)


def make_frame_model():
    """Factory for module_factory: a fresh FrameModel with fixed weights."""
    return FrameModel(seed=0)


def make_not_a_module():
    return np.zeros(3)


def reference_embeddings(X, model, pooling="mean"):
    """Float64 numpy: frames @ W.T + b, pooled over frames."""
    weight = model.proj.weight.detach().numpy().astype(np.float64)
    bias = model.proj.bias.detach().numpy().astype(np.float64)
    n_frames = X.shape[1] // FRAME
    frames = (
        X[:, : n_frames * FRAME].reshape(len(X), n_frames, FRAME).astype(np.float64)
    )
    outputs = frames @ weight.T + bias
    pooled = {"mean": outputs.mean(axis=1), "max": outputs.max(axis=1)}
    pooled["meanmax"] = np.concatenate([pooled["mean"], pooled["max"]], axis=1)
    return pooled[pooling]


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(5, 10 * FRAME + 7))


@contextlib.contextmanager
def quiet_jit():
    """TorchScript is deprecated in recent torch; its warnings are not what these tests judge."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def save_torchscript(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(model), str(path))


# --- FramePooling -------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "max", "meanmax"])
def test_frame_pooling_matches_numpy(pooling):
    frames = np.random.default_rng(1).normal(size=(4, 7, 3))
    expected = {
        "mean": frames.mean(axis=1),
        "max": frames.max(axis=1),
        "meanmax": np.concatenate([frames.mean(axis=1), frames.max(axis=1)], axis=1),
    }[pooling]
    pooled = FramePooling(pooling)(torch.from_numpy(frames)).numpy()
    assert pooled.shape == expected.shape
    assert_allclose(pooled, expected, rtol=1e-12)


def test_frame_pooling_passes_clip_level_outputs_through():
    clips = torch.randn(3, 5)
    for pooling in ["mean", "max", "meanmax"]:
        assert torch.equal(FramePooling(pooling)(clips), clips)


def test_frame_pooling_errors():
    with pytest.raises(ValueError, match="pooling='median' is not one of"):
        FramePooling("median")
    with pytest.raises(
        ValueError,
        match=r"\(batch, n_frames, dim\) or \(batch, dim\), got shape \(3,\)",
    ):
        FramePooling()(torch.ones(3))
    with pytest.raises(ValueError, match="zero frames"):
        FramePooling()(torch.ones(2, 0, 4))


# --- TorchModuleEmbedder: the three ways to bring a model -----------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "max", "meanmax"])
def test_module_embeddings_match_numpy(X, pooling):
    model = FrameModel()
    embedder = TorchModuleEmbedder(model, pooling=pooling, batch_size=2).fit(X)
    E = embedder.transform(X)
    assert E.dtype == np.float32
    assert E.shape == (len(X), 2 * DIM if pooling == "meanmax" else DIM)
    assert embedder.output_shape_ == (10, DIM)
    assert_allclose(E, reference_embeddings(X, model, pooling), rtol=1e-5, atol=1e-5)
    # Dropout is off (evaluation mode): repeated transforms agree exactly.
    assert_array_equal(embedder.transform(X), E)


def test_fit_leaves_the_module_parameter_untouched(X):
    model = FrameModel()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    embedder = TorchModuleEmbedder(model).fit(X)
    assert model.training, "fit must not switch the caller's module to eval mode"
    assert embedder.module_ is not model
    assert not embedder.module_.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_torchscript_and_state_dict_files_give_the_same_embeddings(X, tmp_path):
    model = FrameModel(seed=3)
    expected = TorchModuleEmbedder(model).fit(X).transform(X)

    script_path = tmp_path / "model.pt"
    save_torchscript(model, script_path)
    with quiet_jit():
        scripted = TorchModuleEmbedder(weights=script_path).fit(X)
    assert isinstance(scripted.module_, torch.jit.ScriptModule)
    assert_array_equal(scripted.transform(X), expected)

    state_path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), state_path)
    into_module = TorchModuleEmbedder(
        FrameModel(seed=99), weights=str(state_path)
    ).fit(X)
    assert_array_equal(into_module.transform(X), expected)
    from_factory = TorchModuleEmbedder(
        module_factory=make_frame_model, weights=state_path
    ).fit(X)
    assert_array_equal(from_factory.transform(X), expected)
    # Without weights, the factory's own weights (seed 0) are used.
    plain_factory = TorchModuleEmbedder(module_factory=make_frame_model).fit(X)
    assert_allclose(
        plain_factory.transform(X),
        reference_embeddings(X, FrameModel(seed=0)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_weights_key_selects_the_state_dict(X, tmp_path):
    model = FrameModel(seed=4)
    path = tmp_path / "checkpoint.pt"
    torch.save({"cfg": {"frame": FRAME}, "model": model.state_dict()}, path)
    embedder = TorchModuleEmbedder(
        FrameModel(), weights=path, weights_key="model"
    ).fit(X)
    assert_allclose(
        embedder.transform(X), reference_embeddings(X, model), rtol=1e-5, atol=1e-5
    )

    with pytest.raises(
        ValueError,
        match=r"does not hold a state dict.*top-level keys are \['cfg', 'model'\].*weights_key",
    ):
        TorchModuleEmbedder(FrameModel(), weights=path).fit(X)
    with pytest.raises(
        ValueError,
        match=r"weights_key='weights' is not in .*found: \['cfg', 'model'\]",
    ):
        TorchModuleEmbedder(
            FrameModel(), weights=path, weights_key="weights"
        ).fit(X)


def renamed(old, new):
    """The FutureWarning of a parameter renamed in 0.1."""
    return f"`{old}` was renamed `{new}` in version 0.1 and will be removed in 0.2."


def test_former_names_checkpoint_and_checkpoint_key_warn_and_are_used(X, tmp_path):
    model = FrameModel(seed=4)
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict()}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the new names do not warn
        expected = TorchModuleEmbedder(FrameModel(), weights=path, weights_key="model").fit(X).transform(X)
    with pytest.warns(FutureWarning) as record:
        old = TorchModuleEmbedder(FrameModel(), checkpoint=path, checkpoint_key="model").fit(X)
    assert [str(w.message) for w in record if w.category is FutureWarning] == [
        renamed("checkpoint", "weights"), renamed("checkpoint_key", "weights_key"),
    ]
    assert_array_equal(old.transform(X), expected)
    assert_allclose(expected, reference_embeddings(X, model), rtol=1e-5, atol=1e-5)
    # A TorchScript file under the former name.
    script_path = tmp_path / "model.pt"
    save_torchscript(model, script_path)
    with quiet_jit(), pytest.warns(FutureWarning, match=f"^{re.escape(renamed('checkpoint', 'weights'))}$"):
        scripted = TorchModuleEmbedder(checkpoint=script_path).fit(X)
    assert_array_equal(scripted.transform(X), expected)


@pytest.mark.parametrize("old, new", [("checkpoint", "weights"), ("checkpoint_key", "weights_key")])
def test_former_and_new_name_together_are_an_error(X, tmp_path, old, new):
    path = tmp_path / "weights.pt"
    torch.save({"model": FrameModel().state_dict()}, path)
    given = {"weights": path, "weights_key": "model", old: path if old == "checkpoint" else "model"}
    message = (
        f"Only one of `{new}` and `{old}` may be given: `{old}` was renamed `{new}` in version 0.1; "
        f"pass `{new}` only."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TorchModuleEmbedder(FrameModel(), **given).fit(X)


def test_mismatched_state_dict_names_the_keys(X, tmp_path):
    state = FrameModel().state_dict()
    state["extra.weight"] = torch.zeros(2)
    del state["proj.bias"]
    state["proj.weight"] = torch.zeros(DIM + 1, FRAME)
    path = tmp_path / "mismatched.pt"
    torch.save(state, path)
    with pytest.raises(ValueError) as error:
        TorchModuleEmbedder(FrameModel(), weights=path).fit(X)
    message = str(error.value)
    assert "does not match the module's state dict" in message
    assert "missing keys (in the module, not in the file): 'proj.bias'" in message
    assert "unexpected keys (in the file, not in the module): 'extra.weight'" in message
    assert "'proj.weight': (7, 50) in the file, (6, 50) in the module" in message


def test_missing_and_corrupt_files(X, tmp_path):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(
        ValueError, match=r"weights='.*nowhere\.pt' is not an existing file"
    ):
        TorchModuleEmbedder(weights=missing).fit(X)
    with pytest.raises(ValueError, match="is not an existing file"):
        TorchModuleEmbedder(FrameModel(), weights=missing).fit(X)

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"certainly not a checkpoint")
    with (
        quiet_jit(),
        pytest.raises(ValueError, match="could not be loaded as a TorchScript file"),
    ):
        TorchModuleEmbedder(weights=corrupt).fit(X)
    with pytest.raises(
        ValueError,
        match=r"could not be loaded as a state dict with torch.load\(weights_only=True\)",
    ):
        TorchModuleEmbedder(FrameModel(), weights=corrupt).fit(X)

    # A state dict is not a TorchScript file, and vice versa.
    state_path = tmp_path / "weights.pt"
    torch.save(FrameModel().state_dict(), state_path)
    with (
        quiet_jit(),
        pytest.raises(ValueError, match="could not be loaded as a TorchScript file"),
    ):
        TorchModuleEmbedder(weights=state_path).fit(X)
    script_path = tmp_path / "model.pt"
    save_torchscript(FrameModel(), script_path)
    with pytest.raises(
        ValueError,
        match="is a TorchScript file, not a state dict: pass it without module",
    ):
        TorchModuleEmbedder(FrameModel(), weights=script_path).fit(X)


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_state_dict_loading_refuses_pickled_code(X, tmp_path, capsys):
    path = tmp_path / "payload.pt"
    torch.save({"proj.weight": _Payload()}, path)
    with pytest.raises(ValueError, match="could not be loaded as a state dict"):
        TorchModuleEmbedder(FrameModel(), weights=path).fit(X)
    assert "this must never run" not in capsys.readouterr().out


def test_how_the_model_is_given_is_checked(X):
    with pytest.raises(ValueError, match="needs a model"):
        TorchModuleEmbedder().fit(X)
    with pytest.raises(ValueError, match="at most one of module and module_factory"):
        TorchModuleEmbedder(FrameModel(), module_factory=make_frame_model).fit(X)
    with pytest.raises(
        ValueError,
        match="module_factory must return a torch.nn.Module; it returned a ndarray",
    ):
        TorchModuleEmbedder(module_factory=make_not_a_module).fit(X)
    with pytest.raises(ValueError, match="weights_key is only used with weights"):
        TorchModuleEmbedder(FrameModel(), weights_key="model").fit(X)
    with pytest.raises(
        ValueError, match="'module' parameter of TorchModuleEmbedder must be"
    ):
        TorchModuleEmbedder(module="resnet").fit(X)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "1d",
            r"shape \(batch, dim\) or \(batch, n_frames, dim\); for a batch of shape \(1, n_samples\) it returned shape \(1,\)",
        ),
        ("tuple", "it returned a tuple"),
        ("int", "must return floating-point values; it returned torch.int64"),
    ],
)
def test_output_contract_is_checked_in_fit(X, kind, message):
    with pytest.raises(ValueError, match=message):
        TorchModuleEmbedder(BadOutputModel(kind)).fit(X)


def test_wrong_batch_size_and_nan_outputs_are_caught_in_transform(X):
    # Fit sees a batch of one clip, for which the output is right; a batch of two is not.
    embedder = TorchModuleEmbedder(BadOutputModel("batch"), batch_size=2).fit(X)
    with pytest.raises(
        ValueError,
        match=r"for a batch of shape \(2, n_samples\) it returned shape \(1, 3\)",
    ):
        embedder.transform(X)
    embedder = TorchModuleEmbedder(BadOutputModel("nan")).fit(
        -np.abs(X)
    )  # no NaN on the first clip
    with pytest.raises(
        ValueError,
        match=r"module produced NaN or infinite embeddings for 5 clip\(s\), the first at row 0",
    ):
        embedder.transform(np.abs(X))


def test_clip_level_module_output_is_not_pooled(X):
    embedder = TorchModuleEmbedder(ClipModel(), pooling="meanmax").fit(X)
    assert embedder.output_shape_ == (2,)
    E = embedder.transform(X)
    assert_allclose(
        E, np.stack([X.mean(axis=1), X.max(axis=1)], axis=1), rtol=1e-5, atol=1e-6
    )
    assert embedder.get_feature_names_out().tolist() == [
        "torchmoduleembedder0",
        "torchmoduleembedder1",
    ]


def test_feature_names_follow_the_pooling(X):
    embedder = TorchModuleEmbedder(FrameModel(), pooling="meanmax").fit(X)
    names = embedder.get_feature_names_out()
    assert len(names) == 2 * DIM == embedder.transform(X).shape[1]
    assert names[0] == "torchmoduleembedder0"


# --- Runtime: dtype, batching, threads, device, fitted state ------------------------------------


def test_output_is_float32_and_independent_of_batching_and_threads(X):
    model = FrameModel()
    reference = TorchModuleEmbedder(model, batch_size=len(X)).fit(X).transform(X)
    for batch_size, n_jobs in [(1, None), (2, 2), (3, -1)]:
        E = (
            TorchModuleEmbedder(model, batch_size=batch_size, n_jobs=n_jobs)
            .fit(X)
            .transform(X.astype(np.float32))
        )
        assert E.dtype == np.float32
        assert_allclose(E, reference, rtol=1e-6, atol=1e-6)


def test_transform_requires_fit_and_the_fitted_clip_length(X):
    embedder = TorchModuleEmbedder(FrameModel())
    with pytest.raises(NotFittedError):
        embedder.transform(X)
    embedder.fit(X)
    with pytest.raises(
        ValueError,
        match=f"X has {X.shape[1] - 1} features, but TorchModuleEmbedder is expecting {X.shape[1]}",
    ):
        embedder.transform(X[:, :-1])
    with pytest.raises(ValueError, match="NaN"):
        embedder.transform(np.where(X > 2, np.nan, X))


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the error on machines without CUDA"
)
def test_cuda_without_a_gpu_is_a_clear_error(X):
    with pytest.raises(
        ValueError, match="device='cuda' was requested but CUDA is not available"
    ):
        TorchModuleEmbedder(FrameModel(), device="cuda").fit(X)
    embedder = TorchModuleEmbedder(FrameModel()).fit(X)
    embedder.set_params(device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        embedder.transform(X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_embeddings_match_cpu_and_the_fitted_module_stays_on_cpu(
    X,
):  # pragma: no cover
    embedder = TorchModuleEmbedder(FrameModel().cuda(), device="cuda").fit(X)
    assert all(p.device.type == "cpu" for p in embedder.module_.parameters())
    gpu = embedder.transform(X)
    state = pickle.loads(pickle.dumps(embedder))
    assert all(p.device.type == "cpu" for p in state.module.parameters())
    assert_allclose(
        gpu, state.set_params(device="cpu").transform(X), rtol=1e-4, atol=1e-5
    )


def test_joblib_round_trip_gives_identical_embeddings(X, tmp_path):
    embedder = TorchModuleEmbedder(FrameModel(), pooling="max").fit(X)
    path = tmp_path / "embedder.joblib"
    joblib.dump(embedder, path)
    loaded = joblib.load(path)
    assert_array_equal(loaded.transform(X), embedder.transform(X))


def test_torchscript_embedders_pickle(X, tmp_path):
    script_path = tmp_path / "model.pt"
    save_torchscript(FrameModel(seed=5), script_path)
    with quiet_jit():
        embedder = TorchModuleEmbedder(weights=script_path).fit(X)
        expected = embedder.transform(X)
        # ScriptModules do not pickle by themselves; the estimator does.
        with pytest.raises(Exception):  # noqa: B017 - torch's own error type varies
            pickle.dumps(embedder.module_)
        joblib.dump(embedder, tmp_path / "embedder.joblib")
        script_path.unlink()  # the pickle carries the model, not a path to it
        loaded = joblib.load(tmp_path / "embedder.joblib")
        assert isinstance(loaded.module_, torch.jit.ScriptModule)
        assert_array_equal(loaded.transform(X), expected)
        # A script module given as the module parameter pickles too.
        scripted = torch.jit.script(FrameModel(seed=5))
        unfitted = pickle.loads(pickle.dumps(TorchModuleEmbedder(scripted)))
        assert_array_equal(unfitted.fit(X).transform(X), expected)
    # Pickling did not replace the fitted module by its serialised form.
    assert isinstance(embedder.module_, torch.jit.ScriptModule)


def test_in_a_pipeline_with_a_scaler(X):
    pipeline = make_pipeline(TorchModuleEmbedder(FrameModel()), StandardScaler())
    Z = pipeline.fit_transform(X)
    assert Z.shape == (len(X), DIM)
    assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    expected = reference_embeddings(X, FrameModel())
    assert_allclose(
        Z,
        (expected - expected.mean(axis=0)) / expected.std(axis=0),
        rtol=1e-3,
        atol=1e-4,
    )
    names = pipeline.get_feature_names_out()
    assert names.tolist() == [f"torchmoduleembedder{i}" for i in range(DIM)]


def test_pooling_is_validated(X):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "'pooling' parameter of TorchModuleEmbedder must be a str among"
        ),
    ):
        TorchModuleEmbedder(FrameModel(), pooling="sum").fit(X)
