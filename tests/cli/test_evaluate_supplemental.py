"""``skasd evaluate`` with DCASE 2025 supplemental clips: the iterator's external pool, and noise for training."""

import functools
import warnings

import numpy as np
import pytest
import soundfile as sf
from sklearn.pipeline import Pipeline

from skasd import KNNScorer, LogMelStatistics, MultiBranchEmbedder, PseudoLabelIterator
from skasd._config import dump_toml
from skasd.cli import main
from skasd.cli._supplemental import takes_in_fit
from skasd.datasets import make_machine_sounds, save_dcase
from skasd.persistence import load_models
from skasd.pipelines import PRESETS, fit_pipeline

# The pseudo-label-iterator preset at CPU size: two stages, so that the second selects from the pool.
TINY_PLI = {
    **PRESETS["pseudo-label-iterator"],
    "steps": [
        {"estimator": "PseudoLabelIterator", "params": {
            "embedder": {"estimator": "MultiBranchEmbedder", "params": {
                "branches": ["stft_16ms", "spectrum"], "embedding_dim": 8, "channels": [4], "n_subclusters": 2,
                "batch_size": 16, "max_epochs": 1, "device": "cpu"}},
            "n_stages": 2, "n_clusters_source": 2, "n_clusters_target": 1, "n_max": 5,
        }},
        {"estimator": "KMeansCosineScorer", "params": {"n_clusters": 2}},
    ],
}


@pytest.fixture
def folder(tmp_path):
    """Two machine types in the DCASE layout; fan's supplemental clips are copies of its first training clips."""
    data = make_machine_sounds(
        machine_types=("fan", "gearbox"), n_source_train=16, n_target_train=2, n_test_normal=2, n_test_anomalous=2,
        duration=0.25, random_state=0,
    )
    save_dcase(data, tmp_path / "data")
    train = np.flatnonzero(((data.frame["machine"] == "fan") & (data.frame["split"] == "train")).to_numpy())
    supplemental = tmp_path / "data" / "fan" / "supplemental"
    supplemental.mkdir()
    for index, row in enumerate(train[:6], start=1):
        sf.write(supplemental / f"section_00_machine_{index:04d}_.wav", data.data[row], data.sample_rate,
                 subtype="PCM_16")
    (tmp_path / "pli.toml").write_text(dump_toml(TINY_PLI))
    return tmp_path


def _evaluate(folder, name):
    model = folder / f"{name}.skasd"
    argv = ["evaluate", "--data", folder / "data", "--pipeline", folder / "pli.toml", "--out", folder / name,
            "--save", model, "--quiet", "--no-plots", "--random-state", "0"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert main([str(a) for a in argv]) == 0
    return load_models(model)["models"]["fan", "00"][0]


def test_the_supplemental_clips_are_the_external_pool_of_the_iterator(folder):
    iterator = _evaluate(folder, "with")
    assert isinstance(iterator, PseudoLabelIterator)
    selected = iterator.stages_[1].external
    # fan's clean machine clips, scored like fan's own training clips, are selected (at most n_max per machine type).
    assert 0 < len(selected) <= 2 * 5
    assert set(selected["label"]) <= {"fan_fan_machine", "gearbox_fan_machine"}
    assert set(selected["external_index"]) <= set(range(6))
    assert iterator.stages_[0].external.empty  # stage 1 trains on the original clips only


def test_only_a_step_with_an_external_pool_asks_for_it():
    assert takes_in_fit(Pipeline([("pli", PseudoLabelIterator()), ("knn", KNNScorer())]), "X_external")
    assert takes_in_fit(PseudoLabelIterator(), "X_external")
    assert not takes_in_fit(Pipeline([("features", LogMelStatistics()), ("knn", KNNScorer())]), "X_external")
    assert takes_in_fit(Pipeline([("embed", MultiBranchEmbedder()), ("knn", KNNScorer())]), "noise")
    assert not takes_in_fit(Pipeline([("features", LogMelStatistics()), ("knn", KNNScorer())]), "noise")


def test_declared_noise_clips_are_mixed_into_the_embedders_training(folder, monkeypatch, capsys):
    # The fan supplemental files are named like clean machine clips; declared noise, they go to MultiBranchEmbedder.
    given = []
    fit = MultiBranchEmbedder.fit

    @functools.wraps(fit)  # its signature, which says that it takes noise
    def recording_fit(self, X, y=None, **params):
        given.append(params.get("noise"))
        return fit(self, X, y, **params)

    monkeypatch.setattr(MultiBranchEmbedder, "fit", recording_fit)
    argv = ["evaluate", "--data", folder / "data", "--pipeline", folder / "pli.toml", "--out", folder / "noise",
            "--supplemental-kind", "fan=noise", "--no-plots", "--random-state", "0"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    assert "Reading the supplemental clips of fan as the external pool and noise for training..." in out
    assert "  fan (noise): 6" in out
    expected = sf.read(sorted((folder / "data" / "fan" / "supplemental").iterdir())[0], dtype="float32")[0]
    assert len(given) == 2  # one embedder per stage, each given the 6 noise clips
    for noise in given:
        assert noise.shape == (6, len(expected))
        np.testing.assert_array_equal(noise[0], expected)
    # Not declared: the clips are clean machine sounds, and no noise is given.
    given.clear()
    argv = ["evaluate", "--data", folder / "data", "--pipeline", folder / "pli.toml", "--out", folder / "machine",
            "--no-plots", "--random-state", "0"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert main([str(a) for a in argv]) == 0
    assert given == [None, None]


def test_a_bad_supplemental_kind_is_refused(folder, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--data", str(folder / "data"), "--supplemental-kind", "fan=hum"])
    assert exited.value.code == 2
    assert "argument --supplemental-kind: expected MACHINE=machine or MACHINE=noise, got 'fan=hum'" in (
        capsys.readouterr().err)


def test_fit_params_no_step_takes_are_refused():
    import pandas as pd

    pipeline = Pipeline([("features", LogMelStatistics()), ("knn", KNNScorer())])
    frame = pd.DataFrame({"machine": ["fan"] * 4, "section": ["00"] * 4, "domain": ["source"] * 4})
    with pytest.raises(ValueError, match=r"fit_params \['X_external'\]: no step of the pipeline takes them in fit\."):
        fit_pipeline(pipeline, np.ones((4, 1600), dtype=np.float32), frame, fit_params={"X_external": np.ones((2, 1600))})
