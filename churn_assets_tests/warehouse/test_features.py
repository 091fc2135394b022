"""user_features: window edges, window sets, the rates of a customer's life, trends, and a table of other windows."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from churn_assets.core.days import day_range
from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.io.duckdb_engine import DuckDBEngine
from churn_assets.io.warehouse import WarehouseError, build_layer
from churn_assets_tests.warehouse.layer import START, day, features_on, load, table


def test_window_edges_day_7_vs_8_and_30_vs_31(engine):
    load(
        engine,
        [
            ("in7", 34, "session", 1, 0),  # age 6 on day 40
            ("out7", 33, "session", 1, 0),  # age 7
            ("in30", 11, "session", 1, 0),  # age 29
            ("out30", 10, "session", 1, 0),  # age 30: not eligible with 30 days either
            ("today", 40, "session", 1, 0),
        ],
    )
    build_layer(engine, day(0), day(40), FeatureSpec(), 30, START)
    f = features_on(engine, 40)
    assert sorted(f) == ["in30", "in7", "out7", "today"]
    assert (f["in7"]["active_days_7"], f["in7"]["active_days_14"], f["in7"]["events_7"]) == (1, 1, 1)
    assert (f["out7"]["active_days_7"], f["out7"]["active_days_14"], f["out7"]["events_7"]) == (0, 1, 0)
    assert (f["in30"]["active_days_30"], f["in30"]["active_days_14"], f["in30"]["days_since_last_activity"]) == (
        1,
        0,
        29,
    )
    today = f["today"]
    assert (today["days_since_first_activity"], today["days_since_last_activity"], today["tenure_days"]) == (0, 0, 0)
    assert (today["lifetime_active_days"], today["mean_active_gap_days"]) == (1, 0.0)


def test_windows_7_30_90_and_an_eligibility_longer_than_every_window(engine):
    load(
        engine,
        [
            ("a", 10, "session", 30, 0),  # age 90 on day 100: outside the 90-day window
            ("a", 11, "session", 20, 0),  # age 89: inside
            ("a", 95, "session", 10, 0),
            ("gone", 0, "session", 1, 0),  # 100 days idle by day 100
        ],
        users={"a": 5, "gone": 0, "never": 0},
    )
    spec = FeatureSpec((7, 30, 90), eligibility_days=120)
    build_layer(engine, day(0), day(100), spec, 30, START)
    f = features_on(engine, 100)
    assert sorted(f) == ["a", "gone"]  # "never" had no event: not in state, never scored
    a, gone = f["a"], f["gone"]
    assert (a["active_days_90"], a["minutes_90"], a["active_days_30"], a["events_7"]) == (2, 30.0, 1, 1)
    assert (a["lifetime_active_days"], a["days_since_first_activity"], a["tenure_days"]) == (3, 90, 95)
    assert a["mean_active_gap_days"] == pytest.approx(85 / 2)  # (95 - 10) / (3 - 1)
    # lifetime recency is not capped by any window
    assert (gone["days_since_last_activity"], gone["active_days_90"], gone["events_90"]) == (100, 0, 0)
    assert gone["mean_active_gap_days"] == 100.0  # one active day: the days since it
    assert set(f["a"]) >= {"sessions_90", "feature_uses_90", "amount_90", "events_trend_7"}


def test_rates_of_a_customer_life_last_gap_trend_and_overdue_gaps(engine):
    load(
        engine,
        [
            ("r", 2, "purchase", 0, 10),
            ("r", 9, "purchase", 0, 20),
            ("r", 10, "purchase", 0, 30),
            ("r", 25, "payment", 0, 9.5),  # billing only: counted in the amount, not an active day
            ("r", 40, "purchase", 0, 40),
            ("one", 30, "purchase", 0, 5),  # a single active day
        ],
    )
    # built in two runs: the second continues the state of day 20 (the previous active day crosses runs)
    build_layer(engine, day(0), day(20), FeatureSpec(), 30, START)
    r20 = features_on(engine, 20)["r"]
    assert (r20["last_active_gap_days"], r20["mean_active_gap_days"], r20["active_gap_trend"]) == (1, 4.0, 0.25)
    assert (r20["recency_in_gaps"], r20["active_day_rate"]) == (2.5, pytest.approx(3 / 19, abs=1e-6))
    build_layer(engine, day(21), day(45), FeatureSpec(), 30, START)
    state = table(engine, "user_state", "as_of_date = TIMESTAMP '2026-02-15 00:00:00+00'").set_index("user_id")
    assert (state.loc["r", "last_active_date"].date(), state.loc["r", "prev_active_date"].date()) == (day(40), day(10))
    assert pd.isna(state.loc["one", "prev_active_date"])
    f = features_on(engine, 45)
    r, one = f["r"], f["one"]
    mean = (40 - 2) / 3
    assert (r["last_active_gap_days"], r["mean_active_gap_days"]) == (30, pytest.approx(mean))
    assert r["active_gap_trend"] == pytest.approx(30 / mean, abs=1e-6)
    assert r["recency_in_gaps"] == pytest.approx(5 / mean, abs=1e-6)
    assert (r["active_day_rate"], r["amount_per_active_day"]) == (pytest.approx(4 / 44, abs=1e-6), 27.375)
    # one active day: the gap is not known yet, the days since it stand in for it
    assert (one["last_active_gap_days"], one["active_gap_trend"], one["recency_in_gaps"]) == (15, 1.0, 1.0)
    assert (one["active_day_rate"], one["amount_per_active_day"]) == (pytest.approx(1 / 16, abs=1e-6), 5.0)


def test_trends_engagement_and_type_counts(engine):
    events = [("a", 40 - age, "session", 15, 0) for age in range(7)]  # every day of the week, 105 minutes
    events += [("a", 30, "session", 0, 0), ("a", 20, "session", 0, 0)]  # ages 10 and 20
    events += [("a", 15, "payment_failed", 0, 5), ("a", 14, "payment", 0, 7.5)]  # ages 25 and 26, billing only
    events += [("a", 32, "support_ticket", 40, 0), ("a", 32, "support_ticket", 0, 0)]  # age 8
    load(engine, events)
    build_layer(engine, day(0), day(40), FeatureSpec(), 30, START)
    a = features_on(engine, 40)["a"]
    assert (a["active_days_7"], a["active_days_30"], a["minutes_7"], a["sessions_7"]) == (7, 10, 105.0, 7)
    # the 7 days before (ages 7-13): the two tickets (age 8, 40 minutes) and a session (age 10)
    assert (a["events_trend_7"], a["minutes_trend_7"], a["active_days_trend_7"]) == (7 - 3, 105.0 - 40.0, 7 - 2)
    # the failed payment's 5.0 is not revenue; the payment's 7.5 is
    assert (a["support_tickets_30"], a["payments_failed_30"], a["amount_30"], a["events_30"]) == (2, 1, 7.5, 13)
    # 100 * (0.5 * 7/7 + 0.3 * 10/30 + 0.2 * min(1, 105/210)) = 50 + 10 + 10
    assert a["engagement_score"] == pytest.approx(70.0)
    assert (a["days_since_first_activity"], a["mean_active_gap_days"]) == (20, pytest.approx(20 / 9))


def test_features_in_statements_of_a_row_budget_equal_one_statement(tmp_path):
    """DuckDB computes user_features in statements of at most ``feature_rows`` user_state rows: the cut follows
    the rows each day holds, and the table is the one a single statement writes."""
    events = [(f"u{i}", n, "session", 1.25 * i, 0) for i in range(6) for n in range(i, 30, i + 1)]
    events += [("late", 25, "purchase", 0, 9.5)]
    tables = {}
    for budget in (None, 20):
        engine = DuckDBEngine(str(tmp_path / f"{budget}.duckdb"), "churn")
        engine.feature_rows = budget
        load(engine, events)
        build_layer(engine, day(0), day(29), FeatureSpec(), 30, START)
        rows = engine.row_counts("user_state", day(0), day(29))
        assert [rows[day(n)] for n in (0, 1, 5, 25, 29)] == [1, 2, 6, 7, 7]  # users seen by then
        chunks = engine.feature_chunks(day(0), day(29), FeatureSpec())
        tables[budget] = table(engine, "user_features")
    assert chunks[:4] == [(day(0), day(4)), (day(5), day(7)), (day(8), day(10)), (day(11), day(13))]
    assert chunks[-1] == (day(28), day(29)) and all(sum(rows[d] for d in day_range(*c)) <= 20 for c in chunks)
    assert [a for a, _ in chunks[1:]] == [b + timedelta(days=1) for _, b in chunks[:-1]]  # every day, once
    assert len(tables[20]) == 170  # 7 users, each from its first day to day 29, active within 30 days
    pd.testing.assert_frame_equal(tables[20], tables[None])


def test_a_table_written_with_other_windows_is_refused_naming_both_column_lists(tmp_path):
    engine = DuckDBEngine(str(tmp_path / "warehouse.duckdb"), "churn")
    load(engine, [("a", 0, "session", 1, 0)])
    build_layer(engine, day(0), day(1), FeatureSpec((7, 30, 90)), 30, START)
    with pytest.raises(WarehouseError) as err:
        build_layer(engine, day(0), day(1), FeatureSpec(), 30, START)
    message = str(err.value)
    assert "table user_features has the columns" in message and "'active_days_90'" in message
    assert "but this version writes" in message and "'active_days_14'" in message
    assert len(table(engine, "user_features")) == 2  # the days written with 7,30,90 are left as they were
