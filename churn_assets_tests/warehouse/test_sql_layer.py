"""Every formula of the warehouse layer on small hand-made inputs, run on DuckDB and on the BigQuery emulator.

The same GoogleSQL runs on both (translated for DuckDB); each test states the exact expected values.
Inputs look like real logs: sparse days, gaps longer than every window, billing-only days, users whose
first activity is the feature day, and a user id that signs up but never shows up.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pandas as pd
import pytest

from churn_assets.core.features import FeatureSpec
from churn_assets.core.queries import training_extract_select
from churn_assets.core.vocabulary import Vocabulary
from churn_assets.io.bigquery_engine import BigQueryEngine
from churn_assets.io.duckdb_engine import DuckDBEngine
from churn_assets.io.warehouse import Engine, WarehouseError, build_layer

START = date(2026, 1, 1)


def day(n: int) -> date:
    return START + timedelta(days=n)


@pytest.fixture(params=["duckdb", "bigquery"])
def engine(request, tmp_path) -> Engine:
    if request.param == "duckdb":
        return DuckDBEngine(str(tmp_path / "warehouse.duckdb"), "churn")
    request.getfixturevalue("bq_emulator")
    return BigQueryEngine("churn-test", f"layer_{uuid.uuid4().hex[:10]}", None)


def load(engine: Engine, events: list[tuple], users: dict[str, int] | None = None) -> None:
    """events: (user, day number, type, minutes, amount[, hour]); users: user -> signup day number."""
    rows = []
    for i, (user, n, kind, minutes, amount, *hour) in enumerate(events):
        moment = pd.Timestamp(day(n).isoformat(), tz="UTC") + pd.Timedelta(hours=hour[0] if hour else 12)
        rows.append((f"e{i}", user, moment, kind, float(minutes), float(amount)))
    frame = pd.DataFrame(rows, columns=["event_id", "user_id", "event_time", "event_type", "minutes", "amount"])
    frame["event_time"] = frame["event_time"].astype("datetime64[us, UTC]")
    engine.write_table("raw_events", frame)
    signups = users or {u: min(n for v, n, *_ in events if v == u) for u, *_ in events}
    engine.write_table(
        "raw_users",
        pd.DataFrame(
            {
                "user_id": list(signups),
                "signup_time": pd.to_datetime([f"{day(n).isoformat()} 05:00" for n in signups.values()], utc=True),
                "plan": "pro",
                "country": "DE",
                "channel": "organic",
            }
        ).astype({"signup_time": "datetime64[us, UTC]"}),
    )


def table(engine: Engine, name: str, where: str = "TRUE") -> pd.DataFrame:
    frame = engine.query(f"SELECT * FROM {engine.schema}.{name} WHERE {where}")
    key = [c for c in ("as_of_date", "activity_date") if c in frame.columns][:1]
    return frame.sort_values([*key, "user_id"]).reset_index(drop=True)


def features_on(engine: Engine, n: int) -> dict[str, dict]:
    frame = table(engine, "user_features", f"as_of_date = TIMESTAMP '{day(n).isoformat()} 00:00:00+00'")
    return {row["user_id"]: row for row in frame.to_dict("records")}


def test_user_daily_counts_sums_active_flag_and_day_edges(engine):
    load(
        engine,
        [
            ("a", 0, "session", 10, 0, 0),
            ("a", 0, "session", 5.5, 0, 9),
            ("a", 0, "feature_use", 0, 0, 23.99),
            ("a", 1, "support_ticket", 0, 0, 0),
            ("b", 0, "payment", 0, 9.99),
            ("b", 0, "payment_failed", 0, 9.99),
        ],
    )
    build_layer(engine, day(0), day(2), FeatureSpec(), 30, START)
    daily = table(engine, "user_daily")
    got = [
        (r.user_id, r.activity_date.date(), r.events, r.sessions, r.feature_uses, r.support_tickets, r.purchases,
         r.payments, r.payments_failed, r.minutes, round(r.amount, 2), r.active)
        for r in daily.itertuples()
    ]  # fmt: skip
    assert got == [
        ("a", day(0), 3, 2, 1, 0, 0, 0, 0, 15.5, 0.0, True),
        ("b", day(0), 2, 0, 0, 0, 0, 1, 1, 0.0, 9.99, False),  # a failed payment's amount is not revenue
        ("a", day(1), 1, 0, 0, 1, 0, 0, 0, 0.0, 0.0, True),
    ]
    # a day without any event is still a computed day: partition_log records it with 0 rows
    assert engine.row_counts("user_daily", day(0), day(2)) == {day(0): 2, day(1): 1, day(2): 0}


def test_user_daily_maps_a_source_vocabulary(engine):
    load(
        engine,
        [
            ("a", 0, "order", 0, 25.0),
            ("a", 0, "order", 0, 5.5),
            ("a", 0, "page_view", 3, 0),  # ignored: counts nowhere, not even in events or minutes
            ("b", 0, "page_view", 1, 0),  # a user with only ignored events has no row
            ("b", 1, "login", 4, 0),
            ("c", 1, "purchase", 0, 12.0),  # a kind's own name needs no entry
        ],
    )
    vocabulary = Vocabulary.parse("order=purchase,page_view=ignore,login=session")
    build_layer(engine, day(0), day(1), FeatureSpec(), 30, START, vocabulary)
    daily = table(engine, "user_daily")
    got = [
        (r.user_id, r.activity_date.date(), r.events, r.sessions, r.purchases, r.minutes, r.amount, r.active)
        for r in daily.itertuples()
    ]
    assert got == [
        ("a", day(0), 2, 0, 2, 0.0, 30.5, True),
        ("b", day(1), 1, 1, 0, 4.0, 0.0, True),
        ("c", day(1), 1, 0, 1, 0.0, 12.0, True),
    ]


def test_user_state_chains_over_gaps_and_keeps_long_gone_users(engine):
    load(
        engine,
        [
            ("a", 0, "session", 10, 0),
            ("a", 3, "payment", 0, 20),  # billing only: counted, not active
            ("a", 5, "session", 5, 0),
            ("b", 5, "feature_use", 1, 0),  # first activity on the last day
            ("c", 1, "session", 2, 0),  # never again: longer gone than any window by the end
        ],
    )
    build_layer(engine, day(0), day(100), FeatureSpec(), 30, START)
    state = table(engine, "user_state")
    assert state.groupby("as_of_date").size().tolist()[:6] == [1, 2, 2, 2, 2, 3]
    end = {r["user_id"]: r for r in table(engine, "user_state", "as_of_date = TIMESTAMP '2026-04-11 00:00:00+00'")
           .to_dict("records")}  # fmt: skip
    a, b, c = end["a"], end["b"], end["c"]
    assert (a["first_seen_date"].date(), a["first_active_date"].date(), a["last_active_date"].date()) == (
        day(0),
        day(0),
        day(5),
    )
    assert (a["active_days"], a["events"], a["minutes"], a["amount"]) == (2, 3, 15.0, 20.0)
    assert (b["first_active_date"].date(), b["active_days"]) == (day(5), 1)
    assert (c["last_active_date"].date(), c["active_days"], c["events"]) == (day(1), 1, 1)
    on_day_3 = table(engine, "user_state", "as_of_date = TIMESTAMP '2026-01-04 00:00:00+00'")
    a3 = on_day_3[on_day_3["user_id"] == "a"].iloc[0]
    assert (a3["last_active_date"].date(), a3["events"], a3["amount"]) == (day(0), 2, 20.0)


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


def test_labels_horizon_edges_and_only_eligible_users(engine):
    load(
        engine,
        [
            *[(u, 40, "session", 1, 0) for u in ("back30", "back31", "billing", "today_only")],
            ("back30", 70, "session", 1, 0),  # t+30: returned
            ("back31", 71, "session", 1, 0),  # t+31: too late
            ("billing", 45, "payment", 0, 9),  # billing is not activity
            ("gone", 5, "session", 1, 0),  # not eligible on day 40
        ],
    )
    build_layer(engine, day(0), day(71), FeatureSpec(), 30, START)
    labels = table(engine, "churn_labels", "as_of_date = TIMESTAMP '2026-02-10 00:00:00+00'")
    assert dict(zip(labels["user_id"], labels["churned"], strict=True)) == {
        "back30": 0,
        "back31": 1,
        "billing": 1,
        "today_only": 1,
    }
    assert set(labels["horizon_days"]) == {30}
    assert max(table(engine, "churn_labels")["as_of_date"]).date() == day(41)  # the last label-complete day


def test_training_extract_is_a_stratified_deterministic_sample(engine):
    users = [f"u{i:03d}" for i in range(200)]
    events = [(u, 0, "session", 1, 0) for u in users]
    events += [(u, 3, "session", 1, 0) for u in users[:50]]  # 50 return within the horizon on day 0
    load(engine, events)
    build_layer(engine, day(0), day(4), FeatureSpec(), 3, START)
    full = engine.query(training_extract_select(engine.schema, day(0), day(1), FeatureSpec(), 1.0))
    assert len(full) == 400 and full.groupby("as_of_date")["churned"].sum().tolist() == [150, 150]
    half = engine.query(training_extract_select(engine.schema, day(0), day(1), FeatureSpec(), 0.5))
    assert half.groupby(["as_of_date", "churned"]).size().tolist() == [25, 75, 25, 75]
    again = engine.query(training_extract_select(engine.schema, day(0), day(1), FeatureSpec(), 0.5))
    assert sorted(half["user_id"] + half["as_of_date"].astype(str)) == sorted(
        again["user_id"] + again["as_of_date"].astype(str)
    )


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


@pytest.mark.parametrize("spec", [FeatureSpec(), FeatureSpec((7, 30, 90), 120), FeatureSpec((3,), 5)])
def test_every_statement_is_valid_googlesql_and_translates_for_duckdb(spec):
    """The emulator runs every statement (tests above); this checks the BigQuery text parses as GoogleSQL
    for window sets the engine tests do not run, and that its DuckDB translation parses as DuckDB."""
    import sqlglot

    from churn_assets.core import queries, sql, transforms

    statements = [
        transforms.user_daily_select("churn", day(0), day(9), Vocabulary.parse("order=purchase,view=ignore")),
        transforms.user_state_select("churn", day(5), day(9), chain_start=False),
        *transforms.user_features_selects("churn", day(0), day(9), spec, 5),
        transforms.churn_labels_select("churn", day(0), day(9), 30),
        queries.training_extract_select("churn", day(0), day(9), spec, 0.25),
        queries.feature_summary_select("churn", day(0), day(9), spec),
        *(sql.create_table("churn", t, sql.table_types(t, spec)) for t in sql.PARTITION_COLUMNS),
    ]
    for statement in statements:
        assert sqlglot.parse_one(statement, read="bigquery") is not None
        assert sqlglot.parse_one(sql.for_engine(statement, "duckdb"), read="duckdb") is not None
    assert len(transforms.user_features_selects("churn", day(0), day(9), spec, 5)) == 2  # 5-day chunks


def test_event_ids_already_stored_on_other_days_are_found(engine):
    load(engine, [("a", 0, "session", 1, 0), ("a", 1, "session", 1, 0), ("b", 2, "session", 1, 0)])  # e0, e1, e2
    found = engine.keys_elsewhere("raw_events", "event_id", "event_time", ["e0", "e1", "e2", "new"], day(1), day(1))
    assert found == {"e0", "e2"}  # e1 is on the day being replaced: not a duplicate
    assert engine.keys_elsewhere("raw_events", "event_id", "event_time", ["e0"], day(0), day(2)) == set()
    assert engine.keys_elsewhere("missing_table", "event_id", "event_time", ["e0"], day(0), day(0)) == set()
