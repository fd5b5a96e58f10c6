"""Approximate k-smallest inner products over a faiss HNSW graph (``algorithm="hnsw"``).

The k-NN scorers need, for each query vector ``q``, the k smallest inner
products ``<q, r>`` over the reference vectors ``r`` (the augmented vectors of
``_neighbors.py``, already divided or shifted by the densities): a maximum
inner-product search (MIPS) for ``-r``. HNSW's graph is built for a metric;
one built on inner products directly links every point to the few
references of largest norm, and its searches miss most true neighbours
(measured on clustered data in benchmarks/bench_knn_scale.py: 1% of the
exact scores found, against 99.9% with the reduction below). So the
search is reduced to an L2 search, the standard MIPS-to-L2 reduction:
each reference ``-r`` gets one more coordinate ``sqrt(M^2 - |r|^2)``, ``M``
the largest norm, and each query a 0, so that

    |[q, 0] - [-r, sqrt(M^2 - |r|^2)]|^2 = |q|^2 + M^2 + 2 <q, r>,

increasing in ``<q, r>``. The candidates the graph returns are re-scored
with exact products (summed in float64; at least the best 8), so a returned value is
always a true inner product, and an approximate k-smallest is never below
the exact one.

References of outsized norm (ratio factors of duplicated references, which
the ``eps`` density floor divides by 1e-6) would make ``M^2`` swamp the
float32 distances of all the others; they are kept out of the graph and
compared with every query exhaustively. ``column_scale`` rescales
coordinates in the graph (queries divided by it, references multiplied:
products unchanged), for the caller to keep augmented coordinates such as
``|y|^2`` from dominating the graph's geometry.
"""

import contextlib

import numpy as np
from joblib import effective_n_jobs

INSTALL_HINT = "pip install faiss-cpu (or pip install 'skasd[ann]')"

# Searches for more neighbours than this per query (density="gwrp" with a
# decay close to 1) are no longer "a few nearest": they are computed exactly.
MAX_HNSW_NEIGHBORS = 256

# References whose norm exceeds this multiple of the median norm are searched
# exhaustively beside the graph (see the module notes).
_MAX_NORM_RATIO = 16.0

# At least this many candidates of each query are re-scored exactly: the
# graph's float32 L2 distances can swap near ties that the exact products
# order right.
_MIN_CANDIDATES = 8

# Queries are searched in blocks of at most this many rows, and the
# candidates gathered for their exact re-scoring stay under this size.
_SEARCH_ROWS = 8192
_GATHER_BYTES = 64 * 2**20


def import_faiss():
    """faiss, or an ImportError that says how to install it."""
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            f"algorithm='hnsw' needs faiss, an optional dependency of skasd: {INSTALL_HINT}; "
            "or use algorithm='exact'."
        ) from exc
    return faiss


@contextlib.contextmanager
def _omp_threads(faiss, n_jobs):
    """faiss's OpenMP threads set to n_jobs (None: faiss's own setting) for the block."""
    if n_jobs is None:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(effective_n_jobs(n_jobs))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


