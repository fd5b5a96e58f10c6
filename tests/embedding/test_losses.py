"""Angular-margin losses: hand-computed values, the adaptive scale, gradients, errors."""

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skasd.embedding._losses import AdaProj, ArcFace, SubClusterAdaCos, SubspaceLoss

# ----------------------------------------------------------------------------
# Independent reference computations (plain numpy / math)
# ----------------------------------------------------------------------------


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _np_logsumexp(values, axis=-1):
    top = np.max(values, axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(values - top), axis=axis))


def _np_scac_loss(embeddings, centres, n_subclusters, scale, targets):
    """Sub-cluster AdaCos loss; ``targets`` a (batch, n_classes) probability matrix."""
    cos = _unit(embeddings) @ _unit(centres).T
    logits = scale * cos
    n_classes = centres.shape[0] // n_subclusters
    per_class = logits.reshape(len(embeddings), n_classes, n_subclusters)
    log_p = _np_logsumexp(per_class, axis=2) - _np_logsumexp(logits, axis=1)[:, None]
    return float(np.mean(-(np.asarray(targets) * log_p).sum(axis=1)))


def _np_adacos_scale(scale, cos, non_target, target_cos):
    b_avg = np.mean(np.sum(np.where(non_target, np.exp(scale * cos), 0.0), axis=1))
    theta_med = np.median(np.arccos(target_cos))
    return math.log(b_avg) / math.cos(min(math.pi / 4, theta_med))


def _one_hot(indices, n_classes):
    return np.eye(n_classes)[indices]


def _set(module, weight, scale=None):
    with torch.no_grad():
        module.weight.copy_(
            torch.as_tensor(np.asarray(weight), dtype=module.weight.dtype)
        )
        if scale is not None:
            module.scale.fill_(scale)
    return module


# ----------------------------------------------------------------------------
# Sub-cluster AdaCos
# ----------------------------------------------------------------------------

