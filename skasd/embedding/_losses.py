"""Angular-margin classification losses for training embedders.

Every loss is a :class:`torch.nn.Module` with one interface:

- ``forward(embeddings, targets)`` returns the mean over the batch of the
  cross-entropy between ``targets`` and the predicted class probabilities, a
  scalar tensor. ``embeddings`` is a float tensor of shape
  ``(batch, embedding_dim)``, not normalised (the loss normalises it).
  ``targets`` is either an integer tensor of shape ``(batch,)`` of class
  indices, or a float tensor of shape ``(batch, n_classes)`` of class
  probabilities (soft labels, e.g. from mixup; each row sums to one).
- ``predict_proba(embeddings)`` returns the class probabilities, shape
  ``(batch, n_classes)``, rows summing to one (no margin, no scale update).
- ``cosine(embeddings)`` returns the cosine similarities to the class
  centres (or class subspaces), shape documented on each class.

Shared numerical conventions:

- Embeddings and centres are normalised as ``v / max(||v||, 1e-8)`` (the
  ``eps`` of :func:`torch.nn.functional.cosine_similarity`): an all-zero
  embedding has cosine 0 to every centre and finite gradients.
- The loss is computed in the promoted dtype of the embeddings and the
  module's parameters, and at least in float32 (half-precision embeddings
  are upcast), so that ``exp`` and ``log`` stay accurate.
- Bad input raises a :class:`ValueError` naming the argument: embeddings
  that are not a 2-D floating tensor with ``embedding_dim`` columns or that
  contain NaN or infinite values; targets of the wrong shape or dtype, class
  indices out of range, negative or non-finite probabilities, or rows of
  probabilities that do not sum to one (absolute tolerance 1e-3).
"""

import math
from numbers import Integral, Real

import torch
from torch import nn

__all__ = ["AdaProj", "ArcFace", "SubClusterAdaCos", "SubspaceLoss"]

_NORM_EPS = 1e-8  # as torch.nn.functional.cosine_similarity
_SIN_EPS = 1e-7  # floor of 1 - cos^2 for the gradient of sin(theta) in the margin
_ROW_SUM_ATOL = 1e-3


# ----------------------------------------------------------------------------
# Argument validation
# ----------------------------------------------------------------------------


def _check_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}."
        )
    return generator


def _check_margin(margin):
    if (
        isinstance(margin, bool)
        or not isinstance(margin, Real)
        or not (0.0 <= margin < math.pi)
    ):
        raise ValueError(f"margin must be a real number in [0, pi), got {margin!r}.")
    return float(margin)


def _check_fixed_scale(scale):
    if (
        isinstance(scale, bool)
        or not isinstance(scale, Real)
        or not (math.isfinite(scale) and scale > 0)
    ):
        raise ValueError(f"scale must be a finite real number > 0, got {scale!r}.")
    return float(scale)


def _random_normal(shape, generator):
    """Standard normal tensor from ``generator``, or the global RNG when None."""
    return torch.randn(shape, generator=generator)


# ----------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------


def _compute_dtype(*dtypes):
    dtype = torch.float32
    for other in dtypes:
        dtype = torch.promote_types(dtype, other)
    return dtype


def _check_embeddings(embeddings, embedding_dim, dtype):
    """Validate ``embeddings``; return it in the compute dtype (see module docstring)."""
    if not isinstance(embeddings, torch.Tensor):
        raise ValueError(  # noqa: TRY004 (skasd reports bad input as ValueError)
            f"embeddings must be a torch.Tensor, got {type(embeddings).__name__}."
        )
    if not embeddings.is_floating_point():
        raise ValueError(
            f"embeddings must be a floating-point tensor, got dtype {embeddings.dtype}."
        )
    if embeddings.ndim != 2 or embeddings.shape[1] != embedding_dim:
        raise ValueError(
            f"embeddings must have shape (batch, {embedding_dim}), got {tuple(embeddings.shape)}."
        )
    if embeddings.shape[0] == 0:
        raise ValueError(
            "embeddings must contain at least one row, got an empty batch."
        )
    if not bool(torch.isfinite(embeddings).all()):
        raise ValueError("embeddings contain NaN or infinite values.")
    return embeddings.to(_compute_dtype(dtype, embeddings.dtype))


