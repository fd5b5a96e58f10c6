"""PseudoLabelIterator: stages, pseudo-labels, external clips, bad input."""

import re
import warnings

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.utils import get_tags

from skasd import LogMelStatistics, MultiBranchEmbedder
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
    # The embedder's float32, as the tags say (scikit-learn's check_transformer_preserve_dtypes).
    assert model.transform(data.X[:3]).dtype == np.float32
    assert get_tags(model).transformer_tags.preserves_dtype == ["float32"]
    assert model.embedder_ is second.embedder and second.history is not None


def test_ablation_switches(data):
    # Without domain too: k-means never runs, so n_clusters_target=2 loses nothing and nothing warns.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        plain = _iterator(n_stages=2, pseudo_labels=False, external=False).fit(
            data.X, data.machine, X_external=data.X_external
        )
    assert list(plain.stages_[1].labels) == list(data.machine) and plain.stages_[1].external.empty


_NO_DOMAIN = re.escape(
    "No domain was given to PseudoLabelIterator.fit: all clips are taken as one domain (source), so the "
    "k-means pseudo-labels are n_clusters_source=3 clusters per machine type and n_clusters_target=2 has no "
    "effect. Pass domain=... ('source' or 'target' per clip) to cluster the target clips apart."
)


def test_plain_cross_validate_without_domain_takes_every_clip_as_source(data):
    def finite_embeddings(estimator, X, y):
        return float(np.isfinite(estimator.transform(X)).all())

    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    with pytest.warns(UserWarning, match=_NO_DOMAIN) as record:
        result = cross_validate(
            _iterator(n_stages=2, external=False), data.X, data.machine, cv=cv, scoring=finite_embeddings,
            return_estimator=True, error_score="raise",
        )
    assert len(record) == 2  # once per fit
    np.testing.assert_array_equal(result["test_score"], 1.0)
    for model, (train, _) in zip(result["estimator"], cv.split(data.X, data.machine), strict=True):
        labels, machine = model.stages_[1].labels, data.machine[train]
        # k-means per machine type over all its clips, target clips included: source clusters only.
        for machine_type in ("fan", "pump"):
            assert {label.rsplit("_", 1)[1] for label in labels[machine == machine_type]} == {"s0", "s1", "s2"}


def test_verbose_defaults_to_silent(data, capsys):
    def iterator(**kwargs):
        return PseudoLabelIterator(MultiBranchEmbedder(**TINY_EMBEDDER, triplet=True), n_stages=1, **kwargs)

    assert PseudoLabelIterator().verbose == 0
    # One stage: k-means never runs, so n_clusters_target has nothing to lose and nothing warns.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        iterator(n_clusters_target=2).fit(data.X, data.machine)
    assert capsys.readouterr().out == ""
    iterator(verbose=1).fit(data.X, data.machine, domain=data.domain)
    assert capsys.readouterr().out.startswith("[PseudoLabelIterator] stage 1/1: 2 classes, 0 external clips")


def test_known_attributes_enter_the_labels(data):
    model = _iterator(n_stages=1).fit(data.X, data.machine, domain=data.domain, attributes=data.attributes)
    expected = [f"{m}_{a}" for m, a in zip(data.machine, data.attributes, strict=True)]
    assert list(model.stages_[0].labels) == expected


def test_bad_input(data):
    with pytest.raises(ValueError, match="n_stages"):
        _iterator(n_stages=0).fit(data.X, data.machine, domain=data.domain)
    # y (the machine type of each clip) stays required, as a classifier's: the embedder learns to tell them apart.
    with pytest.raises(ValueError, match="requires y to be passed"):
        _iterator().fit(data.X)
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


def test_the_dcase_2025_supplemental_clips_serve_as_the_external_pool(tmp_path):
    import soundfile as sf

    from skasd.datasets import load_dcase, load_dcase_supplemental, save_dcase

    sounds = make_machine_sounds(machine_types=("fan", "pump"), n_source_train=16, n_target_train=4,
                                 n_test_normal=1, n_test_anomalous=1, duration=0.5, random_state=0)
    save_dcase(sounds, tmp_path)
    # fan's supplemental clips: copies of its first training clips (clean machine sounds, the documented names);
    # pump's: noise alone, declared with kind=.
    fan = np.flatnonzero(((sounds.frame["machine"] == "fan") & (sounds.frame["split"] == "train")).to_numpy())
    noise = 0.01 * np.random.default_rng(0).standard_normal((3, sounds.data.shape[1]))
    for machine, clips in (("fan", sounds.data[fan[:4]]), ("pump", noise)):
        (tmp_path / machine / "supplemental").mkdir()
        for index, clip in enumerate(clips, start=1):
            sf.write(tmp_path / machine / "supplemental" / f"section_00_machine_{index:04d}_.wav", clip, 16000)
    train = load_dcase(tmp_path, split="train", verbose=0)
    pool = load_dcase_supplemental(tmp_path, kind={"pump": "noise"}, duration=0.5, verbose=0)
    external_class = (pool.frame["machine"] + "_" + pool.frame["kind"]).to_numpy()

    model = _iterator(n_stages=2, n_max=3).fit(
        train.data, train.frame["machine"], domain=train.frame["domain"], X_external=pool.data,
        external_class=external_class,
    )
    selected = model.stages_[1].external
    assert not selected.empty and (selected.groupby("machine").size() <= 3).all()
    # Each selected clip is trained on as "<machine it joins>_<supplemental machine type>_<kind>".
    expected = selected["machine"] + "_" + external_class[selected["external_index"].to_numpy()]
    assert selected["label"].tolist() == expected.tolist()
    assert set(selected["label"]) <= {"fan_fan_machine", "fan_pump_noise", "pump_fan_machine", "pump_pump_noise"}


def test_noise_is_refused_for_an_embedder_that_takes_none():
    X = np.random.default_rng(0).normal(0, 0.1, size=(4, 4000)).astype(np.float32)
    iterator = PseudoLabelIterator(embedder=LogMelStatistics(), n_stages=1)
    with pytest.raises(ValueError, match=r"^noise was given, but the embedder LogMelStatistics takes no noise clips in "
                                         r"fit\.$"):
        iterator.fit(X, np.array(["fan", "fan", "pump", "pump"]), noise=X[:2])
