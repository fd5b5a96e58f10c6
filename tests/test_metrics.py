"""Tests of the DCASE metric against independent computations."""

import sys

import numpy as np
import pandas as pd
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import hmean
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit, cross_validate
from sklearn.neighbors import LocalOutlierFactor

from skasd.metrics import dcase_scores, make_dcase_scorer, official_score, partial_auc


@st.composite
def labelled_scores(draw):
    n = draw(st.integers(4, 40))
    y = draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)))
    # Few distinct values so that ties occur.
    scores = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    return np.array(y), np.array(scores, dtype=float)


@settings(max_examples=200, deadline=None)
@given(labelled_scores(), st.sampled_from([0.05, 0.1, 0.3, 1.0]))
def test_standardized_partial_auc_equals_scikit_learn(data, max_fpr):
    y, scores = data
    expected = roc_auc_score(y, scores, max_fpr=None if max_fpr == 1.0 else max_fpr)
    assert partial_auc(y, scores, max_fpr=max_fpr) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labelled_scores())
def test_raw_and_standardized_partial_auc_are_related_by_mcclish(data):
    y, scores = data
    p = 0.1
    raw_area = partial_auc(y, scores, max_fpr=p, standardized=False) * p
    assert partial_auc(y, scores, max_fpr=p) == pytest.approx(0.5 * (1 + (raw_area - p * p / 2) / (p - p * p / 2)))
    assert 0.0 <= raw_area / p <= 1.0


def test_raw_partial_auc_by_hand():
    # 10 normals, 2 anomalies. Descending: anomaly (3.0), normal (2.0), anomaly
    # (1.5), then normals. Up to FPR 0.1 (one normal) the TPR is 0.5; the curve
    # then jumps to 1.0 at FPR 0.1 exactly, which counts: area = 0.1 * 0.5.
    y = np.array([1, 0, 1] + [0] * 9)
    scores = np.array([3.0, 2.0, 1.5] + [1.0] * 9)
    assert partial_auc(y, scores, standardized=False) == pytest.approx(0.5)
    # Area 0.05, McClish: 0.5 * (1 + (0.05 - 0.005) / (0.1 - 0.005)).
    assert partial_auc(y, scores) == pytest.approx(0.5 * (1 + 0.045 / 0.095))


def test_perfect_and_inverted_scorers():
    y = np.array([0] * 20 + [1] * 5)
    scores = np.arange(25.0)
    assert partial_auc(y, scores) == 1.0
    assert partial_auc(y, scores, standardized=False) == 1.0
    assert partial_auc(y, -scores, standardized=False) == 0.0


def _hand_built_section():
    # source normals, target normals, source anomalies, target anomalies
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    domain = np.array(["source"] * 3 + ["target"] * 3 + ["source", "source", "target", "target"])
    scores = np.array([0.1, 0.2, 0.3, 0.5, 0.6, 0.9, 0.95, 0.8, 0.7, 0.35])
    return y, scores, domain


def test_2023_definition_by_hand():
    y, scores, domain = _hand_built_section()
    table, score = dcase_scores(y, scores, domain)
    # Source AUC: source normals {0.1, 0.2, 0.3} vs all anomalies
    # {0.95, 0.8, 0.7, 0.35}: all 12 pairs ordered right.
    assert table.loc[0, "auc_source"] == 1.0
    # Target AUC: target normals {0.5, 0.6, 0.9} vs all anomalies: 0.95
    # beats 3, 0.8 and 0.7 beat 2 each, 0.35 beats none: 7 of 12 pairs.
    assert table.loc[0, "auc_target"] == pytest.approx(7 / 12)
    assert table.loc[0, "pauc"] == pytest.approx(roc_auc_score(y, scores, max_fpr=0.1))
    values = [1.0, 7 / 12, table.loc[0, "pauc"]]
    assert table.loc[0, "hmean"] == pytest.approx(3 / sum(1 / v for v in values))
    assert score == pytest.approx(3 / sum(1 / v for v in values))


