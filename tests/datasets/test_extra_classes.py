"""make_extra_classes: generated machine types named apart from a data set's own."""

import numpy as np
import pytest

from skasd.datasets import make_extra_classes, make_machine_sounds


def test_extra_classes_are_the_generators_normal_training_clips_renamed():
    extra = make_extra_classes(3000, sample_rate=12000, n_clips=10, random_state=4)
    same = make_machine_sounds(n_source_train=10, n_target_train=1, n_test_normal=0, n_test_anomalous=0,
                               duration=0.25, sample_rate=12000, random_state=4)
    # The same clips as make_machine_sounds draws for the seed, at exactly the requested length.
    assert extra.data.shape == (4 * 11, 3000) and extra.sample_rate == 12000
    np.testing.assert_array_equal(extra.data, same.data)
    assert (extra.frame["machine"] == "generated_" + same.frame["machine"]).all()
    assert (extra.frame["aux_label"] == "generated_" + same.frame["aux_label"]).all()
    assert set(extra.frame["split"]) == {"train"} and set(extra.frame["label"]) == {0}
    assert extra.frame.groupby(["machine", "domain"]).size().to_dict() == {
        (f"generated_{machine}", domain): count
        for machine in ("bearing", "fan", "gearbox", "pump") for domain, count in (("source", 10), ("target", 1))
    }


@pytest.mark.parametrize("kwargs, message", [
    ({"n_samples": 0}, "n_samples must be a positive integer; got 0."),
    ({"n_samples": 2.5}, "n_samples must be a positive integer; got 2.5."),
    ({"n_samples": 4000, "n_clips": 0}, "n_clips must be a positive integer; got 0."),
    ({"n_samples": 4000, "n_clips": True}, "n_clips must be a positive integer; got True."),
])
def test_bad_sizes_are_refused(kwargs, message):
    with pytest.raises(ValueError) as error:
        make_extra_classes(**kwargs)
    assert str(error.value) == message
