"""PseudoLabelIterator: stages, pseudo-labels, external clips, bad input."""

import numpy as np
import pytest

from skasd import MultiBranchEmbedder
from skasd.datasets import make_machine_sounds
from skasd.pseudo_labels import PseudoLabelIterator

TINY_EMBEDDER = dict(
    branches=("stft_32ms", "spectrum"),
    embedding_dim=8,
    channels=(4,),
    n_subclusters=2,
    batch_size=16,
    max_epochs=2,
    lr=3e-3,
    verbose=0,
)


@pytest.fixture(scope="module")
def data():
    """fan and pump for training (16 source, 4 target clips each); gearbox clips as the external pool."""
    sounds = make_machine_sounds(
        machine_types=("fan", "pump", "gearbox"), n_source_train=16, n_target_train=4, n_test_normal=0,
        n_test_anomalous=0, duration=0.5, random_state=0,
    )
    frame = sounds.frame
    own = (frame["machine"] != "gearbox").to_numpy()
    return Bunch(
        X=sounds.data[own], machine=frame["machine"][own].to_numpy(), domain=frame["domain"][own].to_numpy(),
        attributes=frame["attributes"][own].to_numpy(), X_external=sounds.data[~own],
    )


class Bunch(dict):
    __getattr__ = dict.__getitem__


def _iterator(**kwargs):
    return PseudoLabelIterator(
        MultiBranchEmbedder(**TINY_EMBEDDER, triplet=True), n_clusters_source=3, n_clusters_target=2,
        random_state=0, verbose=0, **kwargs,
    )


def test_stages_relabel_with_pseudo_labels_and_add_external_clips(data):
    model = _iterator(n_stages=2, n_max=5).fit(
        data.X, data.machine, domain=data.domain, X_external=data.X_external,
        external_class=np.array(["gearbox"] * len(data.X_external)),
    )
    first, second = model.stages_
    # Stage 1: machine-type labels, no external clips.
    assert list(first.labels) == list(data.machine) and first.external.empty
    # Stage 2: k-means pseudo-labels per machine type and domain: 3 source and 2 target clusters each.
    for machine in ("fan", "pump"):
        for domain, prefix, k in (("source", "s", 3), ("target", "t", 2)):
            rows = (data.machine == machine) & (data.domain == domain)
            assert {label.rsplit("_", 1)[1][0] for label in second.labels[rows]} == {prefix}
            assert len(set(second.labels[rows])) == k
    # External clips: at most n_max per machine type, each below that type's threshold, labelled machine_class.
    selected = second.external
    assert (selected.groupby("machine").size() <= 5).all()
    assert (selected["score"] < selected["threshold"]).all()
    assert set(selected["label"]) <= {"fan_gearbox", "pump_gearbox"}
    assert len(second.embedder.classes_) == len(set(second.labels)) + selected["label"].nunique()
    assert model.transform(data.X[:3]).shape == (3, 16)
    assert model.embedder_ is second.embedder and second.history is not None


def test_ablation_switches(data):
    plain = _iterator(n_stages=2, pseudo_labels=False, external=False).fit(
        data.X, data.machine, domain=data.domain, X_external=data.X_external
    )
    assert list(plain.stages_[1].labels) == list(data.machine) and plain.stages_[1].external.empty


def test_known_attributes_enter_the_labels(data):
    model = _iterator(n_stages=1).fit(data.X, data.machine, domain=data.domain, attributes=data.attributes)
    expected = [f"{m}_{a}" for m, a in zip(data.machine, data.attributes, strict=True)]
    assert list(model.stages_[0].labels) == expected


def test_bad_input(data):
    with pytest.raises(ValueError, match="n_stages"):
        _iterator(n_stages=0).fit(data.X, data.machine, domain=data.domain)
    with pytest.raises(ValueError, match="needs domain"):
        _iterator().fit(data.X, data.machine)
    fan = data.machine == "fan"
    with pytest.raises(ValueError, match="Triplet positives need a clip of another machine type"):
        _iterator(n_stages=1).fit(
            data.X[fan], data.machine[fan], domain=data.domain[fan], attributes=data.attributes[fan]
        )
    with pytest.raises(ValueError, match="4000"):
        _iterator().fit(data.X, data.machine, domain=data.domain, X_external=data.X_external[:, :4000])
    with pytest.raises(ValueError, match="22050"):
        _iterator().fit(
            data.X, data.machine, domain=data.domain, X_external=data.X_external, external_sample_rate=22050
        )