SCAC_CENTRES = np.array(
    [[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [1.0, 1.0]]
)  # class 0: rows 0-1
SCAC_EMBEDDINGS = np.array([[3.0, 4.0], [-2.0, 0.5]])


def test_subcluster_adacos_hand_computed_loss():
    loss_fn = SubClusterAdaCos(2, 2, n_subclusters=2).double().eval()
    _set(loss_fn, SCAC_CENTRES, scale=2.0)
    embeddings = torch.tensor(SCAC_EMBEDDINGS)
    # First clip: x = (0.6, 0.8); cosines 0.6, 0.8 | -0.6, 1.4 / sqrt(2).
    x = (0.6, 0.8)
    cos = [x[0], x[1], -x[0], (x[0] + x[1]) / math.sqrt(2)]
    e = [math.exp(2.0 * c) for c in cos]
    expected_first = -math.log((e[0] + e[1]) / sum(e))
    expected = _np_scac_loss(SCAC_EMBEDDINGS, SCAC_CENTRES, 2, 2.0, _one_hot([0, 1], 2))
    assert expected == pytest.approx(
        (
            expected_first
            + _np_scac_loss(SCAC_EMBEDDINGS[1:], SCAC_CENTRES, 2, 2.0, [[0, 1]])
        )
        / 2
    )
    loss = loss_fn(embeddings, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert loss_fn(embeddings[:1], torch.tensor([0])).item() == pytest.approx(
        expected_first, abs=1e-6
    )

    soft = np.array([[0.25, 0.75], [0.6, 0.4]])
    expected_soft = _np_scac_loss(SCAC_EMBEDDINGS, SCAC_CENTRES, 2, 2.0, soft)
    assert loss_fn(embeddings, torch.tensor(soft)).item() == pytest.approx(
        expected_soft, abs=1e-6
    )

    proba = loss_fn.predict_proba(embeddings[:1]).detach().numpy()
    np.testing.assert_allclose(
        proba, [[(e[0] + e[1]) / sum(e), (e[2] + e[3]) / sum(e)]], atol=1e-12
    )
    cosine = loss_fn.cosine(embeddings[:1]).detach().numpy()
    np.testing.assert_allclose(cosine, np.reshape(cos, (1, 2, 2)), atol=1e-12)


def test_subcluster_adacos_initial_scale():
    assert SubClusterAdaCos(3, 4, n_subclusters=4).scale.item() == pytest.approx(
        math.sqrt(2) * math.log(11)
    )
    # Fallback where sqrt(2) * log(N - 1) is -inf or 0.
    assert SubClusterAdaCos(1, 4, n_subclusters=1).scale.item() == 1.0
    assert SubClusterAdaCos(2, 4, n_subclusters=1).scale.item() == 1.0
    assert SubClusterAdaCos(1, 4, n_subclusters=2).scale.item() == 1.0


def test_subcluster_adacos_adaptive_scale_hard_targets():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3 * 2, 4))
    targets = np.array([0, 1, 2, 0, 1, 1])
    # Each clip near one sub-cluster of its class (rows 0, 3, 4, 1, 2, 3), so
    # that the median target angle is below pi / 4 and "closest centre" matters.
    embeddings = centres[[0, 3, 4, 1, 2, 3]] + 0.2 * rng.normal(size=(6, 4))
    loss_fn = SubClusterAdaCos(3, 4, n_subclusters=2).double().train()
    s_old = 1.7
    _set(loss_fn, centres, scale=s_old)

    cos = _unit(embeddings) @ _unit(centres).T  # (6, 6), class-major
    owner = np.repeat(np.arange(3), 2)
    non_target = owner[None, :] != targets[:, None]
    target_cos = np.array([cos[i, owner == targets[i]].max() for i in range(6)])
    s_new = _np_adacos_scale(s_old, cos, non_target, target_cos)
    assert np.median(np.arccos(target_cos)) < math.pi / 4
    assert s_new > 0 and s_new != pytest.approx(s_old)

    loss = loss_fn(torch.tensor(embeddings), torch.tensor(targets))
    assert loss_fn.scale.item() == pytest.approx(s_new, abs=1e-6)
    # The logits of the same forward use the new scale.
    expected = _np_scac_loss(embeddings, centres, 2, s_new, _one_hot(targets, 3))
    assert loss.item() == pytest.approx(expected, abs=1e-6)

    # Evaluation mode: the scale is used unchanged.
    loss_fn.eval()
    loss = loss_fn(torch.tensor(embeddings), torch.tensor(targets))
    assert loss_fn.scale.item() == pytest.approx(s_new, abs=1e-6)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_subcluster_adacos_adaptive_scale_soft_targets():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3 * 2, 4))
    embeddings = rng.normal(size=(5, 4))
    soft = np.array(
        [
            [0.3, 0.7, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 0.4, 0.6],
            [0.5, 0.0, 0.5],
            [0.2, 0.2, 0.6],
        ]
    )
    loss_fn = SubClusterAdaCos(3, 4, n_subclusters=2).double().train()
    s_old = 1.3
    _set(loss_fn, centres, scale=s_old)

    cos = _unit(embeddings) @ _unit(centres).T
    owner = np.repeat(np.arange(3), 2)
    non_target = (
        soft[:, owner] == 0
    )  # every class with positive weight counts as target
    main = soft.argmax(axis=1)  # ties: the first class
    assert main.tolist() == [1, 0, 2, 0, 2]
    target_cos = np.array([cos[i, owner == main[i]].max() for i in range(5)])
    s_new = _np_adacos_scale(s_old, cos, non_target, target_cos)

    loss_fn(torch.tensor(embeddings), torch.tensor(soft))
    assert loss_fn.scale.item() == pytest.approx(s_new, abs=1e-6)


def test_adaptive_scale_guards_keep_old_scale():
    # A single class: no non-target centre, B_avg = 0.
    single = SubClusterAdaCos(1, 3, n_subclusters=3).train()
    before = single.scale.item()
    assert before == pytest.approx(math.sqrt(2) * math.log(2))
    single(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))
    assert single.scale.item() == before

    # Soft targets putting weight on every class: no non-target centre either.
    both = SubClusterAdaCos(2, 3, n_subclusters=2).train()
    before = both.scale.item()
    both(torch.randn(4, 3), torch.full((4, 2), 0.5))
    assert both.scale.item() == before

    # B_avg < 1 would give a negative scale.
    pair = _set(
        SubClusterAdaCos(2, 2, n_subclusters=1).double().train(),
        [[1.0, 0.0], [-1.0, 0.0]],
    )
    pair(
        torch.tensor([[1.0, 0.0], [-1.0, 0.1]], dtype=torch.float64),
        torch.tensor([0, 1]),
    )
    assert pair.scale.item() == 1.0