def test_all_anomalies_rule_differs_from_within_domain():
    y, scores, domain = _hand_built_section()
    table_2023, _ = dcase_scores(y, scores, domain, definition="2023")
    table_2021, score_2021 = dcase_scores(y, scores, domain, definition="2021")
    source = domain == "source"
    target = ~source
    # 2021: target normals {0.5, 0.6, 0.9} vs target anomalies {0.7, 0.35}: 2 of 6.
    assert table_2021.loc[0, "auc_target"] == pytest.approx(2 / 6)
    assert table_2021.loc[0, "auc_target"] == pytest.approx(roc_auc_score(y[target], scores[target]))
    assert table_2023.loc[0, "auc_target"] != pytest.approx(table_2021.loc[0, "auc_target"])
    expected = [
        roc_auc_score(y[source], scores[source]),
        roc_auc_score(y[target], scores[target]),
        roc_auc_score(y[source], scores[source], max_fpr=0.1),
        roc_auc_score(y[target], scores[target], max_fpr=0.1),
    ]
    assert table_2021[["auc_source", "auc_target", "pauc_source", "pauc_target"]].iloc[0].tolist() == pytest.approx(
        expected
    )
    assert score_2021 == pytest.approx(hmean(expected))


def test_2020_definition_is_an_arithmetic_mean():
    rng = np.random.default_rng(0)
    y = np.tile([0, 0, 0, 1], 10)
    scores = rng.normal(size=40) + y
    machine = np.repeat(["fan", "pump"], 20)
    table, score = dcase_scores(y, scores, machine=machine, definition="2020")
    expected = []
    for name in ("fan", "pump"):
        mask = machine == name
        expected += [roc_auc_score(y[mask], scores[mask]), roc_auc_score(y[mask], scores[mask], max_fpr=0.1)]
    assert table[["auc", "pauc"]].to_numpy().ravel().tolist() == pytest.approx(expected)
    assert score == pytest.approx(np.mean(expected))
    assert table["mean"].tolist() == pytest.approx([np.mean(expected[:2]), np.mean(expected[2:])])


