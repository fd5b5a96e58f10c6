"""Pseudo-anomalous set selection from external data (Kuroyanagi et al., Section 4.1)."""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array

from ._labels import check_labels, is_absent

__all__ = ["check_external_pool", "drop_external", "select_external"]

#: Columns of the frame :func:`select_external` returns, in this order.
SELECTION_COLUMNS = ("external_index", "machine", "score", "threshold", "label")


def _scores(values, name):
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one score per clip; got shape {scores.shape}.")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} contains NaN or infinite scores.")
    return scores


def select_external(train_scores, train_machine, external_scores, *, external_class=None, n_max=1000):
    """Select the pseudo-anomalous set: external clips that score as normal.

    The rule of Kuroyanagi et al. [1]_ (Section 4.1.1, eq. 7). For each
    machine type ``m``, the current stage's model scores every training clip
    and every clip of an external pool (e.g. AudioSet). The threshold
    ``a_m^thr`` is the highest anomaly score of ``m``'s training clips; the
    external clips scoring strictly below it are the ``N_out`` candidates,
    and the ``N_ex = min(N_out, n_max)`` lowest-scoring of them are added to
    the training data with the class label ``"<m>_<external class>"``. The
    same external class selected under two machine types gives two classes
    (``"fan_/m/05r5c"`` and ``"valve_/m/05r5c"``), as [1]_ prescribes.

    Decisions where the paper is silent:

    - The comparison is strict: an external clip scoring exactly the
      threshold is not selected ("below" in [1]_).
    - Ties in score are broken by external index, so the selection is
      deterministic.
    - A clip may be selected under several machine types: it then appears
      once per machine type, with that machine type's label, and is trained
      on as several classes.
    - Clips without an external class (``external_class=None``, or a
      ``None``, NaN or ``""`` entry) are labelled ``"<m>_external"``.
    - Only the machine types keyed in ``external_scores`` are considered.

    Scores follow the DCASE convention: higher is more anomalous (a scorer's
    ``anomaly_score``).

    Parameters
    ----------
    train_scores : array-like of shape (n_train,)
        Anomaly score of every original training clip under its own machine
        type's model.
    train_machine : array-like of shape (n_train,)
        Machine type of every training clip.
    external_scores : mapping or DataFrame
        ``{machine type: array of shape (n_external,)}``: the anomaly score of
        every clip of the external pool under that machine type's model (one
        pool, scored by each machine type's model; a DataFrame with one
        column per machine type works too).
    external_class : array-like of shape (n_external,), default=None
        The external data set's class of each external clip (e.g. the
        AudioSet "mid"), used as the attribute in the label.
    n_max : int or None, default=1000
        ``N_max``, the most external clips added per machine type; ``None``
        for no cap.

    Returns
    -------
    selection : pandas.DataFrame
        One row per selected (external clip, machine type), with columns
        ``external_index`` (row in the external pool), ``machine``,
        ``score`` (its anomaly score under that machine type's model),
        ``threshold`` (``a_m^thr``) and ``label`` (the class to train on);
        grouped by machine type in the order of ``external_scores``, and by
        ascending score within a machine type. Empty (with these columns)
        when nothing is selected.

    Raises
    ------
    ValueError
        On mismatched lengths, NaN or infinite scores, a machine type in
        ``external_scores`` with no training clip, or ``n_max`` not a
        positive integer.

    See Also
    --------
    check_external_pool : Check the pool matches the training clips.
    drop_external : Keep original clips only, for representative vectors.

    References
    ----------
    .. [1] T. Kuroyanagi et al., "Improving Anomalous Sound Detection Through
       Pseudo-anomalous Set Selection and Pseudo-label Utilization Under
       Unlabeled Conditions", Section 4.1.

    Examples
    --------
    >>> from skasd.pseudo_labels import select_external
    >>> train_scores = [0.1, 0.5, 0.2, 0.3]
    >>> train_machine = ["fan", "fan", "valve", "valve"]
    >>> external_scores = {"fan": [0.4, 0.6, 0.0], "valve": [0.25, 0.9, 0.3]}
    >>> select_external(train_scores, train_machine, external_scores,
    ...                 external_class=["piano", "speech", "piano"], n_max=2)
       external_index machine  score  threshold        label
    0               2     fan   0.00        0.5    fan_piano
    1               0     fan   0.40        0.5    fan_piano
    2               0   valve   0.25        0.3  valve_piano

    Clip 2 scores exactly the valve threshold, 0.3: not below it, not selected.
    """
    train_scores = _scores(train_scores, "train_scores")
    train_machine = check_labels(
        train_machine, len(train_scores), "train_machine", reference="train_scores"
    )
    train_machine = np.array([str(m) for m in train_machine], dtype=object)
    if n_max is not None and (not isinstance(n_max, Integral) or isinstance(n_max, bool) or n_max < 1):
        raise ValueError(f"n_max must be a positive integer or None; got {n_max!r}.")
    if not hasattr(external_scores, "items"):
        raise ValueError(
            "external_scores must be a mapping {machine type: scores of every external "
            "clip} or a DataFrame with one column per machine type; got "
            + f"{type(external_scores).__name__}."
        )

    n_external = None
    rows = []
    for m, values in external_scores.items():
        name = f"external_scores[{m!r}]"
        scores = _scores(values, name)
        if n_external is None:
            n_external = len(scores)
            if external_class is not None:
                classes = check_labels(
                    external_class, n_external, "external_class", reference=name
                )
                classes = np.array(
                    ["external" if is_absent(c) else str(c).strip() for c in classes], dtype=object
                )
        elif len(scores) != n_external:
            raise ValueError(
                f"{name} has {len(scores)} scores but the first machine type's has "
                f"{n_external}: every machine type must score the whole external pool."
            )
        in_machine = train_machine == str(m)
        if not in_machine.any():
            raise ValueError(
                f"external_scores has machine type {m!r}, which has no clip in train_machine "
                "(its threshold is the highest training score of that machine type)."
            )
        threshold = float(train_scores[in_machine].max())
        candidates = np.flatnonzero(scores < threshold)
        order = candidates[np.argsort(scores[candidates], kind="stable")]
        chosen = order if n_max is None else order[:n_max]
        if external_class is None:
            labels = np.full(len(chosen), f"{m}_external", dtype=object)
        else:
            labels = np.array([f"{m}_{c}" for c in classes[chosen]], dtype=object)
        rows.append(
            pd.DataFrame(
                {
                    "external_index": chosen.astype(np.int64),
                    "machine": np.full(len(chosen), str(m), dtype=object),
                    "score": scores[chosen],
                    "threshold": np.full(len(chosen), threshold),
                    "label": labels,
                }
            )
        )
    if not rows:
        dtypes = ("int64", object, "float64", "float64", object)
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(SELECTION_COLUMNS, dtypes)})
    return pd.concat(rows, ignore_index=True)


