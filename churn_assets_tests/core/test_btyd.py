"""BG/NBD's view of a customer as features of the learners (core/modeling/btyd.py)."""

import numpy as np
import pandas as pd
import pytest

from churn_assets.core.modeling.btyd import BGNBD, BTYD_FEATURES, BTYDFeatures

# Fader, Hardie & Lee (2005) on the CDNOW sample: their parameters, and a customer with 2 repeat purchases, the
# last at week 30.43 of 38.86, expects 1.226 purchases in the next 39 weeks (the paper's worked example)
CDNOW = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_expected_purchases_match_the_papers_worked_example():
    x, t_x, T = np.array([2.0]), np.array([30.43]), np.array([38.86])
    assert CDNOW.expected_days(x, t_x, T, 39)[0] == pytest.approx(1.226, abs=5e-4)
    # and P(alive) by hand: 1 / (1 + a / (b + x - 1) * ((α + T) / (α + t_x)) ** (r + x))
    odds = 0.793 / (2.426 + 1) * ((4.414 + 38.86) / (4.414 + 30.43)) ** 2.243
    assert CDNOW.p_alive(x, t_x, T)[0] == pytest.approx(1 / (1 + odds))
    # a customer with no repeat is alive for sure, and never expects more days than the horizon holds
    assert CDNOW.p_alive(np.zeros(1), np.zeros(1), np.array([10.0]))[0] == 1.0
    assert 0 < CDNOW.expected_days(np.array([300.0]), np.array([300.0]), np.array([300.0]), 30)[0] <= 30


def frame(active_days, first, last) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lifetime_active_days": active_days,
            "days_since_first_activity": first,
            "days_since_last_activity": last,
            "engagement_score": 1.0,
        }
    )


def test_the_features_are_bg_nbds_quantities_from_parameters_fitted_in_fit_only():
    rng = np.random.default_rng(3)
    first = rng.integers(10, 200, 3000)
    train = frame(rng.integers(1, 40, 3000), first, rng.integers(0, 10, 3000) % first)
    step = BTYDFeatures(horizon=30).fit(train, y=np.ones(3000))
    fitted = BGNBD.fit(np.maximum(train["lifetime_active_days"] - 1, 0), *_recency(train))
    assert step.params_ == pytest.approx([fitted.r, fitted.alpha, fitted.a, fitted.b])
    assert BTYDFeatures(horizon=30).fit(train, y=np.zeros(3000)).params_ == step.params_  # labels play no part
    scored = frame([1, 5, 40], [0, 60, 100], [0, 50, 1])
    out = step.transform(scored)
    assert list(out.columns) == [*scored.columns, *BTYD_FEATURES]
    model, x = BGNBD(*step.params_), np.array([0.0, 4.0, 39.0])
    t_x, T = np.array([0.0, 10.0, 99.0]), np.array([0.0, 60.0, 100.0])
    assert out["btyd_p_alive"].tolist() == pytest.approx(model.p_alive(x, t_x, T).tolist())
    churn = model.churn_probability(x, t_x, T, 30)
    assert out["btyd_churn_logit"].tolist() == pytest.approx(np.log(churn / (1 - churn)).tolist())
    assert out["btyd_expected_days"].tolist() == pytest.approx(model.expected_days(x, t_x, T, 30).tolist())
    # the long-silent customer with a regular past is likelier gone than the one who bought yesterday
    assert out["btyd_p_alive"].iloc[1] < out["btyd_p_alive"].iloc[2]


def _recency(rows: pd.DataFrame):
    T = rows["days_since_first_activity"].to_numpy(dtype=float)
    return np.maximum(T - rows["days_since_last_activity"].to_numpy(dtype=float), 0), T
