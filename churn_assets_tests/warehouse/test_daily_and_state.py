"""user_daily (counts, day edges, a source vocabulary), user_state over gaps, duplicate event ids: exact values."""

from __future__ import annotations

from churn_assets.core.intake.vocabulary import Vocabulary
from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.io.warehouse import build_layer
from churn_assets_tests.warehouse.layer import START, day, load, table


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


def test_event_ids_already_stored_on_other_days_are_found(engine):
    load(engine, [("a", 0, "session", 1, 0), ("a", 1, "session", 1, 0), ("b", 2, "session", 1, 0)])  # e0, e1, e2
    found = engine.keys_elsewhere("raw_events", "event_id", "event_time", ["e0", "e1", "e2", "new"], day(1), day(1))
    assert found == {"e0", "e2"}  # e1 is on the day being replaced: not a duplicate
    assert engine.keys_elsewhere("raw_events", "event_id", "event_time", ["e0"], day(0), day(2)) == set()
    assert engine.keys_elsewhere("missing_table", "event_id", "event_time", ["e0"], day(0), day(0)) == set()