def _target_probabilities(targets, n_classes, batch_size, dtype, device):
    """Turn hard or soft targets into a ``(batch, n_classes)`` probability matrix.

    The one conversion every loss uses, so that a one-hot soft target goes
    through exactly the same computation as the matching class index.

    Parameters
    ----------
    targets : torch.Tensor
        Integer class indices of shape ``(batch_size,)`` or float class
        probabilities of shape ``(batch_size, n_classes)``.
    n_classes : int
    batch_size : int
    dtype : torch.dtype
        Floating dtype of the returned matrix.
    device : torch.device
        Device of the returned matrix.

    Returns
    -------
    probabilities : torch.Tensor of shape (batch_size, n_classes)
        Non-negative, rows summing to one (one-hot rows for class indices).

    Raises
    ------
    ValueError
        On a wrong shape or dtype, a class index out of ``[0, n_classes)``,
        or probabilities that are negative, not finite, or whose rows do not
        sum to one.
    """
    if not isinstance(targets, torch.Tensor):
        raise ValueError(  # noqa: TRY004 (skasd reports bad input as ValueError)
            f"targets must be a torch.Tensor, got {type(targets).__name__}."
        )
    if targets.dtype == torch.bool or targets.is_complex():
        raise ValueError(
            f"targets must be integer class indices or float class probabilities, got dtype {targets.dtype}."
        )
    if targets.is_floating_point():
        if targets.shape != (batch_size, n_classes):
            raise ValueError(
                f"soft targets (float class probabilities) must have shape "
                f"(batch, n_classes) = ({batch_size}, {n_classes}), got {tuple(targets.shape)}."
            )
        probabilities = targets.to(device=device, dtype=dtype)
        if not bool(torch.isfinite(probabilities).all()):
            raise ValueError("soft targets contain NaN or infinite values.")
        if bool((probabilities < 0).any()):
            raise ValueError("soft targets contain negative probabilities.")
        row_sums = probabilities.sum(dim=1)
        if bool(((row_sums - 1).abs() > _ROW_SUM_ATOL).any()):
            raise ValueError(
                f"soft targets must have rows summing to 1 (tolerance {_ROW_SUM_ATOL}), "
                f"got row sums between {row_sums.min().item():.6g} and {row_sums.max().item():.6g}."
            )
        return probabilities
    if targets.shape != (batch_size,):
        raise ValueError(
            f"hard targets (integer class indices) must have shape (batch,) = ({batch_size},), "
            f"got {tuple(targets.shape)}."
        )
    indices = targets.to(device=device, dtype=torch.long)
    if bool(((indices < 0) | (indices >= n_classes)).any()):
        raise ValueError(
            f"targets contain class indices out of range [0, {n_classes}): "
            f"min {indices.min().item()}, max {indices.max().item()}."
        )
    return nn.functional.one_hot(indices, n_classes).to(dtype)


def _normalize(tensor):
    return nn.functional.normalize(tensor, dim=-1, eps=_NORM_EPS)


def _initial_adaptive_scale(n_centres):
    """AdaCos' fixed scale ``sqrt(2) * log(n_centres - 1)``, or 1 when that is <= 0.

    With one or two centres in all the formula gives ``-inf`` or ``0``, and a
    scale of 0 makes every probability uniform and the gradients vanish; the
    fallback 1 keeps the loss trainable.
    """
    if n_centres <= 2:
        return 1.0
    return math.sqrt(2.0) * math.log(n_centres - 1)


@torch.no_grad()
def _update_adaptive_scale(scale, cos, non_target, target_cos):
    """AdaCos' dynamic scale update, in place on the buffer ``scale``.

    Shared by :class:`SubClusterAdaCos` and :class:`AdaProj`.

    ``B_avg`` is the mean over the batch of ``sum_j exp(s_old * cos_j)`` over
    the non-target centres ``j`` of each clip; ``theta_med`` the median over
    the batch of the target angles ``arccos(target_cos)`` (the numpy median:
    the mean of the two middle values for an even batch); the new scale is
    ``log(B_avg) / cos(min(pi / 4, theta_med))``. The update is skipped (the
    old scale kept) when ``B_avg`` is not finite or not positive (e.g. no clip
    has a non-target centre) or when the new scale is not finite or not
    positive (``B_avg <= 1``): a non-positive scale would reward moving away
    from the target.

    Parameters
    ----------
    scale : torch.Tensor of shape ()
        The buffer holding ``s``; overwritten.
    cos : torch.Tensor of shape (batch, n_centres)
        Cosine similarities to all centres.
    non_target : torch.Tensor of bool, shape (batch, n_centres)
        True for the centres of classes with zero target probability.
    target_cos : torch.Tensor of shape (batch,)
        Cosine similarity of each clip to its target (the closest centre of
        its target class).
    """
    work = _compute_dtype(cos.dtype)
    cos = cos.to(work)
    s_old = scale.to(device=cos.device, dtype=work)
    b_avg = (
        torch.where(non_target, torch.exp(s_old * cos), torch.zeros_like(cos))
        .sum(dim=1)
        .mean()
    )
    theta = torch.arccos(target_cos.to(work).clamp(-1.0, 1.0))
    theta_med = torch.quantile(theta, 0.5)
    s_new = torch.log(b_avg) / torch.cos(torch.clamp(theta_med, max=math.pi / 4))
    valid = torch.isfinite(b_avg) & (b_avg > 0) & torch.isfinite(s_new) & (s_new > 0)
    scale.copy_(torch.where(valid, s_new, s_old))


