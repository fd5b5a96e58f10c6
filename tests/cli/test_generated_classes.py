"""Generated further classes beside one machine type: fit_models(extra_classes=...)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from skasd import KNNScorer, LogMelStatistics, MultiBranchEmbedder
from skasd.datasets import make_extra_classes, make_machine_sounds
from skasd.pipelines import fit_models, make_preset, trains_a_classifier

TINY = dict(branches=("stft_32ms", "spectrum"), embedding_dim=4, channels=(4,), n_subclusters=2, batch_size=16,
            max_epochs=1, verbose=0, random_state=0)


@pytest.fixture(scope="module")
def fans():
    """Training clips of one machine type (fan, 6 source + 2 target) and four further generated types."""
    data = make_machine_sounds(machine_types="fan", n_source_train=6, n_target_train=2, n_test_normal=0,
                               n_test_anomalous=0, duration=0.5, random_state=0)
    extra = make_extra_classes(data.data.shape[1], n_clips=3, random_state=1)
    return data, extra


def _embedder_then_knn():
    return make_pipeline(MultiBranchEmbedder(**TINY), KNNScorer())


def test_extra_classes_join_the_shared_embedding_only(fans):
    data, extra = fans
    models = fit_models(_embedder_then_knn, data.data, data.frame, shared_embedding="all",
                        extra_classes=(extra.data, extra.frame))
    # A model for the data's own machine type and section only; the generated ones are not scored.
    assert list(models) == [("fan", "00")]
    embedder, scorer = models["fan", "00"][0], models["fan", "00"][-1]
    assert set(embedder.classes_) == set(data.frame["aux_label"]) | set(extra.frame["aux_label"])
    assert {label.split("|")[0] for label in embedder.classes_} == {
        "fan", "generated_fan", "generated_pump", "generated_gearbox", "generated_bearing"}
    # The scorer's references are the fan's 8 training clips, embedded by the shared embedder.
    assert scorer.n_references_ == len(data.frame) == 8
    np.testing.assert_allclose(scorer.score_samples(embedder.transform(data.data)),
                               KNNScorer().fit(embedder.transform(data.data)).score_samples(
                                   embedder.transform(data.data)))
    # Without them the classifier sees the fan's attribute values alone.
    alone = fit_models(_embedder_then_knn, data.data, data.frame, shared_embedding="all")
    assert set(alone["fan", "00"][0].classes_) == set(data.frame["aux_label"])


def test_extra_classes_join_every_embedder_shared_by_machine_type(fans):
    data, extra = fans
    pumps = make_machine_sounds(machine_types="pump", n_source_train=6, n_target_train=2, n_test_normal=0,
                                n_test_anomalous=0, duration=0.5, random_state=2)
    X = np.concatenate([data.data, pumps.data])
    frame = pd.concat([data.frame, pumps.frame], ignore_index=True)
    models = fit_models(_embedder_then_knn, X, frame, shared_embedding="machine",
                        extra_classes=(extra.data, extra.frame))
    assert sorted(models) == [("fan", "00"), ("pump", "00")]
    for machine in ("fan", "pump"):
        classes = set(models[machine, "00"][0].classes_)
        assert classes == set(frame.loc[frame["machine"] == machine, "aux_label"]) | set(extra.frame["aux_label"])
        assert models[machine, "00"][-1].n_references_ == 8


def test_extra_classes_that_cannot_join_are_refused(fans):
    data, extra = fans
    with pytest.raises(ValueError) as error:
        fit_models(_embedder_then_knn, data.data, data.frame, extra_classes=(extra.data, extra.frame))
    assert str(error.value) == ("extra_classes join the training of a shared embedding: they need shared_embedding "
                                "'machine' or 'all'; got 'none'.")
    clash = extra.frame.assign(machine="fan")
    with pytest.raises(ValueError) as error:
        fit_models(_embedder_then_knn, data.data, data.frame, shared_embedding="all",
                   extra_classes=(extra.data, clash))
    assert str(error.value) == ("extra_classes' machine types must differ from the training clips'; both hold "
                                "['fan'].")
    with pytest.raises(ValueError) as error:
        fit_models(_embedder_then_knn, data.data, data.frame, shared_embedding="all",
                   extra_classes=(extra.data[:, :100], extra.frame))
    assert str(error.value) == ("extra_classes' clips have (100,) samples, the training clips (8000,): generate "
                                "them at the training clips' length.")
    with pytest.raises(ValueError) as error:
        fit_models(_embedder_then_knn, data.data, data.frame, shared_embedding="all",
                   extra_classes=(extra.data[:3], extra.frame))
    assert str(error.value) == "extra_classes holds 3 clips but 16 frame rows."


def test_trains_a_classifier_finds_classifier_embedders_inside_pipelines():
    assert trains_a_classifier(_embedder_then_knn())
    assert not trains_a_classifier(make_pipeline(LogMelStatistics(), KNNScorer()))
    assert [name for name in ("multibranch-kmeans", "pseudo-label-iterator", "ward-dap", "scan", "logmel-knn")
            if trains_a_classifier(make_preset(name))] == ["multibranch-kmeans", "pseudo-label-iterator", "ward-dap"]
