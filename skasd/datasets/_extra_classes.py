"""Generated machine types to train a classifier-based embedder beside the machine types of a data set."""

from ._generator import MACHINE_TYPES, make_machine_sounds

#: What the generated machine types' names start with, so that they never merge with a data set's own.
EXTRA_CLASS_PREFIX = "generated_"


def make_extra_classes(n_samples, *, sample_rate=16000, n_clips=30, random_state=None, n_jobs=None):
    """Normal clips of four generated machine types, named apart, as further classes for an embedder's training.

    The embedders that learn by telling auxiliary classes apart
    (:class:`~skasd.MultiBranchEmbedder`, and the methods built on it or on
    :class:`~skasd.ViTArcFaceEmbedder`) need classes to tell apart. DCASE
    systems train one classifier over every machine type of the data set;
    a data set of one machine type gives it one class per attribute value,
    or none. These clips, of the four types of
    :func:`~skasd.datasets.make_machine_sounds` under the names
    ``generated_fan``, ``generated_pump``, ``generated_gearbox`` and
    ``generated_bearing``, join the training clips as further classes; no
    model is fitted for them and none of them is scored
    (:func:`skasd.pipelines.fit_models`, ``extra_classes``).

    Parameters
    ----------
    n_samples : int
        Samples per clip: the length of the training clips they join.
    sample_rate : int, default=16000
        Of the training clips they join (at least 8000 Hz).
    n_clips : int, default=30
        Source-domain clips per generated machine type (and a tenth as many,
        at least one, of its target domain): 5 per source condition, so that
        each of the 6 source conditions is a class with a few clips.
    random_state : int, RandomState instance or None, default=None
        Seeds the clips.
    n_jobs : int, default=None
        Clips rendered in parallel (as in :func:`make_machine_sounds`).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        As :func:`make_machine_sounds` returns it, with training clips only
        (``label`` 0), ``machine`` and ``aux_label`` prefixed with
        ``"generated_"``.

    Examples
    --------
    >>> from skasd.datasets import make_extra_classes
    >>> extra = make_extra_classes(4000, n_clips=6, random_state=0)
    >>> extra.data.shape
    (28, 4000)
    >>> sorted(extra.frame["machine"].unique())
    ['generated_bearing', 'generated_fan', 'generated_gearbox', 'generated_pump']
    >>> extra.frame["aux_label"].iloc[0].startswith("generated_fan|spd_")
    True
    """
    if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
    if isinstance(n_clips, bool) or int(n_clips) != n_clips or n_clips < 1:
        raise ValueError(f"n_clips must be a positive integer; got {n_clips!r}.")
    sounds = make_machine_sounds(
        machine_types=MACHINE_TYPES, n_source_train=int(n_clips), n_target_train=max(1, int(n_clips) // 10),
        n_test_normal=0, n_test_anomalous=0, duration=int(n_samples) / sample_rate, sample_rate=sample_rate,
        random_state=random_state, n_jobs=n_jobs,
    )
    frame = sounds.frame
    frame["machine"] = EXTRA_CLASS_PREFIX + frame["machine"].astype(str)
    frame["aux_label"] = EXTRA_CLASS_PREFIX + frame["aux_label"].astype(str)
    return sounds