def check_external_pool(X_external, *, external_sample_rate, sample_rate=16000, n_samples=None):
    """Check an external pool of waveforms matches the training clips.

    External clips (Section 4.1 of Kuroyanagi et al. [1]_) go through the
    same feature extractor as the training clips, so they must share the
    training clips' sample rate and clip length; resample and pad or crop
    them before (e.g. when loading).

    Parameters
    ----------
    X_external : array-like of shape (n_external, n_samples_external)
        Waveforms of the external pool, finite.
    external_sample_rate : int
        Sample rate of ``X_external`` in Hz.
    sample_rate : int, default=16000
        Sample rate of the training clips in Hz.
    n_samples : int, default=None
        Length in samples of the training clips; ``None`` skips the length
        check.

    Returns
    -------
    X_external : ndarray of shape (n_external, n_samples_external)
        The pool as a float array (float32 kept, anything else float64).

    Raises
    ------
    ValueError
        If the sample rates or clip lengths differ, or the pool is empty,
        not 2-D, or has NaN or infinite samples.

    References
    ----------
    .. [1] T. Kuroyanagi et al., "Improving Anomalous Sound Detection Through
       Pseudo-anomalous Set Selection and Pseudo-label Utilization Under
       Unlabeled Conditions", Section 4.1.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.pseudo_labels import check_external_pool
    >>> pool = np.zeros((3, 16000), dtype=np.float32)
    >>> check_external_pool(pool, external_sample_rate=16000, n_samples=16000).shape
    (3, 16000)
    >>> check_external_pool(pool, external_sample_rate=44100)
    Traceback (most recent call last):
    ...
    ValueError: external_sample_rate=44100 differs from the training clips' sample_rate=16000; resample the external pool first.
    """
    if external_sample_rate != sample_rate:
        raise ValueError(
            f"external_sample_rate={external_sample_rate} differs from the training clips' "
            f"sample_rate={sample_rate}; resample the external pool first."
        )
    X = check_array(X_external, dtype=(np.float32, np.float64), input_name="X_external")
    if n_samples is not None and X.shape[1] != n_samples:
        raise ValueError(
            f"X_external has clips of {X.shape[1]} samples but the training clips have "
            f"n_samples={n_samples}; pad or crop the external pool to that length first."
        )
    return X


