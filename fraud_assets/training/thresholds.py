"""Decision threshold: the score cut that maximises F1 on a calibration window.

Fraud is about 1 % of payments, so the default 0.5 cut is arbitrary; F1 is the original pipeline's headline
metric and the gate, so the threshold is chosen to maximise it. The exact optimum over every
distinct score comes from `precision_recall_curve`, so no grid resolution is involved
(sklearn's TunedThresholdClassifierCV searches a grid and, with a single split and no refit,
fits the model twice).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve


def f1_optimal_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The lowest score cut (predict fraud when score >= cut) with the highest F1."""
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=float)
    if len(y_true) != len(scores):
        raise ValueError(f"threshold: {len(y_true)} labels but {len(scores)} scores")
    if not y_true.any():
        raise ValueError(
            f"threshold: the calibration window has no fraud rows among {len(y_true)}; "
            "F1 is undefined there, so no threshold can be chosen (use a longer window)"
        )
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    # The curve's last point (precision 1, recall 0) has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(thresholds[int(np.argmax(f1))])
