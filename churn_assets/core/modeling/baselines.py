"""The classic baselines every model is judged beside: recency alone, and BG/NBD.

**Recency** scores a user by ``days_since_last_activity``: the longer the silence, the likelier the churn.

**BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way") models each user's
activity as a Poisson process of rate λ ~ Gamma(r, α) that stops after any active day with probability
p ~ Beta(a, b). It is fitted by maximum likelihood on (x, t_x, T) per user: x repeat active days, t_x
the days from the first to the last active day, T the days from the first active day to the as-of day,
all from ``user_features`` (``lifetime_active_days``, ``days_since_first_activity``,
``days_since_last_activity``). The churn score is the probability of no active day in the next H days:

    P(alive) = 1 / (1 + [x > 0] * a / (b + x - 1) * ((α + T) / (α + t_x)) ** (r + x))
    P(no activity in H days | alive) = ((α + T) / (α + T + H)) ** (r + x)
    score = 1 - P(alive) * (1 - P(no activity in H days | alive))

and the expected active days in the next H days (FHL 2005, equation 10), with 2F1 the Gauss hypergeometric
function:

    E[X(H)] = P(alive) * (a + b + x - 1) / (a - 1)
              * (1 - ((α + T) / (α + T + H)) ** (r + x) * 2F1(r + x, b + x; a + b + x - 1; H / (α + T + H)))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1
from sklearn.base import BaseEstimator, ClassifierMixin

RECENCY = "days_since_last_activity"


def rfm(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) of each row of a feature frame."""
    x = np.maximum(frame["lifetime_active_days"].to_numpy(dtype=float) - 1, 0)
    T = frame["days_since_first_activity"].to_numpy(dtype=float)
    t_x = np.maximum(T - frame[RECENCY].to_numpy(dtype=float), 0)
    return x, t_x, T


def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each user's BG/NBD log-likelihood (FHL 2005, equation 6) for (r, α, a, b)."""
    r, alpha, a, b = params
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    first = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        second = np.where(
            x > 0,
            betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(first, second)


def log_likelihood_gradient(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The gradient of the summed ``log_likelihood`` with respect to (r, α, a, b): the fit then needs one
    evaluation per step instead of five (L-BFGS-B's finite differences). Each user's likelihood is a sum of two
    terms (alive at T, or dropped out after the last purchase); each term's derivative is weighted by its share."""
    r, alpha, a, b = params
    repeat = x > 0
    xs = np.maximum(x, 1)
    first = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        second = np.where(repeat, betaln(a + 1, b + xs - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x), -np.inf)
    share = np.exp(second - np.logaddexp(first, second))  # the dropout term's share; 0 without a repeat
    dr = digamma(r + x) - digamma(r) + np.log(alpha) - (1 - share) * np.log(alpha + T) - share * np.log(alpha + t_x)
    dalpha = r / alpha - (1 - share) * (r + x) / (alpha + T) - share * (r + x) / (alpha + t_x)
    base_a, base_b = digamma(a + b) - digamma(a), digamma(a + b) - digamma(b)
    da = base_a + (1 - share) * (digamma(a) - digamma(a + b + x)) + share * (digamma(a + 1) - digamma(a + b + x))
    db = base_b + (1 - share) * (digamma(b + x) - digamma(a + b + x))
    db = db + np.where(repeat, share * (digamma(b + xs - 1) - digamma(a + b + x)), 0.0)
    return np.array([dr.sum(), dalpha.sum(), da.sum(), db.sum()])


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BGNBD:
        """Maximum likelihood over log-parameters (all four stay positive), from r = α = a = b = 1."""

        def loss(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)  # d/d(log θ) = θ · d/dθ
            value = -float(np.sum(log_likelihood(params, x, t_x, T)))
            return value, -params * log_likelihood_gradient(params, x, t_x, T)

        result = minimize(loss, np.zeros(4), jac=True, method="L-BFGS-B", bounds=[(-8, 8)] * 4)
        return cls(*np.exp(result.x).tolist())

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        ratio = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x)))
        odds = np.where(x > 0, self.a / (self.b + np.maximum(x, 1) - 1) * ratio, 0.0)
        return 1.0 / (1.0 + odds)

    def churn_probability(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: int) -> np.ndarray:
        """P(no active day in the next ``horizon`` days)."""
        silent_if_alive = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + T + horizon)))
        return 1.0 - self.p_alive(x, t_x, T) * (1.0 - silent_if_alive)

    def expected_days(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: int) -> np.ndarray:
        """Expected active days in the next ``horizon`` days (FHL 2005, equation 10), between 0 and ``horizon``."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + horizon)))
        tail = hyp2f1(r + x, b + x, a + b + x - 1, horizon / (alpha + T + horizon))
        expected = self.p_alive(x, t_x, T) * (a + b + x - 1) / (a - 1) * (1 - ratio * tail)
        return np.clip(np.nan_to_num(expected, nan=0.0, posinf=horizon, neginf=0.0), 0.0, horizon)

    @classmethod
    def fit_rows(cls, X: pd.DataFrame, max_rows: int = 20_000) -> BGNBD:
        """Fitted on the rows' histories (an evenly spaced subset beyond ``max_rows``: four parameters do not need
        more); the labels play no part."""
        return cls.fit(*rfm(X.iloc[:: max(1, len(X) // max_rows)]))


@dataclass(frozen=True)
class GammaGamma:
    """The Gamma-Gamma model of spend (Fader, Hardie and Lee 2005, "RFM and CLV: using iso-value curves"), BG/NBD's
    companion for money: a customer's transaction values vary around their own mean, which varies across
    customers; ``p``, ``q``, ``gamma`` describe both. Fitted on customers with at least one repeat purchase
    (``x``: repeat purchases, ``m``: their mean value), as the paper does; it assumes a customer's mean value does
    not depend on how often they buy (check it on the data before trusting it)."""

    p: float
    q: float
    gamma: float

    @staticmethod
    def log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Each customer's log-likelihood of their mean value ``m`` over ``x`` purchases (FHL 2005, eq. 3, in logs)."""
        p, q, gamma = params
        return (
            gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(gamma) + (p * x - 1) * np.log(m)
            + p * x * np.log(x) - (p * x + q) * np.log(gamma + m * x)
        )  # fmt: skip

    @classmethod
    def fit(cls, x: np.ndarray, m: np.ndarray) -> GammaGamma:
        """Maximum likelihood over log-parameters, on the customers with x >= 1 and a positive mean value."""
        x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
        keep = (x >= 1) & (m > 0)
        if not keep.any():
            raise ValueError("Gamma-Gamma needs customers with at least one repeat purchase of positive value")
        x, m = x[keep], m[keep]

        def loss(log_params: np.ndarray) -> float:
            return -float(np.sum(cls.log_likelihood(np.exp(log_params), x, m)))

        result = minimize(loss, np.zeros(3), method="L-BFGS-B", bounds=[(-8, 8)] * 3)
        return cls(*np.exp(result.x).tolist())

    def expected_value(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """A customer's expected value per transaction: their own mean ``m`` weighted by how many purchases it rests
        on, against the population's mean gamma*p/(q-1) (FHL 2005, eq. 5); the population's for x = 0."""
        x, m = np.asarray(x, dtype=float), np.nan_to_num(np.asarray(m, dtype=float))
        p, q, gamma = self.p, self.q, self.gamma
        weight = p * x / (p * x + q - 1)
        return (1 - weight) * gamma * p / (q - 1) + weight * m


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