def _additive_angular_margin(cos, margin):
    """``cos(theta + m)`` for ``cos = cos(theta)``, ArcFace's target logit.

    ``cos(theta + m) = cos(theta) cos(m) - sin(theta) sin(m)`` with the exact
    value ``sin(theta) = sqrt(max(1 - cos^2, 0))`` but the gradient of
    ``sqrt(max(1 - cos^2, 1e-7))``: finite at ``cos = +-1``, where the true
    derivative is infinite, and zero through ``sin`` within about 3e-4 rad of
    a centre or its antipode. Where ``theta + m > pi`` the function would no
    longer decrease in ``theta``; there (``cos(theta) < cos(pi - m)``) it is
    replaced by ``cos(theta) - m sin(m)``, as in the reference ArcFace
    implementation.
    """
    if margin == 0.0:
        return cos
    one_minus_square = 1.0 - cos * cos
    floored = torch.sqrt(torch.clamp(one_minus_square, min=_SIN_EPS))
    exact = torch.sqrt(torch.clamp(one_minus_square, min=0.0))
    sin = floored + (exact - floored).detach()  # exact value, finite gradient
    with_margin = cos * math.cos(margin) - sin * math.sin(margin)
    linear = cos - margin * math.sin(margin)
    return torch.where(cos >= math.cos(math.pi - margin), with_margin, linear)


def _margin_cross_entropy(logits, target_logits, probabilities):
    """Expected cross-entropy of a margin softmax under the target distribution.

    ``sum_k t_k * CE_k`` averaged over the batch, where ``CE_k`` is the
    hard-label cross-entropy for class ``k`` with class ``k``'s logit replaced
    by its margin logit. Only the ``(clip, class)`` pairs with positive target
    probability are evaluated: one per clip for hard targets.

    Parameters
    ----------
    logits : torch.Tensor of shape (batch, n_classes)
        ``s * cos`` without margin.
    target_logits : torch.Tensor of shape (batch, n_classes)
        ``s * cos(theta + m)``: each class's logit when it is the target.
    probabilities : torch.Tensor of shape (batch, n_classes)
        Target probabilities.
    """
    rows, classes = torch.nonzero(probabilities > 0, as_tuple=True)
    margin_logit = target_logits[rows, classes]
    pair_logits = logits[rows].scatter(1, classes[:, None], margin_logit[:, None])
    cross_entropy = torch.logsumexp(pair_logits, dim=1) - margin_logit
    return (probabilities[rows, classes] * cross_entropy).sum() / probabilities.shape[0]


# ----------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------


