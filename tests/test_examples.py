"""The examples run and give the results their docs describe."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
VALVE_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "dcase2023t2_dev_valve_test"


def _load(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


@pytest.mark.skipif(not VALVE_TEST.is_dir(), reason="the shared DCASE clips are not beside the repository")
def test_valve_standard_split_example():
    example = _load("valve_standard_split.py")
    valve = example["load_dcase"](VALVE_TEST, verbose=0)
    fit = example["first_normals_split"](valve.frame, n_source=30, n_target=5)
    assert fit.sum() == 35
    assert valve.frame[fit]["index"].max() == 29
    evaluated = valve.frame[~fit]
    assert evaluated.groupby(["domain", "label"]).size().to_dict() == {
        ("source", 0): 20, ("source", 1): 50, ("target", 0): 45, ("target", 1): 50,
    }
    table, score = example["main"](VALVE_TEST)
    values = table[["auc_source", "auc_target", "pauc"]].iloc[0].to_numpy()
    assert score == pytest.approx(3 / (1 / values).sum())


def test_model_selection_example():
    search, score = _load("model_selection.py")["main"]()
    assert len(search.cv_results_["params"]) == 4
    assert 0.5 < score <= 1.0
