"""Renamed parameters, kept for one release the way scikit-learn deprecates them.

The old name stays in ``__init__`` with the default ``"deprecated"`` (its
constraint list gains ``Hidden(StrOptions({"deprecated"}))``); where the value
is first read, :func:`renamed_parameter` gives the value to use, with a
FutureWarning when the old name was set.
"""

import inspect
import warnings

__all__ = ["DEPRECATED", "renamed_parameter"]

#: Default of a renamed parameter's old name during its last release.
DEPRECATED = "deprecated"


def renamed_parameter(estimator, old, new, *, version="0.1", removal="0.2"):
    """The value of ``estimator``'s parameter ``new``, or of its former name ``old``.

    Parameters
    ----------
    estimator : estimator
        Has both parameters: ``old`` defaults to ``"deprecated"``, ``new``
        to its own default.
    old, new : str
        The former and the current name of the parameter.
    version : str, default="0.1"
        The release that renamed it.
    removal : str, default="0.2"
        The release that removes ``old``.

    Returns
    -------
    value : object
        ``old``'s value, with a FutureWarning, when ``old`` was set;
        otherwise ``new``'s.

    Raises
    ------
    ValueError
        When both ``old`` and ``new`` (not at its default) were given.

    Examples
    --------
    >>> import warnings
    >>> from skasd.utils._deprecation import renamed_parameter
    >>> class Embedder:
    ...     def __init__(self, weights=None, checkpoint="deprecated"):
    ...         self.weights, self.checkpoint = weights, checkpoint
    >>> renamed_parameter(Embedder(weights="a.pt"), "checkpoint", "weights")
    'a.pt'
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed_parameter(Embedder(checkpoint="b.pt"), "checkpoint", "weights")
    'b.pt'
    >>> str(caught[0].message)
    '`checkpoint` was renamed `weights` in version 0.1 and will be removed in 0.2.'
    """
    old_value = getattr(estimator, old)
    new_value = getattr(estimator, new)
    if isinstance(old_value, str) and old_value == DEPRECATED:
        return new_value
    default = inspect.signature(type(estimator)).parameters[new].default
    if new_value is not default and not (type(new_value) is type(default) and new_value == default):
        raise ValueError(
            f"Only one of `{new}` and `{old}` may be given: `{old}` was renamed `{new}` in version {version}; "
            f"pass `{new}` only."
        )
    warnings.warn(
        f"`{old}` was renamed `{new}` in version {version} and will be removed in {removal}.",
        FutureWarning,
        stacklevel=3,
    )
    return old_value
