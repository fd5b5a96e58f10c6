"""Selecting clips by a boolean mask without copying them when they lie together.

A memory-mapped data set (``load_dcase(..., memmap=...)``) stays on disk only
as long as nothing copies it: fancy indexing (``X[mask]``) reads every
selected row into memory. The clips of one machine type, or one section, of
one split lie together in :func:`~skasd.datasets.load_dcase`'s order, so a
slice, which is a view, selects them.
"""

import numpy as np


def take_rows(X, rows):
    """The rows of ``X`` where the boolean mask ``rows`` is true: a view when they are contiguous.

    Parameters
    ----------
    X : array-like of shape (n_rows, ...)
    rows : ndarray of shape (n_rows,), dtype bool

    Returns
    -------
    selected : array-like
        ``X[start:stop]`` (a view, for a numpy array or memory map) when the
        selected rows are one contiguous block, else ``X[rows]`` (a copy).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(10).reshape(5, 2)
    >>> np.shares_memory(take_rows(X, np.array([False, True, True, False, False])), X)
    True
    >>> take_rows(X, np.array([True, False, True, False, False])).tolist()
    [[0, 1], [4, 5]]
    """
    rows = np.asarray(rows, dtype=bool)
    selected = np.flatnonzero(rows)
    if selected.size and selected[-1] - selected[0] + 1 == selected.size:
        return X[selected[0] : selected[-1] + 1]
    return X[rows]
