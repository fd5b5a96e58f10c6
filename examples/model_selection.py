"""Choose a scorer's parameter with the DCASE metric, then report on held-out clips.

The flow a DCASE user needs: fit on normal training clips only, tune on a
labelled development split (GridSearchCV with a PredefinedSplit whose test
fold holds normals and anomalies, `domain` routed to the scorer), and report
on a separate evaluation split, never on the clips used for tuning.

    .venv/bin/python examples/model_selection.py
"""

import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skasd import LogMelStatistics
from skasd.datasets import make_machine_sounds
from skasd.metrics import dcase_scores, make_dcase_scorer


def main(random_state=0):
    data = make_machine_sounds(machine_types=["gearbox"], random_state=random_state, verbose=0)
    frame = data.frame
    features = LogMelStatistics(sample_rate=data.sample_rate).fit_transform(data.data)
    train = (frame["split"] == "train").to_numpy()
    # Half of the test clips (alternating) for development, half for the report.
    test_positions = np.flatnonzero(~train)
    development = np.zeros(len(frame), bool)
    development[test_positions[::2]] = True
    evaluation = ~train & ~development

    rows = train | development
    test_fold = np.where(development[rows], 0, -1)  # -1: always training
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_dcase_scorer().set_score_request(domain=True)
        search = GridSearchCV(
            make_pipeline(StandardScaler(), LocalOutlierFactor(novelty=True)),
            {"localoutlierfactor__n_neighbors": [1, 3, 10, 30]},
            scoring=scorer,
            cv=PredefinedSplit(test_fold),
            refit=False,
        )
        search.fit(features[rows], data.target[rows], domain=frame["domain"].to_numpy()[rows])
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        print(f"development: {params} official score {score:.4f}")

    # Refit the chosen setting on the normal training clips only.
    best = make_pipeline(StandardScaler(), LocalOutlierFactor(novelty=True)).set_params(**search.best_params_)
    best.fit(features[train])
    table, score = dcase_scores(
        data.target[evaluation], -best.score_samples(features[evaluation]), frame["domain"][evaluation]
    )
    print(f"held-out evaluation with {search.best_params_}: official score {score:.4f}")
    return search, score


if __name__ == "__main__":
    main()