class SubClusterAdaCos(nn.Module):
    r"""Sub-cluster AdaCos: softmax over several centres per class, adaptive scale.

    Each class owns ``n_subclusters`` centres on the unit sphere. For a clip
    with normalised embedding ``x`` and normalised centres ``w_{k,c}``, the
    logits are ``s * cos(theta_{k,c})`` with ``cos(theta_{k,c}) = <x, w_{k,c}>``;
    the softmax runs over all ``n_classes * n_subclusters`` centres and a
    class's probability is the sum of the softmax over its sub-clusters:

    .. math::

        p_k = \frac{\sum_c \exp(s \cos\theta_{k,c})}{\sum_{j,c} \exp(s \cos\theta_{j,c})}

    The loss is the mean over the batch of ``-sum_k t_k log p_k``, with
    ``log p_k`` computed stably as a logsumexp over the class's sub-cluster
    logits minus a logsumexp over all logits.

    The scale ``s`` is adapted as in AdaCos [2]_. It starts at
    ``sqrt(2) * log(N - 1)`` with ``N = n_classes * n_subclusters`` (1 when
    ``N <= 2``, where that formula gives ``-inf`` or a useless 0). In training
    mode (``self.training``), each ``forward`` first updates it, without
    gradient, from the scale in use so far ``s_old``:

    - ``B_avg`` is the mean over the batch of ``sum exp(s_old * cos)`` over the
      clip's *non-target* centres: the centres of every class whose target
      probability is 0 (with soft targets, any class with positive weight
      counts as a target class and its centres are left out);
    - ``theta_med`` is the median over the batch (mean of the two middle values
      for an even batch) of each clip's target angle, the angle to the closest
      centre of its target class (for soft targets, of the class with the
      highest weight; the first such class on ties);
    - ``s_new = log(B_avg) / cos(min(pi / 4, theta_med))``.

    The update is skipped, keeping the old scale, when ``B_avg`` or ``s_new``
    is not finite or not positive (e.g. a single class, or a batch whose clips
    all put weight on every class). ``s_new`` then computes the logits of the
    same ``forward``. ``s`` lives in the buffer ``scale``, so it is saved in
    the ``state_dict``, and in evaluation mode it is used unchanged.

    Parameters
    ----------
    n_classes : int
        Number of classes, >= 1.
    embedding_dim : int
        Dimension of the embeddings, >= 1.
    n_subclusters : int, default=16
        Number of centres per class, >= 1.
    trainable : bool, default=False
        Whether the centres are learned. Either way they are a
        :class:`torch.nn.Parameter` (with ``requires_grad=trainable``) and are
        saved in the ``state_dict``. The original method keeps them fixed at
        their random initial values.
    generator : torch.Generator or None, default=None
        Seeds the standard-normal initialisation of the centres; the global
        torch RNG is not touched when one is given. None draws from the global
        torch RNG.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_classes * n_subclusters, embedding_dim)
        The centres (not normalised), class-major: rows
        ``k * n_subclusters`` to ``(k + 1) * n_subclusters - 1`` belong to class ``k``.
    scale : torch.Tensor of shape ()
        The current scale ``s`` (a buffer).
    n_classes, embedding_dim, n_subclusters : int
        The constructor arguments.

    References
    ----------
    .. [1] K. Wilkinghoff, "Sub-cluster AdaCos: Learning representations for
       anomalous sound detection", in Proc. IJCNN, 2021.
    .. [2] X. Zhang, R. Zhao, Y. Qiao, X. Wang and H. Li, "AdaCos: Adaptively
       scaling cosine logits for effectively learning deep face
       representations", in Proc. CVPR, 2019.
    .. [3] K. Wilkinghoff and F. Kurth, "Why do angular margin losses work
       well for semi-supervised anomalous sound detection?", IEEE/ACM TASLP 32,
       2024, pp. 608-622.

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding import SubClusterAdaCos
    >>> generator = torch.Generator().manual_seed(0)
    >>> loss_fn = SubClusterAdaCos(3, 8, n_subclusters=4, generator=generator)
    >>> embeddings = torch.randn(5, 8, generator=generator, requires_grad=True)
    >>> loss = loss_fn(embeddings, torch.tensor([0, 1, 2, 0, 1]))
    >>> loss.backward()
    >>> loss.shape, embeddings.grad.shape
    (torch.Size([]), torch.Size([5, 8]))
    >>> proba = loss_fn.predict_proba(embeddings)
    >>> proba.shape, bool(torch.allclose(proba.sum(dim=1), torch.ones(5)))
    (torch.Size([5, 3]), True)
    >>> loss_fn.cosine(embeddings).shape
    torch.Size([5, 3, 4])
    """

    def __init__(
        self,
        n_classes,
        embedding_dim,
        *,
        n_subclusters=16,
        trainable=False,
        generator=None,
    ):
        super().__init__()
        self.n_classes = _check_int(n_classes, "n_classes")
        self.embedding_dim = _check_int(embedding_dim, "embedding_dim")
        self.n_subclusters = _check_int(n_subclusters, "n_subclusters")
        if not isinstance(trainable, bool):
            raise ValueError(  # noqa: TRY004 (skasd reports bad input as ValueError)
                f"trainable must be a bool, got {trainable!r}."
            )
        generator = _check_generator(generator)
        n_centres = self.n_classes * self.n_subclusters
        self.weight = nn.Parameter(
            _random_normal((n_centres, self.embedding_dim), generator),
            requires_grad=trainable,
        )
        self.register_buffer("scale", torch.tensor(_initial_adaptive_scale(n_centres)))

    def extra_repr(self):
        return (
            f"n_classes={self.n_classes}, embedding_dim={self.embedding_dim}, "
            f"n_subclusters={self.n_subclusters}, trainable={self.weight.requires_grad}"
        )

    def _cosine(self, embeddings):
        embeddings = _check_embeddings(
            embeddings, self.embedding_dim, self.weight.dtype
        )
        centres = _normalize(self.weight.to(embeddings.dtype))
        cos = _normalize(embeddings) @ centres.T
        return cos.view(-1, self.n_classes, self.n_subclusters)

    def cosine(self, embeddings):
        """Cosine similarities to every centre.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, embedding_dim)

        Returns
        -------
        cos : torch.Tensor of shape (batch, n_classes, n_subclusters)
        """
        return self._cosine(embeddings)

    def _log_proba(self, cos):
        logits = self.scale.to(cos.dtype) * cos
        return torch.logsumexp(logits, dim=2) - torch.logsumexp(
            logits.flatten(1), dim=1, keepdim=True
        )

    def predict_proba(self, embeddings):
        """Class probabilities: the softmax summed over each class's sub-clusters.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, embedding_dim)

        Returns
        -------
        proba : torch.Tensor of shape (batch, n_classes)
            Rows sum to one. The scale is not updated.
        """
        return self._log_proba(self._cosine(embeddings)).exp()

    def forward(self, embeddings, targets):
        """Mean cross-entropy between ``targets`` and the class probabilities.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, embedding_dim)
            Not normalised.
        targets : torch.Tensor of shape (batch,) or (batch, n_classes)
            Integer class indices, or float class probabilities.

        Returns
        -------
        loss : torch.Tensor of shape ()
        """
        cos = self._cosine(embeddings)
        probabilities = _target_probabilities(
            targets, self.n_classes, cos.shape[0], cos.dtype, cos.device
        )
        if self.training:
            with torch.no_grad():
                main_class = probabilities.argmax(dim=1)
                target_cos = cos[
                    torch.arange(cos.shape[0], device=cos.device), main_class
                ].amax(dim=1)
                non_target = (probabilities == 0)[:, :, None].expand_as(cos)
                _update_adaptive_scale(
                    self.scale, cos.flatten(1), non_target.flatten(1), target_cos
                )
        return -(probabilities * self._log_proba(cos)).sum(dim=1).mean()


