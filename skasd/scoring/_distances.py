"""Distance kernels of the k-NN scorers: float32 products of augmented vectors and k-smallest selection.

Every distance of the neighbour scorers is an inner product of augmented
vectors, ``A(x, y) = <q(x), r(y)>`` (:func:`augment_queries` gives ``q``,
:func:`augment_references` gives ``r``; ``_neighbors.py`` explains the
form). :func:`chunked_smallest` and :func:`self_smallest` compute these
products as float32 matrix products, in blocks of query rows so that memory
stays bounded (at most ``_MAX_CHUNK_ROWS`` rows and ``_BLOCK_BYTES`` per
block), and keep the ``k`` smallest of each row.

BLAS sums a block's float32 products in an order that depends on the
block's shape and on a row's place in it, so a product moves in its last
digits with the rows computed beside it. On CPU the block therefore only
picks the ``k`` nearest references; their products are then summed again in
float64, so that a clip's result does not depend on the clips computed with
it (see the comments in :func:`chunked_smallest`).
"""

import numpy as np
import torch
from threadpoolctl import threadpool_limits

# Rows of the query block are chosen so that one block of distances takes
# at most this much memory (float32), unless chunk_size says otherwise...
_BLOCK_BYTES = 256 * 2**20
# ... and at most this many rows: BLAS is as fast on blocks of about 1000
# query rows as on larger ones (it packs the references once per block, which
# 1000 rows amortise), and a smaller block stays warmer in cache for the
# k-smallest selection that reads it back.
_MAX_CHUNK_ROWS = 1024
# The nearest references' vectors are gathered to re-sum their products in
# float64 in pieces of at most this many bytes.
_GATHER_BYTES = 64 * 2**20


def unit_rows(X, name, hint=""):
    """Rows of ``X`` divided by their L2 norm; a ValueError naming zero rows."""
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(norms == 0)
    if len(zero):
        raise ValueError(
            f"{name} has {len(zero)} zero vector(s) (rows {zero[:5].tolist()}): "
            f"the cosine distance is undefined for them{hint}."
        )
    return X / norms[:, np.newaxis]


def normalized_if_cosine(X, metric, name):
    """``X`` with unit rows for the cosine metric (see :func:`unit_rows`), else ``X`` itself."""
    if metric == "cosine":
        return unit_rows(X, name, "; use metric='sqeuclidean' or 'mse'")
    return X


# |x - y|^2 = |x|^2 + |y|^2 - 2 <x, y> reaches 4 max(|x|^2, |y|^2): squared
# norms above this would overflow float32 somewhere in the product.
_MAX_SQUARED_NORM = float(np.finfo(np.float32).max) / 4


def _squared_norms(X):
    """Row norms squared (float64, then float32), with a clear error where float32 distances would overflow."""
    squared = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    if len(squared) and not squared.max() <= _MAX_SQUARED_NORM:
        raise ValueError(
            f"Embeddings too large for float32 squared Euclidean distances: the largest squared norm "
            f"(after centring on the references) is {squared.max():.3g}, above {_MAX_SQUARED_NORM:.3g}, "
            "so the distances would overflow to inf and NaN. Scale the embeddings (e.g. StandardScaler "
            "before the scorer) or use metric='cosine'."
        )
    return squared.astype(np.float32)


def augment_queries(X, metric):
    """The float32 vectors ``q(x)`` (their form is in ``_neighbors.py``), one row per row of ``X``."""
    n_samples, n_features = X.shape
    augmented = np.empty((n_samples, n_features + (1 if metric == "cosine" else 2)), dtype=np.float32)
    augmented[:, :n_features] = X
    if metric != "cosine":
        augmented[:, n_features] = _squared_norms(X)
    augmented[:, -1] = 1.0
    return augmented


def augment_references(Y, metric):
    """The float32 vectors ``r(y)`` (their form is in ``_neighbors.py``), one row per row of ``Y``."""
    n_samples, n_features = Y.shape
    if metric == "cosine":
        augmented = np.empty((n_samples, n_features + 1), dtype=np.float32)
        np.multiply(Y, -0.5, out=augmented[:, :n_features])
        augmented[:, -1] = 0.5
        return augmented
    augmented = np.empty((n_samples, n_features + 2), dtype=np.float32)
    np.multiply(Y, -2.0, out=augmented[:, :n_features])
    augmented[:, n_features] = 1.0
    augmented[:, -1] = _squared_norms(Y)
    if metric == "mse":
        augmented /= n_features
    return augmented