def drop_external(is_external, *arrays):
    """Keep the original clips only: the rows representative vectors come from.

    After a stage trained with the pseudo-anomalous set, Kuroyanagi et al.
    [1]_ (Section 4.1.2) compute the representative vectors (the k-means
    centres and target references of the inference) from the original
    training clips only, never from external clips, so that anomalies
    resembling the external data are not scored as normal. Pass the
    outputs to the scorer's ``fit`` (e.g.
    :class:`~skasd.KMeansCosineScorer`) and to
    :func:`kmeans_pseudo_labels`.

    Parameters
    ----------
    is_external : array-like of bool of shape (n_clips,)
        True for the rows that are external clips.
    *arrays : array-likes of length n_clips
        Embeddings and per-clip metadata (domain, machine, ...), indexed
        along their first axis; ``None`` passes through as ``None``.

    Returns
    -------
    arrays : tuple
        Each array's rows where ``is_external`` is False, in order (a
        single array when one is given).

    Raises
    ------
    ValueError
        If ``is_external`` is not boolean, lengths differ, or every clip is
        external.

    References
    ----------
    .. [1] T. Kuroyanagi et al., "Improving Anomalous Sound Detection Through
       Pseudo-anomalous Set Selection and Pseudo-label Utilization Under
       Unlabeled Conditions", Section 4.1.2.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd.pseudo_labels import drop_external
    >>> embeddings = np.arange(8.0).reshape(4, 2)
    >>> domain = np.array(["source", "source", "target", "source"])
    >>> X, d = drop_external([False, True, False, True], embeddings, domain)
    >>> X
    array([[0., 1.],
           [4., 5.]])
    >>> d
    array(['source', 'target'], dtype='<U6')
    """
    mask = np.asarray(is_external)
    if mask.ndim != 1 or mask.dtype != bool:
        raise ValueError(
            f"is_external must be a 1-D boolean array; got dtype {mask.dtype} and shape {mask.shape}."
        )
    if mask.all():
        raise ValueError(
            "is_external is True for every clip: representative vectors need original clips."
        )
    keep = ~mask
    out = []
    for position, array in enumerate(arrays):
        if array is None:
            out.append(None)
            continue
        if hasattr(array, "iloc"):
            n = len(array)
        else:
            array = np.asarray(array)
            n = array.shape[0] if array.ndim else -1
        if n != len(mask):
            raise ValueError(
                f"array {position} has {n} rows but is_external has {len(mask)} values."
            )
        out.append(array.iloc[keep] if hasattr(array, "iloc") else array[keep])
    return out[0] if len(out) == 1 else tuple(out)