class SubspaceLoss(nn.Module):
    r"""Subspace loss: sub-cluster AdaCos on the whole embedding and on each branch.

    For an embedding ``z = [z^(1), ..., z^(M)]`` concatenated from ``M``
    branches (introduced in [1]_, written as eq. (1) of [2]_):

    .. math::

        L_{ss} = L_{SCAC}(z, l) + \sum_{m=1}^{M} L_{SCAC}(z^{(m)}, l)

    The head on the concatenated embedding has fixed random centres (it
    stabilises the global embedding); each branch head has trainable
    centres (each branch must be discriminative on its own). Every head is a
    :class:`SubClusterAdaCos` with its own adaptive scale.

    Parameters
    ----------
    n_classes : int
        Number of classes, >= 1.
    branch_dims : sequence of int
        Dimension of each branch, each >= 1 (at least one branch).
        Embeddings have ``sum(branch_dims)`` columns, the branches in this
        order.
    n_subclusters : int, default=16
        Number of centres per class in every head.
    generator : torch.Generator or None, default=None
        Seeds the centres of the concatenated head, then of each branch head
        in order. None draws from the global torch RNG.

    Attributes
    ----------
    concatenated : SubClusterAdaCos
        The head on the whole embedding (``trainable=False``).
    branches : torch.nn.ModuleList of SubClusterAdaCos
        One head per branch (``trainable=True``).
    branch_dims : tuple of int
    embedding_dim : int
        ``sum(branch_dims)``.
    n_classes, n_subclusters : int

    References
    ----------
    .. [1] T. Fujimura, I. Kuroyanagi and T. Toda, "Improvements of
       discriminative feature space training for anomalous sound detection in
       unlabeled conditions", in Proc. ICASSP, 2025.
    .. [2] I. Kuroyanagi, T. Fujimura, K. Takeda and T. Toda, "Improving
       anomalous sound detection through pseudo-anomalous set selection and
       pseudo-label utilization under unlabeled conditions", Section 3.2.
    .. [3] K. Wilkinghoff, "Sub-cluster AdaCos: Learning representations for
       anomalous sound detection", in Proc. IJCNN, 2021.

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding import SubspaceLoss
    >>> generator = torch.Generator().manual_seed(0)
    >>> loss_fn = SubspaceLoss(3, [4, 4, 2], n_subclusters=2, generator=generator)
    >>> embeddings = torch.randn(6, 10, generator=generator, requires_grad=True)
    >>> loss = loss_fn(embeddings, torch.tensor([0, 1, 2, 0, 1, 2]))
    >>> loss.backward()
    >>> [head.weight.requires_grad for head in [loss_fn.concatenated, *loss_fn.branches]]
    [False, True, True, True]
    >>> loss_fn.predict_proba(embeddings).shape
    torch.Size([6, 3])
    """

    def __init__(self, n_classes, branch_dims, *, n_subclusters=16, generator=None):
        super().__init__()
        self.n_classes = _check_int(n_classes, "n_classes")
        self.n_subclusters = _check_int(n_subclusters, "n_subclusters")
        if isinstance(branch_dims, (str, bytes)) or not hasattr(
            branch_dims, "__iter__"
        ):
            raise ValueError(
                f"branch_dims must be a sequence of integers >= 1, got {branch_dims!r}."
            )
        branch_dims = tuple(branch_dims)
        if len(branch_dims) == 0:
            raise ValueError(
                "branch_dims must name at least one branch, got an empty sequence."
            )
        self.branch_dims = tuple(
            _check_int(dim, "each of branch_dims") for dim in branch_dims
        )
        self.embedding_dim = sum(self.branch_dims)
        generator = _check_generator(generator)
        self.concatenated = SubClusterAdaCos(
            self.n_classes,
            self.embedding_dim,
            n_subclusters=self.n_subclusters,
            trainable=False,
            generator=generator,
        )
        self.branches = nn.ModuleList(
            SubClusterAdaCos(
                self.n_classes,
                dim,
                n_subclusters=self.n_subclusters,
                trainable=True,
                generator=generator,
            )
            for dim in self.branch_dims
        )

    def extra_repr(self):
        return f"n_classes={self.n_classes}, branch_dims={self.branch_dims}, n_subclusters={self.n_subclusters}"

    def cosine(self, embeddings):
        """Cosine similarities to the centres of the concatenated head.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, sum(branch_dims))

        Returns
        -------
        cos : torch.Tensor of shape (batch, n_classes, n_subclusters)
        """
        return self.concatenated.cosine(embeddings)

    def predict_proba(self, embeddings):
        """Class probabilities of the concatenated head.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, sum(branch_dims))

        Returns
        -------
        proba : torch.Tensor of shape (batch, n_classes)
        """
        return self.concatenated.predict_proba(embeddings)

    def forward(self, embeddings, targets):
        """Sum of the concatenated head's loss and every branch head's loss.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, sum(branch_dims))
        targets : torch.Tensor of shape (batch,) or (batch, n_classes)
            Integer class indices, or float class probabilities.

        Returns
        -------
        loss : torch.Tensor of shape ()
        """
        loss = self.concatenated(embeddings, targets)
        for head, branch in zip(
            self.branches, torch.split(embeddings, self.branch_dims, dim=1)
        ):
            loss = loss + head(branch, targets)
        return loss