def test_subcluster_adacos_state_dict_and_trainable():
    fixed = SubClusterAdaCos(
        2, 3, n_subclusters=2, generator=torch.Generator().manual_seed(0)
    )
    assert not fixed.weight.requires_grad
    assert set(fixed.state_dict()) == {"weight", "scale"}
    fixed.train()(torch.randn(8, 3), torch.tensor([0, 1] * 4))
    restored = SubClusterAdaCos(2, 3, n_subclusters=2)
    restored.load_state_dict(fixed.state_dict())
    assert torch.equal(restored.scale, fixed.scale) and torch.equal(
        restored.weight, fixed.weight
    )
    assert SubClusterAdaCos(2, 3, trainable=True).weight.requires_grad


@given(
    n_classes=st.integers(1, 5),
    n_subclusters=st.integers(1, 4),
    scale=st.floats(0.01, 60.0),
    data=st.data(),
)
def test_subcluster_adacos_probabilities_sum_to_one(
    n_classes, n_subclusters, scale, data
):
    dim = data.draw(st.integers(1, 6), label="dim")
    batch = data.draw(st.integers(1, 5), label="batch")
    elements = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    embeddings = data.draw(
        hnp.arrays(np.float64, (batch, dim), elements=elements), label="embeddings"
    )
    centres = data.draw(
        hnp.arrays(np.float64, (n_classes * n_subclusters, dim), elements=elements),
        label="centres",
    )
    loss_fn = _set(
        SubClusterAdaCos(n_classes, dim, n_subclusters=n_subclusters).double(),
        centres,
        scale,
    )
    proba = loss_fn.predict_proba(torch.tensor(embeddings)).detach().numpy()
    assert proba.shape == (batch, n_classes)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


# ----------------------------------------------------------------------------
# Subspace loss
# ----------------------------------------------------------------------------


def test_subspace_loss_is_sum_of_heads():
    rng = np.random.default_rng(2)
    branch_dims = (3, 2)
    loss_fn = SubspaceLoss(
        2, branch_dims, n_subclusters=2, generator=torch.Generator().manual_seed(0)
    )
    loss_fn = loss_fn.double().eval()
    assert loss_fn.embedding_dim == 5
    assert not loss_fn.concatenated.weight.requires_grad
    assert all(head.weight.requires_grad for head in loss_fn.branches)
    heads = [loss_fn.concatenated, *loss_fn.branches]
    centres = [rng.normal(size=(4, dim)) for dim in (5, *branch_dims)]
    scales = [2.0, 3.0, 0.5]
    for head, weight, scale in zip(heads, centres, scales):
        _set(head, weight, scale)
    embeddings = rng.normal(size=(4, 5))
    targets = np.array([0, 1, 1, 0])
    parts = [embeddings, embeddings[:, :3], embeddings[:, 3:]]
    expected = sum(
        _np_scac_loss(part, weight, 2, scale, _one_hot(targets, 2))
        for part, weight, scale in zip(parts, centres, scales)
    )
    loss = loss_fn(torch.tensor(embeddings), torch.tensor(targets))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(
        loss_fn.predict_proba(torch.tensor(embeddings)).detach().numpy(),
        heads[0].predict_proba(torch.tensor(embeddings)).detach().numpy(),
    )
    assert loss_fn.cosine(torch.tensor(embeddings)).shape == (4, 2, 2)


def test_subspace_loss_train_mode_updates_every_head():
    loss_fn = SubspaceLoss(
        4, [3, 3], n_subclusters=2, generator=torch.Generator().manual_seed(0)
    ).train()
    before = [head.scale.item() for head in [loss_fn.concatenated, *loss_fn.branches]]
    loss_fn(
        torch.randn(16, 6, generator=torch.Generator().manual_seed(1)),
        torch.arange(16) % 4,
    )
    after = [head.scale.item() for head in [loss_fn.concatenated, *loss_fn.branches]]
    assert all(a != b for a, b in zip(after, before))


# ----------------------------------------------------------------------------
# ArcFace
# ----------------------------------------------------------------------------


