"""The examples run and give the results their docs describe."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def test_valve_standard_split_example(valve_test):
    example = _load("valve_standard_split.py")
    valve = example["load_dcase"](valve_test, verbose=0)
    fit = example["first_normals_split"](valve.frame, n_source=30, n_target=5)
    assert fit.sum() == 35
    assert valve.frame[fit]["index"].max() == 29
    evaluated = valve.frame[~fit]
    assert evaluated.groupby(["domain", "label"]).size().to_dict() == {
        ("source", 0): 20, ("source", 1): 50, ("target", 0): 45, ("target", 1): 50,
    }
    table, score = example["main"](valve_test)
    values = table[["auc_source", "auc_target", "pauc"]].iloc[0].to_numpy()
    assert score == pytest.approx(3 / (1 / values).sum())


def test_model_selection_example():
    search, score = _load("model_selection.py")["main"]()
    assert len(search.cv_results_["params"]) == 4
    assert 0.5 < score <= 1.0


def test_acp_ensemble_example():
    results = _load("acp_ensemble.py")["main"](fast=True)
    assert set(results["held_out"]) == {"acp", "uniform", "best_single"}
    for weights in results["weights"].values():
        assert sum(weights.values()) == pytest.approx(1.0, abs=2e-3)
    assert results["dev"]["acp"] >= results["dev"]["uniform"]
    assert results["dev"]["best_single"] == pytest.approx(max(results["members_dev"].values()))
    assert all(0.5 < score <= 1.0 for score in results["held_out"].values())
