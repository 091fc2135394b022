"""What the textbook knows, as features of the learners: each row's BG/NBD quantities as of its day.

``BTYDFeatures`` is the first step of the gradient-boosting candidate (and so of the stack's). ``fit`` estimates
BG/NBD's four parameters (``core/modeling/baselines.BGNBD``) from the training rows' histories (x, t_x, T of each
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

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from churn_assets.core.modeling.baselines import BGNBD, rfm

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
