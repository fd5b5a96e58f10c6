"""Private torch helpers shared by skasd's estimators: device, threads, batches."""

import contextlib
import re

import numpy as np
import torch
from joblib import Parallel, delayed
from tqdm.auto import tqdm

_DEVICE_PATTERN = re.compile(r"cpu|mps|cuda(:\d+)?")


def resolve_device(device):
    """Turn a ``device`` parameter into a :class:`torch.device`.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA when :func:`torch.cuda.is_available`, else CPU),
        ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or ``"mps"``.

    Returns
    -------
    device : torch.device

    Raises
    ------
    ValueError
        If the string names no supported device, or names one this machine
        does not have.

    Examples
    --------
    >>> from skasd.utils._torch import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not _DEVICE_PATTERN.fullmatch(device):
        raise ValueError(
            f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda', "
            "'cuda:<index>' or 'mps'."
        )
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available; "
                "use device='auto' to fall back to the CPU."
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible."
            )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available.")
    return resolved


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block with ``n_threads`` torch intra-op threads, then restore.

    torch's thread count is process-wide, so the previous value is put back
    on exit, also when the block raises.

    Parameters
    ----------
    n_threads : int
        Threads torch may use inside one operation, at least 1.

    Examples
    --------
    >>> import torch
    >>> from skasd.utils._torch import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run_batch(module, batch, device):
    # inference_mode is thread-local: enter it where the batch runs. Each task
    # carries only its own rows, so a joblib backend that ships tasks to other
    # processes (dask) does not send the whole input with every batch; there
    # the batch may arrive read-only, which torch.from_numpy refuses to share.
    with torch.inference_mode():
        batch = np.require(batch, requirements=["WRITEABLE"])
        return module(torch.from_numpy(batch).to(device)).cpu().numpy()


def transform_in_batches(X, module, *, batch_size, device, n_jobs=None, verbose=0, desc=None):
    """Apply a torch module to the rows of ``X`` in batches, into one numpy array.

    On CPU, batches are spread over ``n_jobs`` joblib threads, each running
    torch single-threaded. On an idle machine this is about as fast as
    torch's own intra-op threads, but when another process competes for the
    cores torch's threads wait for each other inside every operation and
    fall up to ten times behind, while independent joblib threads degrade
    gracefully (``benchmarks/bench_features.py`` measures both). On other devices
    batches run one after another. The output is allocated once and filled
    batch by batch, so memory is the output plus the batches in flight.

    Parameters
    ----------
    X : ndarray of shape (n_rows, ...)
        Input with at least one row, converted to C-ordered, writeable
        float32 when it is not already; each batch of rows is moved to
        ``device``.
    module : torch.nn.Module or callable
        Maps a tensor of shape (batch, ...) to a tensor whose first dimension
        is the batch. It must already live on ``device``.
    batch_size : int
        Rows per batch.
    device : torch.device
        Where the computation runs.
    n_jobs : int or None, default=None
        joblib threads over batches on CPU, joblib's convention: ``None``
        means 1 unless in a :func:`joblib.parallel_config` context, ``-1``
        all CPUs. torch's intra-op threads are set to 1 during the call.
    verbose : int, default=0
        Show a progress bar over batches when > 0.
    desc : str, default=None
        Label of the progress bar.

    Returns
    -------
    out : ndarray of shape (n_rows, ...), dtype float32

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skasd.utils._torch import transform_in_batches
    >>> X = np.arange(6, dtype=np.float32).reshape(3, 2)
    >>> transform_in_batches(X, torch.square, batch_size=2, device=torch.device("cpu"))
    array([[ 0.,  1.],
           [ 4.,  9.],
           [16., 25.]], dtype=float32)
    """
    # torch.from_numpy shares memory and warns on read-only arrays.
    X = np.require(X, dtype=np.float32, requirements=["C_CONTIGUOUS", "WRITEABLE"])
    n_rows = X.shape[0]
    starts = range(0, n_rows, batch_size)

    out = None
    with torch_threads(1):
        results = Parallel(
            n_jobs=n_jobs if device.type == "cpu" else 1,
            prefer="threads",
            return_as="generator",
        )(delayed(_run_batch)(module, X[start : start + batch_size], device) for start in starts)
        progress = tqdm(results, total=len(starts), desc=desc, unit="batch", disable=not verbose)
        for result, start in zip(progress, starts, strict=True):
            if out is None:
                out = np.empty((n_rows, *result.shape[1:]), dtype=np.float32)
            out[start : start + batch_size] = result
    return out


def transform_with_trained_module(module, X, *, batch_size, n_jobs=None, verbose=0, desc=None):
    """Apply a trained module in eval mode to the rows of ``X``, on the device its parameters are on.

    What every trained embedder's ``transform`` does with its fitted
    ``net_.module_``: batch norm and dropout in inference mode, then
    :func:`transform_in_batches`.

    Parameters
    ----------
    module : torch.nn.Module
        The trained module, with at least one parameter.
    X : ndarray of shape (n_rows, ...)
    batch_size, n_jobs, verbose, desc
        As :func:`transform_in_batches`.

    Returns
    -------
    out : ndarray of shape (n_rows, ...), dtype float32
    """
    module.eval()
    device = next(module.parameters()).device
    return transform_in_batches(
        X, module, batch_size=batch_size, device=device, n_jobs=n_jobs, verbose=verbose, desc=desc
    )
