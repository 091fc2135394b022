"""How a model's scores are judged: PR-AUC, ROC-AUC, F1 at a threshold, calibration (Brier, log loss), lift."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)


def f1_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the best F1."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5


def lift_top_decile(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Positive rate among the top 10% scores divided by the overall positive rate."""
    base = float(np.mean(y_true))
    if base == 0:
        return 0.0
    top = np.argsort(-scores, kind="stable")[: max(1, int(np.ceil(len(scores) * 0.1)))]
    return float(np.mean(np.asarray(y_true)[top]) / base)


def evaluate(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Every test metric of ``scores`` (probabilities) against ``y_true`` (0/1), flagging churners at
    ``threshold``: PR-AUC, ROC-AUC, F1, precision, recall, Brier score, log loss and top-decile lift."""
    y_true = np.asarray(y_true).astype(int)
    flagged = (scores >= threshold).astype(int)
    return {
        "pr_auc": float(average_precision_score(y_true, scores)),
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "f1": float(f1_score(y_true, flagged, zero_division=0)),
        "precision": float(precision_score(y_true, flagged, zero_division=0)),
        "recall": float(recall_score(y_true, flagged, zero_division=0)),
        "brier": float(brier_score_loss(y_true, scores)),
        "log_loss": float(log_loss(y_true, np.clip(scores, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "lift_top_decile": lift_top_decile(y_true, scores),
        "positive_rate": float(np.mean(y_true)),
        "rows": int(len(y_true)),
        "threshold": float(threshold),
    }
