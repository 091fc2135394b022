"""Small PNG plots for materialization metadata (PR curves, calibration)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: render to bytes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def pr_curves_png(y_true: np.ndarray, scores: dict[str, np.ndarray]) -> bytes:
    """A PNG of each candidate's precision-recall curve (``scores`` by name) over the base rate."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, s in scores.items():
        precision, recall, _ = precision_recall_curve(y_true, s)
        ax.plot(recall, precision, label=name, linewidth=1.2)
    ax.axhline(float(np.mean(y_true)), color="grey", linestyle=":", label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, test window", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(fontsize=7)
    return _png(fig)


def calibration_png(y_true: np.ndarray, probability: np.ndarray, name: str) -> bytes:
    """A PNG of the calibration curve of ``probability`` against ``y_true`` (10 quantile bins)."""
    fig, ax = plt.subplots(figsize=(4, 3.6))
    observed, predicted = calibration_curve(y_true, probability, n_bins=10, strategy="quantile")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.plot(predicted, observed, marker="o", linewidth=1.2)
    ax.set(xlabel="predicted probability", ylabel="observed churn rate", title=f"Calibration: {name}")
    return _png(fig)


def walk_forward_png(table) -> bytes:
    """ROC-AUC and PR-AUC per as-of date: the model beside recency alone and BG/NBD."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    dates = list(table["as_of"])
    for ax, metric in zip(axes, ("roc_auc", "pr_auc"), strict=True):
        for name, style in (("model", "-o"), ("recency", ":s"), ("bg_nbd", "--^")):
            ax.plot(dates, table[f"{name}_{metric}"], style, label=name, linewidth=1.2, markersize=4)
        if metric == "pr_auc":
            ax.plot(dates, table["positive_rate"], color="grey", linestyle=":", label="churn rate")
        ax.set(title=f"{metric.replace('_', '-').upper()} by as-of date", xlabel="as of")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(fontsize=7)
    return _png(fig)