class _ClassMarginLoss(nn.Module):
    """Cross-entropy on ``s * cos`` with an additive angular margin on the target.

    Subclasses compute ``cosine(embeddings)`` of shape (batch, n_classes) and
    may adapt the scale in ``_update_scale`` before the logits of a training
    batch are formed.
    """

    def _update_scale(self, cos, probabilities):
        """Hook run without gradient on each training batch; the scale is fixed by default."""

    def predict_proba(self, embeddings):
        """Class probabilities ``softmax(s * cos(theta))``, without margin.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, embedding_dim)

        Returns
        -------
        proba : torch.Tensor of shape (batch, n_classes)
        """
        cos = self.cosine(embeddings)
        return torch.softmax(self.scale.to(cos.dtype) * cos, dim=1)

    def forward(self, embeddings, targets):
        """Mean (expected) margin cross-entropy over the classes.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, embedding_dim)
            Not normalised.
        targets : torch.Tensor of shape (batch,) or (batch, n_classes)
            Integer class indices, or float class probabilities.

        Returns
        -------
        loss : torch.Tensor of shape ()
        """
        cos = self.cosine(embeddings)
        probabilities = _target_probabilities(
            targets, self.n_classes, cos.shape[0], cos.dtype, cos.device
        )
        if self.training:
            with torch.no_grad():
                self._update_scale(cos, probabilities)
        s = self.scale.to(cos.dtype)
        return _margin_cross_entropy(
            s * cos, s * _additive_angular_margin(cos, self.margin), probabilities
        )


