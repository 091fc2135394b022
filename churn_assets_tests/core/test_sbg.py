"""The shifted-beta-geometric baseline: hand-computed likelihoods, recovered parameters, horizon arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churn_assets.core.modeling.sbg import SBG, SBGClassifier, cohort_log_likelihood, decision_log_likelihood


def test_cohort_likelihood_by_hand():
    # a = b = 1: P(T=1) = B(2,1)/B(1,1) = 1/2, P(T=2) = B(2,2)/B(1,1) = 1/6, S(2) = B(1,3)/B(1,1) = 1/3
    got = cohort_log_likelihood(1.0, 1.0, np.array([1, 2, 2]), np.array([True, True, False]))
    assert got == pytest.approx(math.log(1 / 2) + math.log(1 / 6) + math.log(1 / 3), abs=1e-12)
    # a = 2, b = 3: P(T=1) = a / (a + b) = 2/5; S(1) = 3/5, P(T=2) = S(1) * a / (a + b + 1) = 3/5 * 2/6 = 1/5
    got = cohort_log_likelihood(2.0, 3.0, np.array([1, 2]), np.array([True, True]))
    assert got == pytest.approx(math.log(2 / 5) + math.log(1 / 5), abs=1e-12)


def test_a_cohort_is_the_product_of_its_renewal_decisions():
    # a customer who cancelled after period 3 decided: renew 1, renew 2, cancel 3; one still there after 2: renew 1, 2
    cohort = cohort_log_likelihood(0.7, 2.5, np.array([3, 2]), np.array([True, False]))
    decisions = decision_log_likelihood(
        0.7, 2.5, np.array([1, 2, 3, 1, 2]), np.array([False, False, True, False, False])
    )
    assert decisions == pytest.approx(cohort, abs=1e-12)


def test_fit_recovers_the_parameters_of_a_simulated_cohort():
    rng = np.random.default_rng(11)
    a, b, customers, observed = 0.668, 3.806, 40_000, 12  # Fader & Hardie's "regular" segment
    theta = rng.beta(a, b, size=customers)
    lifetime = rng.geometric(theta)  # the period after which each customer cancels
    period, cancelled = [], []
    for life in lifetime:
        seen = min(life, observed)
        period.extend(range(1, seen + 1))
        cancelled.extend([False] * (seen - 1) + [life <= observed])
    fitted = SBG.fit(np.array(period, dtype=float), np.array(cancelled))
    assert fitted.a == pytest.approx(a, rel=0.1) and fitted.b == pytest.approx(b, rel=0.1)


def test_churn_probability_counts_the_renewals_inside_the_horizon():
    model = SBG(2.0, 3.0)  # r(1) = 3/5, r(2) = 4/6, r(3) = 5/7, r(4) = 6/8
    period = np.array([1, 1, 1, 2])
    to_end = np.array([10, 40, 0, 30])
    length = np.array([30, 30, 10, 30])
    got = model.churn_probability(period, to_end, length, horizon=30)
    # one renewal; none (the period ends after the horizon); four (days 0, 10, 20, 30); one, on the horizon's day
    expected = [1 - 3 / 5, 0.0, 1 - (3 / 5) * (4 / 6) * (5 / 7) * (6 / 8), 1 - 4 / 6]
    assert got == pytest.approx(expected, abs=1e-12)


def test_classifier_learns_from_the_rows_whose_renewal_falls_in_the_horizon():
    rows = pd.DataFrame(
        {
            "sub_periods": [1] * 100 + [5] * 100 + [1] * 50,
            "sub_days_to_period_end": [5] * 200 + [45] * 50,  # the last 50 decide nothing in 30 days
            "sub_period_days": 30,
        }
    )
    churned = np.array([1] * 40 + [0] * 60 + [1] * 10 + [0] * 90 + [1] * 50)
    model = SBGClassifier(horizon=30).fit(rows, churned)
    p = model.predict_proba(rows)[:, 1]
    assert p[0] > p[100] > 0 and p[-1] == 0.0  # newer subscribers cancel more; no renewal, no cancellation
    assert p[0] == pytest.approx(0.4, abs=0.03) and p[100] == pytest.approx(0.1, abs=0.03)
