"""The Mahalanobis statistics in torch, on the embeddings' device: the twins of :mod:`._mahalanobis`'s numpy ones.

A geometric median by Weiszfeld's iteration, a shrunk covariance and the
squared Mahalanobis distances, vectorised over leading batch dimensions, for
steps that run inside a torch training loop (ConfidentPairSCAN's selection of
confident pairs at every batch).
"""

import torch

__all__ = ["geometric_median_torch", "mahalanobis_scores", "shrinkage_covariance", "statistics_dtype"]


def geometric_median_torch(Z, *, max_iter=100, tol=1e-7, return_n_iter=False):
    """Geometric median of the rows of ``Z`` by Weiszfeld's iteration, on ``Z``'s device.

    The torch counterpart of :func:`skasd.scoring.geometric_median`
    (eq. 3 of SCAN), vectorised over leading batch dimensions: started at
    the mean, each step moves to the average of the points weighted by the
    inverse of their distance. Points within ``1e-10`` times the spread of
    the iterate count as coinciding with it, and Vardi and Zhang's
    modification steps away from them (or stays, when that point is the
    median) instead of dividing by zero; and since the iterates approach a
    median that is a data point only slowly, each step also tests the
    optimality condition at the data point nearest to the iterate and
    returns that point when it holds. It stops when a step moves less
    than ``tol`` times the root-mean-square distance of the points to their
    mean, or after ``max_iter`` steps, silently: in training an
    approximate centre is enough.

    Parameters
    ----------
    Z : Tensor of shape (..., n_points, n_features)
    max_iter : int, default=100
    tol : float, default=1e-7
    return_n_iter : bool, default=False

    Returns
    -------
    median : Tensor of shape (..., n_features)
    n_iter : int
        Steps run, when ``return_n_iter``.
    """
    y = Z.mean(dim=-2)
    scale = (Z - y[..., None, :]).square().sum(-1).mean(-1).sqrt()
    coincident = (1e-10 * scale)[..., None]
    # Rounding margin of the optimality test at a data point (as the numpy version's).
    slack = (tol + 64 * torch.finfo(Z.dtype).eps) * Z.shape[-2]
    n_iter = 0
    if bool((scale == 0).all()):
        return (y, n_iter) if return_n_iter else y
    for n_iter in range(1, max_iter + 1):
        difference = Z - y[..., None, :]
        distances = difference.norm(dim=-1)
        on_point = distances <= coincident
        inverse = torch.where(on_point, 0.0, 1.0 / distances.clamp_min(torch.finfo(Z.dtype).tiny))
        total = inverse.sum(-1, keepdim=True)
        step_target = (inverse[..., None] * Z).sum(-2) / total.clamp_min(torch.finfo(Z.dtype).tiny)
        eta = on_point.sum(-1, keepdim=True).to(Z.dtype)
        resultant = (inverse[..., None] * difference).sum(-2).norm(dim=-1, keepdim=True)
        # Vardi-Zhang: gamma = min(1, eta / ||R||); 0 off the data points.
        gamma = torch.where(eta > 0, (eta / resultant.clamp_min(torch.finfo(Z.dtype).tiny)).clamp(max=1.0), 0.0)
        new_y = (1 - gamma) * step_target + gamma * y
        # Weiszfeld crawls towards a median that is a data point: jump to the
        # nearest point when it satisfies the optimality condition.
        nearest = Z.gather(-2, distances.argmin(-1)[..., None, None].expand(*Z.shape[:-2], 1, Z.shape[-1]))
        towards = Z - nearest
        lengths = towards.norm(dim=-1)
        on_nearest = lengths <= coincident
        unit = torch.where(on_nearest, 0.0, 1.0 / lengths.clamp_min(torch.finfo(Z.dtype).tiny))
        pull = (unit[..., None] * towards).sum(-2).norm(dim=-1)
        optimal = pull <= on_nearest.sum(-1).to(Z.dtype) + slack
        new_y = torch.where(optimal[..., None], nearest[..., 0, :], new_y)
        moved = (new_y - y).norm(dim=-1)
        y = new_y
        if bool((moved <= tol * scale).all()):
            break
    return (y, n_iter) if return_n_iter else y


def shrinkage_covariance(X, method="ledoit_wolf"):
    """Shrunk covariance of centred rows: ``(1 - s) S + s * trace(S) / p * I``.

    ``S = X^T X / n`` is the empirical covariance of the rows of ``X``
    around 0 (the caller subtracts the centre first: SCAN's covariance is
    around the geometric median). The shrinkage ``s`` is Ledoit and Wolf's
    or the OAS estimate, computed as scikit-learn's
    :func:`~sklearn.covariance.ledoit_wolf` and :func:`~sklearn.covariance.oas`
    with ``assume_centered=True`` do, in torch on ``X``'s device. Either
    keeps the estimate invertible with fewer rows than dimensions.

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_features)
        Centred data.
    method : {"ledoit_wolf", "oas"}, default="ledoit_wolf"

    Returns
    -------
    covariance : Tensor of shape (n_features, n_features)
    shrinkage : float
    """
    n_samples, n_features = X.shape
    emp_cov = X.T @ X / n_samples
    if n_features == 1:
        return emp_cov, 0.0
    mu = torch.trace(emp_cov) / n_features
    if method == "ledoit_wolf":
        # sklearn.covariance.ledoit_wolf_shrinkage, unblocked.
        beta_ = X.square().sum(1).square().sum()
        delta_ = emp_cov.square().sum()
        beta = (beta_ / n_samples - delta_) / (n_features * n_samples)
        delta = (delta_ - 2.0 * mu * torch.trace(emp_cov) + n_features * mu**2) / n_features
        beta = torch.minimum(beta, delta)
        shrinkage = 0.0 if float(beta) == 0.0 else float(beta / delta)
    elif method == "oas":
        # sklearn.covariance._shrunk_covariance._oas.
        alpha = emp_cov.square().mean()
        num = alpha + mu**2
        den = (n_samples + 1) * (alpha - mu**2 / n_features)
        shrinkage = 1.0 if float(den) == 0.0 else min(float(num / den), 1.0)
    else:
        raise ValueError(f"method must be 'ledoit_wolf' or 'oas'; got {method!r}.")
    covariance = (1.0 - shrinkage) * emp_cov
    covariance.diagonal().add_(shrinkage * mu)
    return covariance, shrinkage


def mahalanobis_scores(Z, center, covariance):
    """Squared Mahalanobis distances ``(z - center)^T covariance^-1 (z - center)`` (eq. 4).

    Through a Cholesky factor; a pseudo-inverse when the covariance is not
    positive definite.
    """
    centred = Z - center
    factor, info = torch.linalg.cholesky_ex(covariance)
    if int(info) == 0:
        whitened = torch.linalg.solve_triangular(factor, centred.T, upper=False)
        return whitened.square().sum(0)
    precision = torch.linalg.pinv(covariance, hermitian=True)
    return ((centred @ precision) * centred).sum(1).clamp_min(0.0)


def statistics_dtype(device):
    """float64 for the selection's statistics, float32 on MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64