def chunked_smallest(queries, references, k, *, chunk_size=None, device="cpu", exclude=None, n_jobs=None):
    """The ``k`` smallest entries of each row of ``queries @ references.T``, ascending.

    The product is computed in blocks of ``chunk_size`` query rows, so that
    memory stays at one block (``chunk_size x n_references`` float32) beside
    the inputs. On CPU the block picks the k smallest entries, which are then
    summed again in float64: a row's result does not depend on the other rows
    computed with it (BLAS's float32 sums do).

    Parameters
    ----------
    queries : ndarray of shape (n_queries, d), float32
    references : ndarray of shape (n_references, d), float32
    k : int
        At most ``n_references`` (minus one with ``exclude``).
    chunk_size : int, default=None
        Query rows per block; None sizes blocks to about 256 MiB.
    device : torch.device or str, default="cpu"
        CPU: numpy's BLAS, each row's k nearest settled in float64 (exactly
        the float64 k smallest, rounded to float32, whatever rows it is
        computed with); another device: torch there, in float32.
    exclude : ndarray of shape (n_queries,) of int, default=None
        For each query, a reference column left out (a reference scored
        against the others).
    n_jobs : int, default=None
        BLAS threads on CPU; None leaves BLAS's own setting.

    Returns
    -------
    smallest : ndarray of shape (n_queries, k), float32

    Examples
    --------
    >>> import numpy as np
    >>> q = np.eye(2, dtype=np.float32)
    >>> r = np.array([[1, 0], [2, 0], [0, 3]], dtype=np.float32)
    >>> chunked_smallest(q, r, 2)
    array([[0., 1.],
           [0., 0.]], dtype=float32)
    """
    device = torch.device(device)
    n_queries, n_references = len(queries), len(references)
    if chunk_size is None:
        chunk_size = _default_chunk_size(n_references)
    chunk_size = max(1, min(chunk_size, n_queries))
    smallest = np.empty((n_queries, k), dtype=np.float32)
    if device.type != "cpu":
        references_t = torch.from_numpy(np.ascontiguousarray(references.T)).to(device)
        for start in range(0, n_queries, chunk_size):
            stop = min(start + chunk_size, n_queries)
            block = torch.from_numpy(queries[start:stop]).to(device) @ references_t
            if exclude is not None:
                rows = torch.arange(stop - start, device=device)
                block[rows, torch.from_numpy(exclude[start:stop]).to(device)] = torch.inf
            smallest[start:stop] = torch.topk(block, k, dim=1, largest=False, sorted=True).values.cpu().numpy()
        return smallest
    # On CPU: every block is written by BLAS into one buffer, allocated once
    # (a fresh array per block would page-fault its memory in again each
    # time). BLAS sums the float32 products in an order that depends on the
    # block's shape and on a row's place in it (OpenBLAS's Haswell kernels
    # do), so a product moves in its last digits with the rows computed
    # beside it, and the ratio score by up to 1e-4. The block only picks the
    # k nearest references; their products are then summed again in float64,
    # pair by pair, so that a clip's score does not depend on the clips
    # scored with it. References that the float32 rounding could have put on
    # either side of the k-th are re-summed too (see _k_smallest_exact), so that
    # a near tie is settled in float64 and not by the block's rounding.
    references_t = np.ascontiguousarray(references.T)
    buffer = np.empty((chunk_size, n_references), dtype=np.float32)
    largest_reference = float(np.sqrt(np.einsum("ij,ij->i", references, references, dtype=np.float64).max(initial=0)))
    limits = threadpool_limits(limits=n_jobs, user_api="blas") if n_jobs is not None else None
    try:
        for start in range(0, n_queries, chunk_size):
            stop = min(start + chunk_size, n_queries)
            block = buffer[: stop - start]
            np.matmul(queries[start:stop], references_t, out=block)
            if exclude is not None:
                block[np.arange(stop - start), exclude[start:stop]] = np.inf
            error = _product_error_bound(queries[start:stop], largest_reference)
            smallest[start:stop] = _k_smallest_exact(block, queries[start:stop], references, k, error)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return smallest


