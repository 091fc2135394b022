"""The shifted-beta-geometric model of contractual retention (Fader & Hardie 2007, "How to project customer
retention"), the classic baseline for subscriptions.

Each subscriber renews at the end of every period with their own probability 1 - θ, θ ~ Beta(a, b), until they
do not. Averaged over θ, a subscriber who has reached period n renews it with probability

    r(n) = (b + n - 1) / (a + b + n - 1)

so retention rises with tenure as the likely cancellers leave the cohort. The survival function is
S(n) = B(a, b + n) / B(a, b) and P(T = n) = B(a + 1, b + n - 1) / B(a, b) (T: the period after which the
subscriber cancels): the cohort likelihood factorizes into one term per renewal decision, which is how it is
fitted here (``SBG.fit``: each decision is (the period reached, cancelled or renewed)).

As a churn score over a horizon of H days for a subscriber in period n of their streak, whose period ends in d
days and lasts p days: the decisions falling in the horizon are k = 1 + (H - d) // p when d <= H, else none, and

    P(churn within H) = 1 - r(n) r(n + 1) ... r(n + k - 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln
from sklearn.base import BaseEstimator, ClassifierMixin

PERIOD, TO_END, LENGTH = "sub_periods", "sub_days_to_period_end", "sub_period_days"
MAX_DECISIONS = 12  # renewals one horizon may hold (a 1-year horizon of monthly periods)


def cohort_log_likelihood(a: float, b: float, periods: np.ndarray, cancelled: np.ndarray) -> float:
    """The classic sBG log-likelihood of a cohort: a subscriber who cancelled after ``periods`` periods
    contributes log P(T = periods), one still subscribed after them log S(periods)."""
    churn = betaln(a + 1, b + periods - 1) - betaln(a, b)
    alive = betaln(a, b + periods) - betaln(a, b)
    return float(np.sum(np.where(cancelled, churn, alive)))


def decision_log_likelihood(a: float, b: float, period: np.ndarray, cancelled: np.ndarray) -> float:
    """The log-likelihood of renewal decisions: at the end of ``period`` (1-based) the subscriber cancelled or
    renewed. A cohort's decisions give exactly its ``cohort_log_likelihood``."""
    renew = (b + period - 1) / (a + b + period - 1)
    return float(np.sum(np.where(cancelled, np.log1p(-renew), np.log(renew))))


@dataclass(frozen=True)
class SBG:
    a: float
    b: float

    @classmethod
    def fit(cls, period: np.ndarray, cancelled: np.ndarray, weights: np.ndarray | None = None) -> SBG:
        """Maximum likelihood from renewal decisions, over log-parameters (both stay positive), from a = b = 1."""
        w = np.ones(len(period)) if weights is None else weights

        def loss(log_ab: np.ndarray) -> float:
            a, b = np.exp(log_ab)
            renew = (b + period - 1) / (a + b + period - 1)
            return -float(np.sum(w * np.where(cancelled, np.log1p(-renew), np.log(renew))))

        result = minimize(loss, np.zeros(2), method="L-BFGS-B", bounds=[(-8, 8)] * 2)
        return cls(*np.exp(result.x).tolist())

    def renewal(self, period: np.ndarray) -> np.ndarray:
        """r(n): the probability of renewing at the end of period n, having reached it."""
        return (self.b + period - 1) / (self.a + self.b + period - 1)

    def churn_probability(self, period: np.ndarray, to_end: np.ndarray, length: np.ndarray, horizon: int):
        """P(no renewal at one of the decisions within ``horizon`` days)."""
        decisions = np.where(to_end <= horizon, 1 + (horizon - to_end) // np.maximum(length, 1), 0)
        decisions = np.minimum(decisions, MAX_DECISIONS)
        survive = np.ones(len(period))
        for j in range(MAX_DECISIONS):
            survive *= np.where(j < decisions, self.renewal(period + j), 1.0)
        return 1.0 - survive


def _columns(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.maximum(X[PERIOD].to_numpy(dtype=float), 1),
        X[TO_END].to_numpy(dtype=float),
        X[LENGTH].to_numpy(dtype=float),
    )


class SBGClassifier(ClassifierMixin, BaseEstimator):
    """sBG as a candidate model: fitted on the training rows' renewal decisions (rows whose period ends within
    the horizon: renewed, or cancelled, as their label says), scored as its churn probability over the horizon."""

    def __init__(self, horizon: int = 30) -> None:
        self.horizon = horizon

    def fit(self, X: pd.DataFrame, y) -> SBGClassifier:
        period, to_end, _ = _columns(X)
        decides = to_end <= self.horizon
        fitted = SBG.fit(period[decides], np.asarray(y)[decides].astype(bool))
        self.params_ = [fitted.a, fitted.b]
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        churn = SBG(*self.params_).churn_probability(*_columns(X), self.horizon)
        return np.column_stack([1 - churn, churn])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