def _np_arcface_ce(angles_to_centres, target, scale, margin):
    """Hard-label ArcFace cross-entropy for one clip from its angles to the centres."""
    cos = np.cos(angles_to_centres)
    theta = angles_to_centres[target]
    if math.cos(theta) >= math.cos(math.pi - margin):
        target_cos = math.cos(theta + margin)
    else:
        target_cos = math.cos(theta) - margin * math.sin(margin)
    logits = scale * cos
    logits[target] = scale * target_cos
    return float(_np_logsumexp(logits) - logits[target])


def test_arcface_hand_computed_loss():
    centre_angles = np.array([0.0, 2.0, 4.0])  # centres on the unit circle, scaled
    centres = np.stack([np.cos(centre_angles), np.sin(centre_angles)], axis=1) * [
        [1.0],
        [3.0],
        [0.5],
    ]
    clip_angles = np.array([0.3, 1.0, 3.0])
    embeddings = np.stack([np.cos(clip_angles), np.sin(clip_angles)], axis=1) * [
        [2.0],
        [0.1],
        [5.0],
    ]
    scale, margin = 4.0, 0.5
    loss_fn = _set(ArcFace(3, 2, scale=scale, margin=margin).double(), centres)

    def angles(i):
        diff = np.abs(clip_angles[i] - centre_angles)
        return np.minimum(diff, 2 * np.pi - diff)

    targets = [0, 2, 0]
    # Clip 2 is at angle pi - 0.14 from centre 0: theta + m > pi, the linear fallback.
    assert math.cos(angles(2)[0]) < math.cos(math.pi - margin)
    ce = [_np_arcface_ce(angles(i), t, scale, margin) for i, t in enumerate(targets)]
    # Clip 0, by hand: target logit 4 cos(0.8), others 4 cos(1.7), 4 cos(2.0 + 0.3 - 2 pi ...).
    by_hand = -4 * math.cos(0.8) + math.log(
        math.exp(4 * math.cos(0.8))
        + math.exp(4 * math.cos(1.7))
        + math.exp(4 * math.cos(2 * math.pi - 3.7))
    )
    assert ce[0] == pytest.approx(by_hand)
    loss = loss_fn(torch.tensor(embeddings), torch.tensor(targets))
    assert loss.item() == pytest.approx(np.mean(ce), abs=1e-6)

    # Soft targets: the expectation of the hard-label loss over the targets.
    soft = np.array([[0.6, 0.4, 0.0], [0.0, 0.0, 1.0], [0.1, 0.2, 0.7]])
    expected = np.mean(
        [
            sum(
                soft[i, k] * _np_arcface_ce(angles(i), k, scale, margin)
                for k in range(3)
            )
            for i in range(3)
        ]
    )
    assert loss_fn(
        torch.tensor(embeddings), torch.tensor(soft)
    ).item() == pytest.approx(expected, abs=1e-6)

    # predict_proba has no margin.
    proba = loss_fn.predict_proba(torch.tensor(embeddings)).detach().numpy()
    cos = np.cos(np.stack([angles(i) for i in range(3)]))
    expected_proba = np.exp(scale * cos) / np.exp(scale * cos).sum(
        axis=1, keepdims=True
    )
    np.testing.assert_allclose(proba, expected_proba, atol=1e-12)
    np.testing.assert_allclose(
        loss_fn.cosine(torch.tensor(embeddings)).detach().numpy(), cos, atol=1e-12
    )


def test_margin_at_zero_angle_is_exact_with_finite_gradients():
    # Embeddings exactly on a centre (ArcFace) or inside a subspace (AdaProj):
    # cos = 1, where d sin(theta) / d cos is infinite.
    arcface = _set(
        ArcFace(2, 2, scale=3.0, margin=0.4).double(), [[2.0, 0.0], [0.0, 1.0]]
    )
    adaproj = _set(
        AdaProj(2, 3, subspace_dim=1, scale=3.0, margin=0.4).double(),
        [[[1.0], [0.0], [0.0]], [[0.0], [0.0], [1.0]]],
    )
    for loss_fn, dim in ((arcface, 2), (adaproj, 3)):
        embeddings = torch.zeros(1, dim, dtype=torch.float64)
        embeddings[0, 0] = 5.0
        embeddings.requires_grad_(True)
        loss = loss_fn(embeddings, torch.tensor([0]))
        logits = [3.0 * math.cos(0.4), 0.0]  # the other class is orthogonal
        assert loss.item() == pytest.approx(
            _np_logsumexp(np.array(logits)) - logits[0], abs=1e-12
        )
        loss.backward()
        assert torch.isfinite(embeddings.grad).all()
        assert torch.isfinite(loss_fn.weight.grad).all()


