"""scikit-learn's estimator checks on every public skasd estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import skasd
from skasd.utils.discovery import all_estimators

# Checks an estimator is known to fail, with the reason, as imbalanced-learn
# lists them: {estimator class name: {check name: reason}}.
EXPECTED_FAILED_CHECKS = {}


def _instances():
    return [cls() for _, cls in all_estimators()]


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(_instances(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_public_estimator_is_exported_at_top_level():
    names = {name for name, _ in all_estimators()}
    assert names, "no public estimator found"
    assert names <= set(skasd.__all__)