class ArcFace(_ClassMarginLoss):
    r"""ArcFace: additive angular margin on the target class, fixed scale.

    With normalised embedding ``x`` and normalised trainable class centres
    ``w_k``, ``cos(theta_k) = <x, w_k>``. For a clip of class ``y`` the logits
    are ``s * cos(theta_y + m)`` for the target and ``s * cos(theta_j)`` for
    the others, and the loss is the softmax cross-entropy.

    Where ``theta_y + m > pi`` (``cos(theta_y) < cos(pi - m)``), ``cos(theta_y + m)``
    would increase again with the angle; there the target logit is
    ``s * (cos(theta_y) - m sin(m))`` instead, as in the reference
    implementation. ``sin(theta) = sqrt(1 - cos^2)`` is computed exactly, but
    its gradient is that of ``sqrt(max(1 - cos^2, 1e-7))`` so that it stays
    finite at ``cos = +-1`` (zero within about 3e-4 rad of a centre).

    With soft targets ``t`` the loss is the expectation over the target
    distribution of the hard-label loss, ``sum_k t_k * CE_k``, where ``CE_k``
    is the cross-entropy with the margin applied to class ``k``; one-hot soft
    targets give exactly the hard-label loss. :meth:`predict_proba` uses no
    margin: ``softmax(s * cos(theta))``.

    Parameters
    ----------
    n_classes : int
        Number of classes, >= 1.
    embedding_dim : int
        Dimension of the embeddings, >= 1.
    scale : float, default=30.0
        The scale ``s``, > 0.
    margin : float, default=0.5
        The additive angular margin ``m`` in radians, in ``[0, pi)``.
    generator : torch.Generator or None, default=None
        Seeds the standard-normal initialisation of the centres; None draws
        from the global torch RNG.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_classes, embedding_dim)
        The trainable class centres (not normalised).
    scale : torch.Tensor of shape ()
        The scale ``s`` (a buffer, saved in the ``state_dict``).
    margin : float
    n_classes, embedding_dim : int

    References
    ----------
    .. [1] J. Deng, J. Guo, N. Xue and S. Zafeiriou, "ArcFace: Additive
       angular margin loss for deep face recognition", in Proc. CVPR, 2019.

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding import ArcFace
    >>> generator = torch.Generator().manual_seed(0)
    >>> loss_fn = ArcFace(3, 8, scale=16.0, margin=0.3, generator=generator)
    >>> embeddings = torch.randn(4, 8, generator=generator, requires_grad=True)
    >>> soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.5]])
    >>> loss = loss_fn(embeddings, soft)
    >>> loss.backward()
    >>> bool(torch.isfinite(loss)), loss_fn.weight.grad.shape
    (True, torch.Size([3, 8]))
    """

    def __init__(
        self, n_classes, embedding_dim, *, scale=30.0, margin=0.5, generator=None
    ):
        super().__init__()
        self.n_classes = _check_int(n_classes, "n_classes")
        self.embedding_dim = _check_int(embedding_dim, "embedding_dim")
        self.margin = _check_margin(margin)
        generator = _check_generator(generator)
        self.weight = nn.Parameter(
            _random_normal((self.n_classes, self.embedding_dim), generator)
        )
        self.register_buffer("scale", torch.tensor(_check_fixed_scale(scale)))

    def extra_repr(self):
        return (
            f"n_classes={self.n_classes}, embedding_dim={self.embedding_dim}, "
            f"scale={float(self.scale):g}, margin={self.margin:g}"
        )

    def cosine(self, embeddings):
        """Cosine similarities to the class centres.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, embedding_dim)

        Returns
        -------
        cos : torch.Tensor of shape (batch, n_classes)
        """
        embeddings = _check_embeddings(
            embeddings, self.embedding_dim, self.weight.dtype
        )
        return _normalize(embeddings) @ _normalize(self.weight.to(embeddings.dtype)).T