def test_arcface_without_margin_is_scaled_softmax_cross_entropy():
    generator = torch.Generator().manual_seed(3)
    loss_fn = ArcFace(4, 5, scale=7.0, margin=0.0, generator=generator).double()
    embeddings = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    expected = torch.nn.functional.cross_entropy(
        7.0 * loss_fn.cosine(embeddings), targets
    )
    assert loss_fn(embeddings, targets).item() == pytest.approx(
        expected.item(), abs=1e-12
    )


# ----------------------------------------------------------------------------
# AdaProj
# ----------------------------------------------------------------------------

# Class 0 spans (e1, e2), class 1 spans (e2, e3), class 2 spans (e1, e3); not orthonormal.
ADAPROJ_BASES = np.array(
    [
        [[1.0, 1.0], [0.0, 2.0], [0.0, 0.0]],
        [[0.0, 0.0], [1.0, 0.0], [1.0, 3.0]],
        [[2.0, 1.0], [0.0, 0.0], [0.0, -1.0]],
    ]
)


def _np_adaproj_cos(embeddings):
    x = _unit(embeddings)
    return np.sqrt(
        np.stack(
            [
                x[:, 0] ** 2 + x[:, 1] ** 2,
                x[:, 1] ** 2 + x[:, 2] ** 2,
                x[:, 0] ** 2 + x[:, 2] ** 2,
            ],
            1,
        )
    )


def test_adaproj_hand_computed_loss():
    embeddings = np.array([[1.0, 2.0, 2.0], [0.0, 3.0, -4.0], [-1.0, 0.5, 0.2]])
    scale, margin = 3.0, 0.3
    loss_fn = _set(
        AdaProj(3, 3, subspace_dim=2, scale=scale, margin=margin).double(),
        ADAPROJ_BASES,
    )
    cos = _np_adaproj_cos(embeddings)
    # First clip, x = (1, 2, 2) / 3: cosines sqrt(5)/3, sqrt(8)/3, sqrt(5)/3.
    np.testing.assert_allclose(
        cos[0], [math.sqrt(5) / 3, math.sqrt(8) / 3, math.sqrt(5) / 3]
    )
    np.testing.assert_allclose(
        loss_fn.cosine(torch.tensor(embeddings)).detach().numpy(), cos, atol=1e-12
    )

    def ce(i, k):
        logits = scale * cos[i].copy()
        logits[k] = scale * math.cos(math.acos(cos[i, k]) + margin)
        return float(_np_logsumexp(logits) - logits[k])

    targets = [1, 1, 0]
    expected = np.mean([ce(i, k) for i, k in enumerate(targets)])
    assert loss_fn(
        torch.tensor(embeddings), torch.tensor(targets)
    ).item() == pytest.approx(expected, abs=1e-6)

    soft = np.array([[0.5, 0.5, 0.0], [0.0, 0.9, 0.1], [0.2, 0.3, 0.5]])
    expected_soft = np.mean(
        [sum(soft[i, k] * ce(i, k) for k in range(3)) for i in range(3)]
    )
    assert loss_fn(
        torch.tensor(embeddings), torch.tensor(soft)
    ).item() == pytest.approx(expected_soft, abs=1e-6)

    expected_proba = np.exp(scale * cos) / np.exp(scale * cos).sum(
        axis=1, keepdims=True
    )
    np.testing.assert_allclose(
        loss_fn.predict_proba(torch.tensor(embeddings)).detach().numpy(),
        expected_proba,
        atol=1e-12,
    )