def test_official_score_over_machines_and_sections():
    rng = np.random.default_rng(1)
    n = 160
    y = rng.integers(0, 2, n)
    domain = rng.choice(["source", "target"], n)
    machine = np.repeat(["fan", "valve"], n // 2)
    section = np.tile(np.repeat(["00", "01"], n // 4), 2)
    scores = rng.normal(size=n) + 0.8 * y
    table, score = dcase_scores(y, scores, domain, machine, section)
    assert table[["machine", "section"]].values.tolist() == [["fan", "00"], ["fan", "01"], ["valve", "00"], ["valve", "01"]]
    values = []
    for (m, s) in table[["machine", "section"]].values:
        g = (machine == m) & (section == s)
        for d in ("source", "target"):
            mask = g & ((domain == d) | (y == 1))
            values.append(roc_auc_score(y[mask], scores[mask]))
        values.append(roc_auc_score(y[g], scores[g], max_fpr=0.1))
    assert score == pytest.approx(hmean(values))
    assert official_score(y, scores, domain, machine, section) == score


def test_values_are_clipped_at_machine_epsilon():
    # An inverted scorer: AUCs of exactly 0 would make the harmonic mean 0
    # (scipy) or undefined; the official evaluator clips them at epsilon.
    y = np.array([0, 0, 1, 1])
    domain = np.array(["source", "target", "source", "target"])
    table, score = dcase_scores(y, -np.arange(4.0), domain)
    assert table.loc[0, "auc_source"] == 0.0
    eps = sys.float_info.epsilon
    assert score == pytest.approx(hmean([eps, eps, table.loc[0, "pauc"]]))
    assert score > 0


def test_definitions_2022_to_2025_are_the_same():
    y, scores, domain = _hand_built_section()
    reference = dcase_scores(y, scores, domain, definition="2023")[1]
    for year in ("2022", "2024", "2025", 2024):
        assert dcase_scores(y, scores, domain, definition=year)[1] == reference


def test_missing_domain_normals_warns_and_is_left_out():
    y = np.array([0, 0, 0, 1, 1])
    domain = np.array(["source"] * 5)
    with pytest.warns(UserWarning, match=r"machine 'all', section 'all': no AUC for the target-domain normals against all anomalies: only one class present"):
        table, score = dcase_scores(y, np.arange(5.0), domain)
    assert np.isnan(table.loc[0, "auc_target"])
    assert score == pytest.approx(hmean([table.loc[0, "auc_source"], table.loc[0, "pauc"]]))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: dcase_scores([0, 1], [0.1, 0.2], ["source", "dev"]), r"domain must hold only 'source' and 'target'; found \['dev'\]"),
        (lambda: dcase_scores([0, 0], [0.1, 0.2], ["source", "target"]), r"Only one class present in y_true \(all 2 clips normal\)"),
        (lambda: partial_auc([1, 1, 1], [0.1, 0.2, 0.3]), r"Only one class present in y_true \(all 3 clips anomalous\)"),
        (lambda: dcase_scores([0, 2], [0.1, 0.2], ["source", "target"]), r"y_true must hold 1 \(anomalous\) and 0 \(normal\) only; found \[2\]"),
        (lambda: dcase_scores([0, 1], [0.1, 0.2]), r"domain is required for definition='2023'"),
        (lambda: dcase_scores([0, 1], [0.1, 0.2, 0.3], ["source"] * 2), r"y_true has 2 values but anomaly_score has 3"),
        (lambda: dcase_scores([0, 1], [0.1, np.inf], ["source"] * 2), r"anomaly_score contains NaN or infinite values"),
        (lambda: dcase_scores([0, 1], [0.1, 0.2], ["source"] * 2, definition="2019"), r"definition must be one of"),
        (lambda: partial_auc([0, 1], [0.1, 0.2], max_fpr=0), r"max_fpr must be in \(0, 1\], got 0"),
        (
            lambda: dcase_scores([0, 1, 0, 0], [1, 2, 3, 4], ["source"] * 4, machine=["a", "a", "b", "b"]),
            r"machine 'b', section 'all': needs normal and anomalous clips",
        ),
        (lambda: make_dcase_scorer("auc"), r"value must be one of"),
        (lambda: make_dcase_scorer("pauc", definition="2021"), r"value='pauc' exists for the 2022-2025 definition only"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*no AUC for")
def test_bad_metric_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _development_data():
    """Normal training clips, then a test fold of normals and anomalies, in two domains."""
    rng = np.random.default_rng(0)
    n_train, n_test = 60, 40
    X_train = rng.normal(size=(n_train, 4))
    X_test = rng.normal(size=(n_test, 4))
    y_test = np.tile([0, 0, 0, 1], n_test // 4)
    X_test[y_test == 1] += rng.normal(0, 2.0, size=(n_test // 4, 4))
    domain = np.array(["source", "target"] * ((n_train + n_test) // 2))
    X = np.vstack([X_train, X_test])
    y = np.r_[np.zeros(n_train, int), y_test]
    # -1: always in the training set; 0: the one test fold.
    test_fold = np.r_[-np.ones(n_train, int), np.zeros(n_test, int)]
    return X, y, domain, test_fold


def test_scorer_inside_grid_search_with_routed_domain():
    X, y, domain, test_fold = _development_data()
    train, test = test_fold == -1, test_fold == 0
    with sklearn.config_context(enable_metadata_routing=True):
        scoring = {
            "official": make_dcase_scorer().set_score_request(domain=True),
            "auc_target": make_dcase_scorer("auc_target").set_score_request(domain=True),
        }
        search = GridSearchCV(
            LocalOutlierFactor(novelty=True),
            {"n_neighbors": [2, 5, 20]},
            scoring=scoring,
            refit=False,
            cv=PredefinedSplit(test_fold),
        )
        search.fit(X, y, domain=domain)
    for position, k in enumerate([2, 5, 20]):
        model = LocalOutlierFactor(novelty=True, n_neighbors=k).fit(X[train])
        anomaly = -model.score_samples(X[test])
        expected_table, expected = dcase_scores(y[test], anomaly, domain[test])
        assert search.cv_results_["mean_test_official"][position] == pytest.approx(expected)
        assert search.cv_results_["mean_test_auc_target"][position] == pytest.approx(expected_table.loc[0, "auc_target"])


def test_scorer_in_cross_validate_and_without_requested_domain():
    X, y, domain, test_fold = _development_data()
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_dcase_scorer().set_score_request(domain=True)
        result = cross_validate(
            LocalOutlierFactor(novelty=True), X, y, cv=PredefinedSplit(test_fold), scoring=scorer, params={"domain": domain}
        )
    assert 0.5 < result["test_score"][0] <= 1.0
    # Without a domain the 2023 definition cannot be computed.
    model = LocalOutlierFactor(novelty=True).fit(X[test_fold == -1])
    with pytest.raises(ValueError, match="domain is required"):
        make_dcase_scorer()(model, X[test_fold == 0], y[test_fold == 0])
    # The 2020 definition needs none.
    score_2020 = make_dcase_scorer(definition="2020")(model, X[test_fold == 0], y[test_fold == 0])
    anomaly = -model.score_samples(X[test_fold == 0])
    expected = np.mean([roc_auc_score(y[test_fold == 0], anomaly), roc_auc_score(y[test_fold == 0], anomaly, max_fpr=0.1)])
    assert score_2020 == pytest.approx(expected)


@pytest.mark.parametrize("definition", ["2020", "2021", "2023"])
def test_decisions_precision_recall_and_f1_per_domain_against_scikit_learn(definition):
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, 2, n)
    score = y + rng.normal(0, 0.8, n)
    domain = np.where(np.arange(n) % 3 == 0, "target", "source")
    machine = np.where(np.arange(n) < 60, "fan", "pump")
    decision = (score > 0.5).astype(int)
    decision[(machine == "pump") & (domain == "target")] = 0  # no clip called anomalous: precision 0, not NaN
    plain, official = dcase_scores(y, score, domain, machine, definition=definition)
    table, official_with_decisions = dcase_scores(y, score, domain, machine, definition=definition, decision=decision)
    # The decisions take no part in the official score or the means.
    assert official_with_decisions == official
    pd.testing.assert_frame_equal(table[plain.columns], plain)
    groups = [("", slice(None))] if definition == "2020" else [("_source", "source"), ("_target", "target")]
    for row in table.itertuples(index=False):
        rows = machine == row.machine
        for suffix, name in groups:
            mask = rows if suffix == "" else rows & (domain == name)
            precision, recall, f1, _ = precision_recall_fscore_support(
                y[mask], decision[mask], average="binary", zero_division=0
            )
            assert getattr(row, f"precision{suffix}") == pytest.approx(precision, rel=1e-12)
            assert getattr(row, f"recall{suffix}") == pytest.approx(recall, rel=1e-12)
            assert getattr(row, f"f1{suffix}") == pytest.approx(f1, rel=1e-12)
    assert table.loc[table["machine"] == "pump", "precision_target" if definition != "2020" else "precision"].notna().all()


def test_decisions_are_checked():
    y, score, domain = [0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], ["source", "source", "target", "target"]
    with pytest.raises(ValueError, match=r"^decision has 3 values but y_true has 4\.$"):
        dcase_scores(y, score, domain, decision=[0, 1, 0])
    with pytest.raises(ValueError, match=r"^decision must hold 1 \(anomalous\) or 0 \(normal\) for each clip\.$"):
        dcase_scores(y, score, domain, decision=[0, 1, 0, -1])
