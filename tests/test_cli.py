"""The command line's demo: the README's main job."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hmean

from skasd.cli import main


def test_demo_prints_and_writes_the_official_score_table(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "scores.csv", dtype={"section": str})
    assert sorted(table["machine"]) == ["bearing", "fan", "gearbox", "pump"]
    values = table[["auc_source", "auc_target", "pauc"]].to_numpy()
    official = hmean(values.ravel())
    assert f"Official score (harmonic mean of all AUCs and pAUCs): {official:.4f}" in printed
    np.testing.assert_allclose(table["hmean"], hmean(values, axis=1))
    # Local-density k-NN on log-mel statistics: well above chance in both
    # domains of the generated data (plain k-NN falls to ~0.7 in the target).
    assert (table["auc_source"] > 0.75).all()
    assert (table["auc_target"] > 0.75).all()
    for machine in table["machine"]:
        for kind in ("anomaly_score", "decision_result"):
            written = pd.read_csv(tmp_path / "submission" / f"{kind}_{machine}_section_00_test.csv", header=None)
            assert len(written) == 200
            assert written[0].str.startswith("section_00_").all()


def test_module_entry_point_shows_help():
    result = subprocess.run([sys.executable, "-m", "skasd", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in result.stdout


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit) as exc:
        main(["train-everything"])
    assert exc.value.code == 2