def test_adaproj_adaptive_scale():
    embeddings = np.array(
        [[1.0, 2.0, 2.0], [0.0, 3.0, -4.0], [-1.0, 0.5, 0.2], [2.0, 0.1, 0.3]]
    )
    targets = np.array([1, 1, 0, 2])
    loss_fn = AdaProj(3, 3, subspace_dim=2).double().train()
    assert loss_fn.adaptive
    assert loss_fn.scale.item() == pytest.approx(math.sqrt(2) * math.log(2))
    _set(loss_fn, ADAPROJ_BASES, scale=2.5)
    cos = _np_adaproj_cos(embeddings)
    non_target = np.arange(3)[None, :] != targets[:, None]
    s_new = _np_adacos_scale(2.5, cos, non_target, cos[np.arange(4), targets])
    loss = loss_fn(torch.tensor(embeddings), torch.tensor(targets))
    assert loss_fn.scale.item() == pytest.approx(s_new, abs=1e-6)
    logits = s_new * cos
    expected = np.mean(_np_logsumexp(logits) - logits[np.arange(4), targets])
    assert loss.item() == pytest.approx(expected, abs=1e-6)

    fixed = AdaProj(3, 3, subspace_dim=2, scale=4.0).train()
    fixed(torch.tensor(embeddings, dtype=torch.float32), torch.tensor(targets))
    assert not fixed.adaptive and fixed.scale.item() == 4.0


def test_adaproj_full_subspace_has_cosine_one():
    loss_fn = AdaProj(
        2, 4, subspace_dim=4, generator=torch.Generator().manual_seed(0)
    ).double()
    cos = loss_fn.cosine(torch.randn(3, 4, dtype=torch.float64))
    np.testing.assert_allclose(cos.detach().numpy(), 1.0, atol=1e-12)


# ----------------------------------------------------------------------------
# Properties shared by every loss
# ----------------------------------------------------------------------------


def _make(name, generator=None):
    if name == "scac":
        return SubClusterAdaCos(
            3, 6, n_subclusters=2, trainable=True, generator=generator
        )
    if name == "subspace":
        return SubspaceLoss(3, [4, 2], n_subclusters=2, generator=generator)
    if name == "arcface":
        return ArcFace(3, 6, scale=10.0, margin=0.5, generator=generator)
    return AdaProj(3, 6, subspace_dim=2, margin=0.2, generator=generator)


