"""Find skasd's public estimators, as :func:`sklearn.utils.all_estimators` does."""

import inspect

from sklearn.base import BaseEstimator


def all_estimators():
    """Return ``(name, class)`` for every estimator exported by :mod:`skasd`.

    Sorted by name. Used by the common tests so that a new estimator is
    checked by scikit-learn's estimator checks as soon as it is exported.

    Examples
    --------
    >>> from skasd.utils.discovery import all_estimators
    >>> ("LogMelSpectrogram", __import__("skasd").LogMelSpectrogram) in all_estimators()
    True
    """
    import skasd

    found = []
    for name in skasd.__all__:
        obj = getattr(skasd, name)
        if inspect.isclass(obj) and issubclass(obj, BaseEstimator) and not inspect.isabstract(obj):
            found.append((name, obj))
    return sorted(found)