class HNSWSmallest:
    """The k smallest ``<query, reference>`` of each query, searched on an HNSW graph.

    Parameters
    ----------
    references : ndarray of shape (n_references, d), float32
        Kept by reference (not copied) for the exact re-scoring.
    m : int
        Links per node of the graph (faiss's ``M``).
    ef_construction : int
        Candidate-list size while building the graph.
    ef_search : int
        Candidate-list size while searching (at least the number of
        neighbours asked for).
    column_scale : ndarray of shape (d,), default=None
        Per-coordinate scale of the vectors in the graph (see the module
        notes); None: 1.
    n_jobs : int or None
        faiss (OpenMP) threads; None leaves faiss's own setting.
    """

    def __init__(self, references, *, m, ef_construction, ef_search, column_scale=None, n_jobs=None):
        faiss = import_faiss()
        self.references = references
        self.column_scale = column_scale
        if column_scale is not None:
            references = references * column_scale
        self.ef_search = ef_search
        norms2 = np.einsum("ij,ij->i", references, references, dtype=np.float64)
        outsized = norms2 > _MAX_NORM_RATIO**2 * max(float(np.median(norms2)), np.finfo(np.float32).tiny)
        self.exhaustive_ids = np.flatnonzero(outsized)
        self.graph_ids = np.flatnonzero(~outsized)
        n_graph, d = len(self.graph_ids), references.shape[1]
        vectors = np.empty((n_graph, d + 1), dtype=np.float32)
        np.negative(references[self.graph_ids], out=vectors[:, :d])
        graph_norms2 = norms2[self.graph_ids]
        vectors[:, d] = np.sqrt(graph_norms2.max(initial=0.0) - graph_norms2)
        self.index = faiss.IndexHNSWFlat(d + 1, m)
        self.index.hnsw.efConstruction = ef_construction
        with _omp_threads(faiss, n_jobs):
            self.index.add(vectors)

    def smallest(self, queries, k, *, exclude=None, n_jobs=None):
        """The k smallest products of each query, ascending; ``inf`` where too few were found.

        Parameters
        ----------
        queries : ndarray of shape (n_queries, d), float32
        k : int
        exclude : ndarray of shape (n_queries,) of int, default=None
            For each query, a reference left out (a reference scored against
            the others): one more neighbour is searched, and that one dropped.
        n_jobs : int or None

        Returns
        -------
        smallest : ndarray of shape (n_queries, k), float32
        """
        faiss = import_faiss()
        n_queries, d = queries.shape
        k_graph = min(max(k + (exclude is not None), _MIN_CANDIDATES), len(self.graph_ids))
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, k_graph)
        exhaustive = self.references[self.exhaustive_ids].astype(np.float64)
        n_candidates = k_graph + len(self.exhaustive_ids)
        width = min(k, n_candidates)
        smallest = np.full((n_queries, k), np.inf, dtype=np.float32)
        rows = int(np.clip(_GATHER_BYTES // (4 * (d + 1) * max(n_candidates, 1)), 1, _SEARCH_ROWS))
        for start in range(0, n_queries, rows):
            stop = min(start + rows, n_queries)
            padded = np.zeros((stop - start, d + 1), dtype=np.float32)
            padded[:, :d] = queries[start:stop]
            if self.column_scale is not None:
                padded[:, :d] /= self.column_scale
            with _omp_threads(faiss, n_jobs):
                _, found = self.index.search(padded, k_graph, params=params)
            # Graph positions to reference ids (-1: not found), then the
            # exact products of the candidates.
            ids = np.where(found >= 0, self.graph_ids[np.maximum(found, 0)], -1)
            # Summed in float64, so that a query's result does not depend on the
            # other queries searched with it (see chunked_smallest).
            products = np.einsum(
                "ij,ikj->ik", queries[start:stop], self.references[np.maximum(ids, 0)], dtype=np.float64
            )
            products[ids < 0] = np.inf
            if len(exhaustive):
                ids = np.hstack([ids, np.broadcast_to(self.exhaustive_ids, (stop - start, len(self.exhaustive_ids)))])
                products = np.hstack([products, queries[start:stop].astype(np.float64) @ exhaustive.T])
            if exclude is not None:
                products[ids == exclude[start:stop, np.newaxis]] = np.inf
            if width < n_candidates:
                products.partition(width - 1, axis=1)
            smallest[start:stop, :width] = np.sort(products[:, :width], axis=1)
        return smallest

    def __getstate__(self):
        # faiss indexes do not pickle; their serialised bytes do.
        state = dict(self.__dict__)
        state["index"] = import_faiss().serialize_index(self.index)
        return state

    def __setstate__(self, state):
        state = dict(state)
        state["index"] = import_faiss().deserialize_index(state["index"])
        self.__dict__.update(state)