def _default_chunk_size(n_references):
    """Query rows per block: at most _MAX_CHUNK_ROWS, and a block of at most _BLOCK_BYTES."""
    return int(np.clip(_BLOCK_BYTES // (4 * max(n_references, 1)), 1, _MAX_CHUNK_ROWS))


def _smallest_ids(block, k):
    """The columns of the k smallest entries of each row of ``block``, unordered."""
    if k == 1:
        return block.argmin(axis=1)[:, np.newaxis]
    if k >= block.shape[1]:
        return np.broadcast_to(np.arange(block.shape[1]), block.shape)
    return np.argpartition(block, k - 1, axis=1)[:, :k]


def _product_error_bound(queries, largest_reference):
    """A bound, per query row, on the rounding error of its float32 products with any reference.

    A float32 inner product of d terms is within ``gamma_d * |q| * |r|`` of
    the exact one, ``gamma_d = d u / (1 - d u)`` with ``u = 2**-24``, in any
    summation order (Higham, Accuracy and Stability of Numerical
    Algorithms, 3.1); ``|r|`` is bounded by the largest reference norm.
    """
    d = queries.shape[1]
    unit = 2.0**-24
    gamma = d * unit / (1 - d * unit)
    return gamma * np.sqrt(np.einsum("ij,ij->i", queries, queries, dtype=np.float64)) * largest_reference


def _k_smallest_exact(block, queries, references, k, error):
    """Each row's k smallest products summed in float64, ascending, as float32, the candidates picked on ``block``.

    With every float32 product within ``error`` of its exact value, a
    reference among a row's k exact nearest has a float32 product of at most
    the row's k-th smallest float32 product plus ``2 * error``. The k
    smallest of the block are re-summed for every row; a row where further
    references fall within that margin (a near tie, rare) has all of them
    re-summed, so that float64 decides which are the k nearest.
    """
    ids = _smallest_ids(block, k)
    smallest = _exact_products(queries, references, ids)
    kth = np.take_along_axis(block, ids, axis=1).max(axis=1)
    limit = (kth + 2 * error).astype(np.float32)
    within = block <= limit[:, np.newaxis]
    for row in np.flatnonzero(np.count_nonzero(within, axis=1) > k):
        candidates = np.flatnonzero(within[row])
        smallest[row] = _exact_products(queries[row : row + 1], references, candidates[np.newaxis])[0, :k]
    return smallest


def _exact_products(queries, references, ids):
    """``queries[i] @ references[ids[i, j]]`` summed in float64, each row ascending, as float32."""
    n_queries, k = ids.shape
    products = np.empty((n_queries, k), dtype=np.float32)
    rows = max(1, _GATHER_BYTES // (4 * k * queries.shape[1]))
    for start in range(0, n_queries, rows):
        stop = min(start + rows, n_queries)
        exact = np.einsum("ij,ikj->ik", queries[start:stop], references[ids[start:stop]], dtype=np.float64)
        products[start:stop] = np.sort(exact, axis=1)
    return products


def _smallest_per_row(block, k):
    """The (at most) k smallest entries of each row of ``block``, unsorted; may reorder ``block``."""
    if k == 1:
        return block.min(axis=1, keepdims=True)
    if k >= block.shape[1]:
        return block
    block.partition(k - 1, axis=1)
    return block[:, :k]


def _merge_smallest(best, candidates):
    """Keep in ``best`` (rows sorted ascending) the k smallest of ``best`` and ``candidates``, row by row."""
    if best.shape[1] == 1:
        np.minimum(best, candidates.min(axis=1, keepdims=True), out=best)
        return
    merged = np.concatenate([best, candidates], axis=1)
    best[:] = np.sort(_smallest_per_row(merged, best.shape[1]), axis=1)


def self_smallest(queries, references, k, *, chunk_size=None, n_jobs=None):
    """The ``k`` smallest off-diagonal entries of each row of a symmetric ``queries @ references.T``.

    For the augmented vectors of one set of points, ``<q(x_i), r(x_j)> =
    A(x_i, x_j) = <q(x_j), r(x_i)>``: each block of ``chunk_size`` rows is
    multiplied only by the columns from its own first row on, and the block
    is reduced along its rows and along its columns. Half the products of
    ``chunked_smallest(queries, references, k, exclude=np.arange(n))`` give
    its result (up to float32 rounding), on CPU.

    Parameters
    ----------
    queries, references : ndarray of shape (n, d), float32
    k : int
        At most ``n - 1``.
    chunk_size : int, default=None
        Rows per block; None as in :func:`chunked_smallest`.
    n_jobs : int, default=None
        BLAS threads; None leaves BLAS's own setting.

    Returns
    -------
    smallest : ndarray of shape (n, k), float32, each row ascending

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0], [3.0]], dtype=np.float32)
    >>> q = np.hstack([x, x**2, np.ones_like(x)])         # squared distances
    >>> r = np.hstack([-2 * x, np.ones_like(x), x**2])
    >>> self_smallest(q, r, 2)
    array([[1., 9.],
           [1., 4.],
           [4., 9.]], dtype=float32)
    """
    n = len(queries)
    if chunk_size is None:
        chunk_size = _default_chunk_size(n)
    chunk_size = max(1, min(chunk_size, n))
    references_t = np.ascontiguousarray(references.T)
    buffer = np.empty(chunk_size * n, dtype=np.float32)
    best = np.full((n, k), np.inf, dtype=np.float32)
    limits = threadpool_limits(limits=n_jobs, user_api="blas") if n_jobs is not None else None
    try:
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            rows = stop - start
            # Rows start:stop against columns start:n, one C-contiguous block.
            block = buffer[: rows * (n - start)].reshape(rows, n - start)
            np.matmul(queries[start:stop], references_t[:, start:], out=block)
            block[np.arange(rows), np.arange(rows)] = np.inf
            if stop < n:
                # Columns stop:n: these rows are their neighbours from below.
                later = block[:, rows:]
                if k == 1:
                    candidates = later.min(axis=0)[:, np.newaxis]
                else:
                    candidates = np.partition(later, min(k, rows) - 1, axis=0)[:k].T
                _merge_smallest(best[stop:], candidates)
            _merge_smallest(best[start:stop], _smallest_per_row(block, k))
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return best
