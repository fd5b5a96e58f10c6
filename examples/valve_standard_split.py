"""A baseline on real DCASE 2023 valve clips, with skasd's standard split.

Fits log-mel statistics + local outlier factor on the 35 normal clips of the
standard split (source index 0-29, target index 0-4) of the development
set's valve test clips, and reports the official DCASE 2023 metric on the
other 165 clips. Run from the repository root:

    .venv/bin/python examples/valve_standard_split.py [DATA_FOLDER]
"""

import sys
from pathlib import Path

from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skasd import LogMelStatistics
from skasd.datasets import first_normals_split, load_dcase
from skasd.metrics import dcase_scores

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "dcase2023t2_dev_valve_test"


def main(folder=DEFAULT_FOLDER):
    valve = load_dcase(folder, verbose=1)
    fit = first_normals_split(valve.frame, n_source=30, n_target=5)
    model = make_pipeline(LogMelStatistics(), StandardScaler(), LocalOutlierFactor(n_neighbors=5, novelty=True))
    model.fit(valve.data[fit])
    evaluate = ~fit
    table, score = dcase_scores(
        valve.target[evaluate],
        -model.score_samples(valve.data[evaluate]),
        valve.frame["domain"][evaluate],
        valve.frame["machine"][evaluate],
    )
    print(f"fitted on {fit.sum()} normal clips, evaluated on {evaluate.sum()}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"official score: {score:.4f}")
    return table, score


if __name__ == "__main__":
    main(*sys.argv[1:])
