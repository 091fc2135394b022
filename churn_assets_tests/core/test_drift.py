import numpy as np
import pandas as pd
import pytest

from churn_assets.core.monitoring.day_drift import largest_shift
from churn_assets.core.monitoring.drift import (
    EPSILON,
    drift_table,
    population_stability_index,
    quantile_edges,
    watched_features,
)


def test_psi_exact_value_with_a_value_outside_the_reference_range():
    # reference 1..10 in two bins split at 5.5: 50% / 50%; current [1, 1, 1, 20]: 75% / 25%
    # (20 lies beyond the reference maximum and is counted in the open top bin)
    psi = population_stability_index(np.arange(1, 11), [1, 1, 1, 20], bins=2)
    assert psi == pytest.approx(0.25 * np.log(1.5) + 0.25 * np.log(2.0))


def test_psi_counts_values_below_and_above_the_reference_in_the_outer_bins():
    reference = np.arange(100)
    assert population_stability_index(reference, reference) == 0.0
    shifted = population_stability_index(reference, reference - 1000)  # everything below the minimum
    # all of current in the lowest bin (10% in the reference), epsilon in the nine others
    expected = (1 - 0.1) * np.log(1 / 0.1) + 9 * (EPSILON - 0.1) * np.log(EPSILON / 0.1)
    assert shifted == pytest.approx(expected)


def test_empty_bins_get_epsilon_instead_of_infinity():
    psi = population_stability_index(np.arange(1, 11), [9, 10], bins=2)  # the lower bin is empty now
    assert np.isfinite(psi)
    assert psi == pytest.approx((EPSILON - 0.5) * np.log(EPSILON / 0.5) + 0.5 * np.log(1 / 0.5))


def test_ties_collapse_duplicate_edges():
    edges = quantile_edges(np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 2]), bins=10)
    assert edges.tolist() == pytest.approx([0.0, 0.2, 1.1])  # nine deciles, three distinct


def test_categorical_psi_has_a_bin_for_unseen_categories():
    psi = population_stability_index(np.array(["a", "b"] * 50, dtype=object), np.array(["a"] * 50 + ["new"] * 50))
    # shares: unseen 0 -> 0.5, a 0.5 -> 0.5, b 0.5 -> 0 (epsilon)
    expected = (0.5 - EPSILON) * np.log(0.5 / EPSILON) + (EPSILON - 0.5) * np.log(EPSILON / 0.5)
    assert psi == pytest.approx(expected)


def test_drift_table_flags_drifted_and_important_columns():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"stable": rng.normal(size=2000), "moved": rng.normal(size=2000)})
    current = pd.DataFrame({"stable": rng.normal(size=2000), "moved": rng.normal(2.0, size=2000)})
    table = drift_table(reference, current, ["stable", "moved"], important=["moved"], fail=0.25)
    assert table["feature"].tolist() == ["moved", "stable"]  # largest PSI first
    moved, stable = table.iloc[0], table.iloc[1]
    assert moved["drifted"] and moved["important"] and moved["psi"] > 1.0
    assert not stable["drifted"] and not stable["important"] and stable["psi"] < 0.05
    assert moved["current_mean"] == pytest.approx(current["moved"].mean())


def test_features_that_grow_with_the_calendar_are_reported_but_never_watched():
    importance = {"tenure_days": 0.9, "days_since_first_activity": 0.5, "sessions_7": 0.3, "minutes_7": 0.1}
    watched = watched_features(importance, list(importance), top=3)
    assert watched == ["sessions_7", "minutes_7"]
    assert watched_features(None, ["lifetime_events", "sessions_7"], top=5) == ["sessions_7"]
    # a customer base that stopped growing: everyone is 200 days older, behaviour unchanged
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"tenure_days": rng.integers(0, 100, 2000), "sessions_7": rng.poisson(3, 2000)})
    current = pd.DataFrame({"tenure_days": rng.integers(200, 300, 2000), "sessions_7": rng.poisson(3, 2000)})
    table = drift_table(reference, current, ["tenure_days", "sessions_7"], watched, fail=0.25).set_index("feature")
    # a shift that is not watched is no drift: never called drifted, named as the day's largest shift
    assert table.loc["tenure_days", "psi"] > 3 and not table["drifted"].any()
    psi = table.loc["tenure_days", "psi"]
    assert largest_shift(table.reset_index()) == f"tenure_days (PSI {psi:.3f}, not watched)"