class AdaProj(_ClassMarginLoss):
    r"""AdaProj: angular margin loss on class-specific linear subspaces.

    Each class ``k`` owns ``subspace_dim`` trainable vectors, the columns of
    a basis ``B_k`` of shape ``(embedding_dim, subspace_dim)``. The similarity
    of a normalised embedding ``x`` to class ``k`` is the cosine of the angle
    between ``x`` and its orthogonal projection onto ``span(B_k)``, which is
    the length of that projection:

    .. math::

        \cos\theta_k = \lVert P_k x \rVert = \lVert Q_k^\top x \rVert,
        \qquad B_k = Q_k R_k \text{ (reduced QR)}

    ``Q_k`` comes from :func:`torch.linalg.qr`, which is exact and
    differentiable for a basis of full column rank (a random Gaussian basis
    has full rank with probability one, and ``subspace_dim <= embedding_dim``
    is required). An embedding orthogonal to a subspace (e.g. all zeros) has
    cosine 0 to it and zero gradient through that cosine.

    The logits are ``s * cos(theta_k)``, with the target class's logit
    ``s * cos(theta_y + m)`` when ``margin > 0`` (the same margin function and
    soft-target expectation as :class:`ArcFace`). With ``scale="adaptive"``
    the scale follows the AdaCos update of :class:`SubClusterAdaCos`, with one
    centre per class: it starts at ``sqrt(2) * log(n_classes - 1)`` (1 when
    ``n_classes <= 2``), and in training mode each ``forward`` first updates
    it from ``B_avg`` (over the classes with zero target probability) and the
    median target angle ``arccos(cos theta_y)`` (for soft targets, of the
    class with the highest weight), with the same guards. The margin does
    not enter the update.

    Parameters
    ----------
    n_classes : int
        Number of classes, >= 1.
    embedding_dim : int
        Dimension of the embeddings, >= 1.
    subspace_dim : int, default=32
        Dimension of each class subspace, in ``[1, embedding_dim]``.
    scale : "adaptive" or float, default="adaptive"
        AdaCos' adaptive scale, or a fixed scale > 0.
    margin : float, default=0.0
        Additive angular margin on the target class, in ``[0, pi)``.
    generator : torch.Generator or None, default=None
        Seeds the standard-normal initialisation of the bases; None draws from
        the global torch RNG.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_classes, embedding_dim, subspace_dim)
        The trainable (not orthonormalised) bases, one per class.
    scale : torch.Tensor of shape ()
        The current scale ``s`` (a buffer, saved in the ``state_dict``).
    adaptive : bool
        Whether the scale is updated in training mode.
    margin : float
    n_classes, embedding_dim, subspace_dim : int

    References
    ----------
    .. [1] K. Wilkinghoff, "AdaProj: Adaptively scaled angular margin
       subspace projections for anomalous sound detection with auxiliary
       classification tasks", in Proc. DCASE Workshop, 2024, pp. 186-190.
    .. [2] X. Zhang, R. Zhao, Y. Qiao, X. Wang and H. Li, "AdaCos: Adaptively
       scaling cosine logits for effectively learning deep face
       representations", in Proc. CVPR, 2019.

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding import AdaProj
    >>> generator = torch.Generator().manual_seed(0)
    >>> loss_fn = AdaProj(4, 16, subspace_dim=3, generator=generator)
    >>> embeddings = torch.randn(8, 16, generator=generator, requires_grad=True)
    >>> loss = loss_fn(embeddings, torch.tensor([0, 1, 2, 3, 0, 1, 2, 3]))
    >>> loss.backward()
    >>> cos = loss_fn.cosine(embeddings)
    >>> cos.shape, bool(((cos >= 0) & (cos <= 1 + 1e-6)).all())
    (torch.Size([8, 4]), True)
    """

    def __init__(
        self,
        n_classes,
        embedding_dim,
        *,
        subspace_dim=32,
        scale="adaptive",
        margin=0.0,
        generator=None,
    ):
        super().__init__()
        self.n_classes = _check_int(n_classes, "n_classes")
        self.embedding_dim = _check_int(embedding_dim, "embedding_dim")
        self.subspace_dim = _check_int(subspace_dim, "subspace_dim")
        if self.subspace_dim > self.embedding_dim:
            raise ValueError(
                f"subspace_dim must be <= embedding_dim = {self.embedding_dim}, got {self.subspace_dim}."
            )
        if isinstance(scale, str):
            if scale != "adaptive":
                raise ValueError(
                    f"scale must be 'adaptive' or a finite real number > 0, got {scale!r}."
                )
            self.adaptive = True
            initial_scale = _initial_adaptive_scale(self.n_classes)
        else:
            self.adaptive = False
            initial_scale = _check_fixed_scale(scale)
        self.margin = _check_margin(margin)
        generator = _check_generator(generator)
        self.weight = nn.Parameter(
            _random_normal(
                (self.n_classes, self.embedding_dim, self.subspace_dim), generator
            )
        )
        self.register_buffer("scale", torch.tensor(initial_scale))

    def extra_repr(self):
        scale = "adaptive" if self.adaptive else f"{float(self.scale):g}"
        return (
            f"n_classes={self.n_classes}, embedding_dim={self.embedding_dim}, "
            f"subspace_dim={self.subspace_dim}, scale={scale}, margin={self.margin:g}"
        )

    def cosine(self, embeddings):
        """Cosine of the angle between each embedding and each class subspace.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch, embedding_dim)

        Returns
        -------
        cos : torch.Tensor of shape (batch, n_classes)
            ``||P_k x||`` for the normalised embedding ``x``, in ``[0, 1]``.
        """
        embeddings = _check_embeddings(
            embeddings, self.embedding_dim, self.weight.dtype
        )
        orthonormal, _ = torch.linalg.qr(
            self.weight.to(embeddings.dtype), mode="reduced"
        )
        coordinates = torch.einsum("bd,kdr->bkr", _normalize(embeddings), orthonormal)
        return torch.linalg.vector_norm(coordinates, dim=2)

    def _update_scale(self, cos, probabilities):
        if self.adaptive:
            main_class = probabilities.argmax(dim=1, keepdim=True)
            target_cos = cos.gather(1, main_class)[:, 0]
            _update_adaptive_scale(self.scale, cos, probabilities == 0, target_cos)
