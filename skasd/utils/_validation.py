"""Checks of the inputs the DCASE metric and its figures take."""

import numpy as np

__all__ = ["check_labels_and_scores"]


def check_labels_and_scores(y_true, anomaly_score):
    """``y_true`` as 0/1 int8 and ``anomaly_score`` as finite float64, of one length and both classes, or a clear error."""
    y_true = np.asarray(y_true).ravel()
    anomaly_score = np.asarray(anomaly_score, dtype=np.float64).ravel()
    if len(y_true) != len(anomaly_score):
        raise ValueError(
            f"y_true has {len(y_true)} values but anomaly_score has {len(anomaly_score)}."
        )
    if not np.all(np.isfinite(anomaly_score)):
        raise ValueError("anomaly_score contains NaN or infinite values.")
    if y_true.dtype == bool:
        y_true = y_true.astype(np.int8)
    if not np.isin(y_true, (0, 1)).all():
        found = sorted(set(np.unique(y_true).tolist()) - {0, 1})
        raise ValueError(f"y_true must hold 1 (anomalous) and 0 (normal) only; found {found}.")
    y_true = y_true.astype(np.int8)
    if len(np.unique(y_true)) < 2:
        present = "anomalous" if len(y_true) and y_true[0] == 1 else "normal"
        raise ValueError(
            f"Only one class present in y_true (all {len(y_true)} clips {present}): "
            "AUC needs normal and anomalous clips."
        )
    return y_true, anomaly_score
