"""The classic baselines every model is judged beside: recency alone, and BG/NBD.

**Recency** scores a user by ``days_since_last_activity``: the longer the silence, the likelier the churn.

**BG/NBD** (``core/modeling/btyd.py``) scores a user by the probability of no active day in the next H days,
from the user's (x, t_x, T) as of the day. Both are models too (``RecencyClassifier``, ``BGNBDClassifier``),
calibrated, chosen and judged like every candidate (a refused first model gives way to the best baseline model:
``core/modeling/promotion.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from churn_assets.core.modeling.btyd import BGNBD, RECENCY, rfm


class BGNBDClassifier(ClassifierMixin, BaseEstimator):
    """BG/NBD as a candidate model (a scikit-learn classifier): its churn probability over ``horizon`` days from
    each row's (x, t_x, T). ``fit`` estimates (r, α, a, b) from the rows' histories alone (every row is a user's
    history as of its day; the labels play no part); like any candidate it is then calibrated and chosen on
    held-out users and judged on the test window."""

    def __init__(self, horizon: int = 30) -> None:
        self.horizon = horizon

    def fit(self, X: pd.DataFrame, y=None) -> BGNBDClassifier:
        fitted = BGNBD.fit_rows(X)
        self.params_ = [fitted.r, fitted.alpha, fitted.a, fitted.b]
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        churn = BGNBD(*self.params_).churn_probability(*rfm(X), self.horizon)
        return np.column_stack([1 - churn, churn])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class RecencyClassifier(ClassifierMixin, BaseEstimator):
    """Recency alone as a model: the longer the silence, the higher the score (``days / (1 + days)``), calibrated
    like every candidate. Nothing is learned from the rows."""

    def fit(self, X: pd.DataFrame, y=None) -> RecencyClassifier:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        days = np.maximum(X[RECENCY].to_numpy(dtype=float), 0)
        score = days / (1.0 + days)
        return np.column_stack([1 - score, score])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def ranking_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """PR-AUC and ROC-AUC of ``scores`` (higher = more likely to churn) against ``y_true``, rounded to 4 places."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {
        "pr_auc": round(float(average_precision_score(y_true, scores)), 4),
        "roc_auc": round(float(roc_auc_score(y_true, scores)), 4),
    }


def baseline_scores(train: pd.DataFrame, test: pd.DataFrame, horizon: int) -> tuple[dict[str, np.ndarray], dict]:
    """Each baseline's scores of the test rows, and how BG/NBD was fitted: on the users of the training window's
    last day (one row per user: their whole history up to then), never on a test-window row."""
    last = train[train["as_of_date"] == train["as_of_date"].max()]
    fitted = BGNBD.fit(*rfm(last))
    scores = {
        "recency": test[RECENCY].to_numpy(dtype=float),
        "bg_nbd": fitted.churn_probability(*rfm(test), horizon),
    }
    fit = {
        "params": {k: round(v, 6) for k, v in vars(fitted).items()},
        "fitted_on": f"{len(last)} users as of {pd.Timestamp(last['as_of_date'].max()).date()}",
    }
    return scores, fit


def judge_baselines(test: pd.DataFrame, scores: dict[str, np.ndarray], fit: dict, model: dict[str, float]) -> dict:
    """Both baselines' test-window metrics (``scores`` and ``fit`` from ``baseline_scores``) and the model's
    lift over each (model minus baseline)."""
    y = test["churned"].to_numpy()
    out: dict = {}
    for name, score in scores.items():
        metrics = ranking_metrics(y, score)
        lift = {k: round(float(model[k]) - v, 4) for k, v in metrics.items()}
        out[name] = {**metrics, "model_lift": lift}
    out["bg_nbd"] |= fit
    return out


def segment_report(test: pd.DataFrame, model_scores: np.ndarray, baselines: dict[str, np.ndarray], days: int) -> dict:
    """The model and the baselines on the users active in the last ``days`` days only: where recency cannot tell
    them apart and a model has to earn its keep. Metrics are None when the segment lacks a class."""
    inside = (test[RECENCY] < days).to_numpy()
    y = test["churned"].to_numpy()[inside]
    out: dict = {
        "days": days,
        "rows": int(inside.sum()),
        "positive_rate": round(float(y.mean()), 4) if len(y) else None,
    }
    two_classes = len(np.unique(y)) == 2
    for name, score in {"model": model_scores, **baselines}.items():
        out[name] = ranking_metrics(y, np.asarray(score)[inside]) if two_classes else None
    return out