LOSSES = ["scac", "subspace", "arcface", "adaproj"]
SOFT = torch.tensor(
    [
        [0.7, 0.3, 0.0],
        [0.0, 1.0, 0.0],
        [0.2, 0.2, 0.6],
        [0.0, 0.5, 0.5],
        [1.0, 0.0, 0.0],
    ]
)
HARD = torch.tensor([0, 1, 2, 1, 0])


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("targets", [HARD, SOFT], ids=["hard", "soft"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradients_finite_and_nonzero(name, targets, mode):
    loss_fn = _make(name, torch.Generator().manual_seed(0)).train(mode == "train")
    embeddings = torch.randn(
        5, 6, generator=torch.Generator().manual_seed(1), requires_grad=True
    )
    loss = loss_fn(embeddings, targets)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(embeddings.grad).all() and embeddings.grad.abs().sum() > 0
    trainable = [p for p in loss_fn.parameters() if p.requires_grad]
    assert trainable
    for parameter in trainable:
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0
    for parameter in loss_fn.parameters():
        if not parameter.requires_grad:
            assert parameter.grad is None


@pytest.mark.parametrize("name", LOSSES)
def test_zero_embedding_gives_finite_loss_and_gradients(name):
    loss_fn = _make(name, torch.Generator().manual_seed(0)).train()
    embeddings = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    embeddings[1] = 0.0
    embeddings.requires_grad_(True)
    loss = loss_fn(embeddings, SOFT)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(embeddings.grad).all()
    assert all(
        torch.isfinite(p.grad).all() for p in loss_fn.parameters() if p.requires_grad
    )
    assert torch.isfinite(loss_fn.predict_proba(torch.zeros(2, 6))).all()


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_one_hot_soft_targets_equal_hard_targets(name, mode):
    loss_fn = _make(name, torch.Generator().manual_seed(0)).train(mode == "train")
    twin = copy.deepcopy(loss_fn)
    embeddings = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    hard = loss_fn(embeddings, HARD)
    soft = twin(embeddings, torch.nn.functional.one_hot(HARD, 3).float())
    assert torch.equal(hard, soft)
    for a, b in zip(loss_fn.buffers(), twin.buffers()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", LOSSES)
def test_predict_proba_rows_sum_to_one(name):
    loss_fn = _make(name, torch.Generator().manual_seed(0))
    proba = loss_fn.predict_proba(
        torch.randn(7, 6, generator=torch.Generator().manual_seed(1))
    )
    assert proba.shape == (7, 3)
    assert torch.allclose(proba.sum(dim=1), torch.ones(7))


@pytest.mark.parametrize("name", LOSSES)
def test_a_few_training_steps_lower_the_loss(name):
    generator = torch.Generator().manual_seed(0)
    loss_fn = _make(name, generator).train()
    embeddings = torch.randn(30, 6, generator=generator, requires_grad=True)
    targets = torch.arange(30) % 3
    optimizer = torch.optim.Adam([embeddings, *loss_fn.parameters()], lr=0.05)
    first = None
    for _ in range(100):
        optimizer.zero_grad()
        loss = loss_fn(embeddings, targets)
        first = loss.item() if first is None else first
        loss.backward()
        optimizer.step()
    loss_fn.eval()
    assert loss_fn(embeddings, targets).item() < 0.6 * first
    accuracy = (
        (loss_fn.predict_proba(embeddings).argmax(dim=1) == targets).float().mean()
    )
    assert accuracy == 1.0


@pytest.mark.parametrize("name", LOSSES)
def test_generator_seeds_centres_without_touching_global_rng(name):
    state = torch.get_rng_state()
    first = _make(name, torch.Generator().manual_seed(42))
    second = _make(name, torch.Generator().manual_seed(42))
    other = _make(name, torch.Generator().manual_seed(43))
    assert torch.equal(torch.get_rng_state(), state)
    for a, b, c in zip(first.parameters(), second.parameters(), other.parameters()):
        assert torch.equal(a, b)
        assert not torch.equal(a, c)

    # generator=None: the global torch RNG.
    torch.manual_seed(7)
    first = _make(name)
    torch.manual_seed(7)
    second = _make(name)
    assert not torch.equal(torch.get_rng_state(), state)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_float32_and_float64_agree():
    generator = torch.Generator().manual_seed(0)
    loss_fn = AdaProj(3, 6, subspace_dim=2, margin=0.2, generator=generator).eval()
    embeddings = torch.randn(5, 6, generator=generator)
    single = loss_fn(embeddings, SOFT).item()
    double = copy.deepcopy(loss_fn).double()(embeddings.double(), SOFT.double()).item()
    assert single == pytest.approx(double, rel=1e-5)


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: SubClusterAdaCos(0, 4), r"n_classes must be an integer >= 1, got 0"),
        (
            lambda: SubClusterAdaCos(2.0, 4),
            r"n_classes must be an integer >= 1, got 2\.0",
        ),
        (
            lambda: SubClusterAdaCos(True, 4),
            r"n_classes must be an integer >= 1, got True",
        ),
        (
            lambda: SubClusterAdaCos(2, 0),
            r"embedding_dim must be an integer >= 1, got 0",
        ),
        (
            lambda: SubClusterAdaCos(2, 4, n_subclusters=0),
            r"n_subclusters must be an integer >= 1",
        ),
        (
            lambda: SubClusterAdaCos(2, 4, trainable="yes"),
            r"trainable must be a bool, got 'yes'",
        ),
        (
            lambda: SubClusterAdaCos(2, 4, generator=0),
            r"generator must be a torch\.Generator or None, got int",
        ),
        (lambda: SubspaceLoss(2, []), r"branch_dims must name at least one branch"),
        (
            lambda: SubspaceLoss(2, [4, 0]),
            r"each of branch_dims must be an integer >= 1, got 0",
        ),
        (
            lambda: SubspaceLoss(2, 4),
            r"branch_dims must be a sequence of integers >= 1, got 4",
        ),
        (
            lambda: SubspaceLoss(2, "44"),
            r"branch_dims must be a sequence of integers >= 1",
        ),
        (lambda: SubspaceLoss(0, [4]), r"n_classes must be an integer >= 1"),
        (
            lambda: SubspaceLoss(2, [4], n_subclusters=0),
            r"n_subclusters must be an integer >= 1",
        ),
        (lambda: ArcFace(0, 4), r"n_classes must be an integer >= 1"),
        (lambda: ArcFace(2, 0), r"embedding_dim must be an integer >= 1"),
        (
            lambda: ArcFace(2, 4, scale=0.0),
            r"scale must be a finite real number > 0, got 0\.0",
        ),
        (
            lambda: ArcFace(2, 4, scale=float("inf")),
            r"scale must be a finite real number > 0, got inf",
        ),
        (
            lambda: ArcFace(2, 4, margin=-0.1),
            r"margin must be a real number in \[0, pi\), got -0\.1",
        ),
        (
            lambda: ArcFace(2, 4, margin=4.0),
            r"margin must be a real number in \[0, pi\), got 4\.0",
        ),
        (
            lambda: ArcFace(2, 4, margin=float("nan")),
            r"margin must be a real number in \[0, pi\), got nan",
        ),
        (
            lambda: AdaProj(2, 4, subspace_dim=5),
            r"subspace_dim must be <= embedding_dim = 4, got 5",
        ),
        (
            lambda: AdaProj(2, 4, subspace_dim=0),
            r"subspace_dim must be an integer >= 1, got 0",
        ),
        (
            lambda: AdaProj(2, 4, subspace_dim=2, scale="fixed"),
            r"scale must be 'adaptive' or a finite real",
        ),
        (
            lambda: AdaProj(2, 4, subspace_dim=2, scale=-1.0),
            r"scale must be a finite real number > 0",
        ),
        (
            lambda: AdaProj(2, 4, subspace_dim=2, margin=-1.0),
            r"margin must be a real number in \[0, pi\)",
        ),
        (lambda: AdaProj(0, 4, subspace_dim=2), r"n_classes must be an integer >= 1"),
    ],
)
def test_constructor_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize(
    "embeddings, targets, match",
    [
        (
            torch.zeros(5, 4),
            HARD,
            r"embeddings must have shape \(batch, 6\), got \(5, 4\)",
        ),
        (torch.zeros(5), HARD, r"embeddings must have shape \(batch, 6\), got \(5,\)"),
        (torch.zeros(0, 6), HARD[:0], r"embeddings must contain at least one row"),
        (
            torch.zeros(5, 6, dtype=torch.long),
            HARD,
            r"embeddings must be a floating-point tensor",
        ),
        (np.zeros((5, 6)), HARD, r"embeddings must be a torch\.Tensor, got ndarray"),
        (
            torch.full((5, 6), float("nan")),
            HARD,
            r"embeddings contain NaN or infinite values",
        ),
        (
            torch.ones(5, 6),
            HARD[:4],
            r"hard targets \(integer class indices\) must have shape \(batch,\) = \(5,\), got \(4,\)",
        ),
        (torch.ones(5, 6), HARD[:, None], r"hard targets .* got \(5, 1\)"),
        (
            torch.ones(5, 6),
            torch.tensor([0, 1, 3, 1, 0]),
            r"class indices out of range \[0, 3\): min 0, max 3",
        ),
        (
            torch.ones(5, 6),
            torch.tensor([0, -1, 2, 1, 0]),
            r"class indices out of range \[0, 3\): min -1",
        ),
        (
            torch.ones(5, 6),
            SOFT[:, :2],
            r"soft targets .* must have shape \(batch, n_classes\) = \(5, 3\), got \(5, 2\)",
        ),
        (torch.ones(5, 6), SOFT[0], r"soft targets .* got \(3,\)"),
        (torch.ones(5, 6), SOFT * 2, r"soft targets must have rows summing to 1"),
        (
            torch.ones(5, 6),
            torch.tensor([[1.2, -0.2, 0.0]] + SOFT[1:].tolist()),
            r"negative probabilities",
        ),
        (
            torch.ones(5, 6),
            torch.full((5, 3), float("nan")),
            r"soft targets contain NaN or infinite values",
        ),
        (
            torch.ones(5, 6),
            HARD.bool(),
            r"targets must be integer class indices or float class probabilities",
        ),
        (
            torch.ones(5, 6),
            [0, 1, 2, 1, 0],
            r"targets must be a torch\.Tensor, got list",
        ),
    ],
)
def test_forward_errors(name, embeddings, targets, match):
    loss_fn = _make(name, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=match):
        loss_fn(embeddings, targets)


@pytest.mark.parametrize("name", LOSSES)
def test_predict_proba_and_cosine_check_embeddings(name):
    loss_fn = _make(name, torch.Generator().manual_seed(0))
    for method in (loss_fn.predict_proba, loss_fn.cosine):
        with pytest.raises(
            ValueError, match=r"embeddings must have shape \(batch, 6\), got \(2, 5\)"
        ):
            method(torch.zeros(2, 5))
