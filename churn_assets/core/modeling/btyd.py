"""Buy-till-you-die models of a customer's purchases, and what they tell the learners.

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

**Gamma-Gamma** (``GammaGamma``) is BG/NBD's companion for money: the value of a customer's transactions.

What the textbook knows, as features of the learners: each row's BG/NBD quantities as of its day.
``BTYDFeatures`` is the first step of the gradient-boosting candidate (and so of the stack's). ``fit`` estimates
BG/NBD's four parameters (``BGNBD``) from the training rows' histories (x, t_x, T of each
user as of each training day: the feature rows, which read nothing after their day); ``transform`` adds, for each
row, from its own history and those parameters:

* ``btyd_p_alive``: the probability the customer has not yet dropped out;
* ``btyd_churn_logit``: the log-odds of no active day in the next H days (BG/NBD's churn score);
* ``btyd_expected_days``: the expected active days in the next H days.

So a model scoring day t uses parameters fitted on its training window, which ends H (+ the renewal grace) days
before its test window and before any day it scores: nothing after t reaches a feature of t. The trees get
BG/NBD's answer and the behaviour it cannot see (trends, spend, types, the subscription's state) side by side.
The log-scaled logistic regressions do not: they already read the three lifetime figures BG/NBD is made of, and
with its columns added they ranked worse out of time (docs/models.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1
from sklearn.base import BaseEstimator, TransformerMixin

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


BTYD_FEATURES = ("btyd_p_alive", "btyd_churn_logit", "btyd_expected_days")
INPUTS = ("lifetime_active_days", "days_since_first_activity", "days_since_last_activity")


class BTYDFeatures(TransformerMixin, BaseEstimator):
    """Appends ``BTYD_FEATURES`` to a feature frame holding ``INPUTS``; BG/NBD is fitted in ``fit`` only."""

    def __init__(self, horizon: int = 30) -> None:
        self.horizon = horizon

    max_fit_rows = 5000  # an evenly spaced subset beyond this: four parameters, and a fit inside every training

    def fit(self, X: pd.DataFrame, y=None) -> BTYDFeatures:
        fitted = BGNBD.fit_rows(X, self.max_fit_rows)
        self.params_ = [fitted.r, fitted.alpha, fitted.a, fitted.b]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        model = BGNBD(*self.params_)
        history = rfm(X)
        churn = np.clip(model.churn_probability(*history, self.horizon), 1e-6, 1 - 1e-6)
        return X.assign(
            btyd_p_alive=model.p_alive(*history),
            btyd_churn_logit=np.log(churn / (1 - churn)),
            btyd_expected_days=model.expected_days(*history, self.horizon),
        )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray([*(input_features if input_features is not None else []), *BTYD_FEATURES], dtype=object)
