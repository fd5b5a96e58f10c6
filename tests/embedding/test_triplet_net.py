"""TripletAuxiliaryNet: L_mlt = L_ss (mixed) + L_trp (unmixed), and the background partners."""

import numpy as np
import pytest
import torch

from skasd.datasets import make_machine_sounds
from skasd.embedding import SubspaceLoss
from skasd.embedding._multibranch import MultiBranchNet
from skasd.embedding._training import seeded_torch
from skasd.embedding._triplet import draw_other_machine
from skasd.embedding._triplet_net import TripletAuxiliaryNet


def test_partners_are_of_another_machine_type_and_cover_them_all():
    pool = torch.tensor([2, 0, 1, 0, 2, 2, 1])
    anchors = torch.tensor([0, 1, 2] * 400)
    partners = draw_other_machine(anchors, pool, torch.rand(len(anchors), generator=torch.Generator().manual_seed(0)))
    assert (pool[partners] != anchors).all()
    for machine in range(3):
        reachable = set(partners[anchors == machine].tolist())
        assert reachable == set(torch.nonzero(pool != machine).flatten().tolist())


def test_partners_at_the_edges_of_the_uniform_draw():
    pool = torch.tensor([0, 0, 1, 1, 2])
    anchors = torch.tensor([1, 1])
    partners = draw_other_machine(anchors, pool, torch.tensor([0.0, 0.999999]))
    assert partners.tolist() == [0, 4]


def test_a_single_machine_type_is_refused():
    with pytest.raises(ValueError, match="training clips hold a single machine type"):
        draw_other_machine(torch.tensor([0, 0]), torch.tensor([0, 0, 0]), torch.rand(2))


@pytest.fixture(scope="module")
def two_machines():
    data = make_machine_sounds(
        machine_types=("fan", "pump"), n_source_train=30, n_target_train=2, n_test_normal=0, n_test_anomalous=0,
        duration=0.5, random_state=0,
    )
    classes, y = np.unique(data.frame["machine"].to_numpy(), return_inverse=True)
    return data.data.astype(np.float32), y.astype(np.int64)


def _net(X, y, cls=TripletAuxiliaryNet, **kwargs):
    return cls(
        MultiBranchNet,
        SubspaceLoss(2, [8, 8], n_subclusters=2, generator=torch.Generator().manual_seed(0)),
        module__branches=("stft_32ms", "spectrum"),
        module__sample_rate=16000,
        module__channels=(4,),
        module__embedding_dim=8,
        module__n_samples=X.shape[1],
        n_classes=2,
        class_machine=np.arange(2),
        background=X,
        background_machine=y,
        optimizer=torch.optim.AdamW,
        lr=3e-3,
        batch_size=16,
        iterator_train__shuffle=True,
        iterator_train__drop_last=True,
        train_split=None,
        verbose=0,
        **{"mixup_probability": 0.5, "max_epochs": 3, **kwargs},
    )


def _fit(net, X, y, seed=0):
    with seeded_torch(seed, torch.device("cpu")):
        return net.fit(X, y)


def test_training_records_both_terms_and_lowers_the_triplet_loss(two_machines):
    X, y = two_machines
    # Five epochs: with three, the flattened branches' larger first dense layer has not yet lowered it.
    net = _fit(_net(X, y, max_epochs=5), X, y)
    for batch in net.history[-1, "batches"]:
        assert batch["train_loss"] == pytest.approx(batch["ss_loss"] + batch["triplet_loss"], rel=1e-5)
    triplet = [np.mean(epoch) for epoch in net.history[:, "batches", :, "triplet_loss"]]
    assert np.isfinite(triplet).all() and triplet[-1] < triplet[0]


def test_same_seed_same_weights_and_the_caller_rng_is_untouched(two_machines):
    X, y = two_machines
    state = torch.random.get_rng_state()
    first = _fit(_net(X, y, max_epochs=1), X, y)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = _fit(_net(X, y, max_epochs=1), X, y)
    for a, b in zip(first.module_.parameters(), second.module_.parameters(), strict=True):
        assert torch.equal(a, b)


def test_mixup_acts_on_the_classification_term_only(two_machines):
    X, y = two_machines
    seen = []

    class Spy(TripletAuxiliaryNet):
        def train_step_single(self, batch, **fit_params):
            seen.append(batch[0].clone())
            return super().train_step_single(batch, **fit_params)

        def infer(self, x, **fit_params):
            seen.append(x.detach().clone())
            return super().infer(x, **fit_params)

    _fit(_net(X, y, cls=Spy, max_epochs=1, mixup_probability=1.0), X, y)
    batch, inputs = seen[0], seen[1]
    n_clips = batch.shape[0]
    assert inputs.shape[0] == 4 * n_clips  # mixed, anchors, positives, negatives
    torch.testing.assert_close(inputs[n_clips : 2 * n_clips], batch)  # triplet anchors: unmixed
    assert not torch.allclose(inputs[:n_clips], batch)  # classification input: mixed
