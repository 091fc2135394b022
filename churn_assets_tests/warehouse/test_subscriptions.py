"""subscription_state, the cancellation label and the cancellation features on hand-made periods, on both engines.

Day numbers count from START; E(t) is the midnight after day t. The horizon is 30 days and the renewal grace 3,
so the label of day 40 reads lapses on days 41 ... 70 and is settled once the data reaches day 73.
"""

from __future__ import annotations

import pandas as pd

from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.io.warehouse import build_layer
from churn_assets_tests.warehouse.layer import START, day, features_on, load, table

CANCELLATION = FeatureSpec(definition="cancellation")
T = 40


def at(n: int, hour: int = 0) -> pd.Timestamp:
    return pd.Timestamp(day(n).isoformat(), tz="UTC") + pd.Timedelta(hours=hour)


PERIODS = {
    # user: [(start, end or None, mrr)]
    "renew_on_end_day": [(at(10), at(45), 10.0), (at(45), at(80), 10.0)],
    "renew_inside_grace": [(at(10), at(45), 10.0), (at(47), at(80), 20.0)],
    "renew_after_grace": [(at(10), at(45), 10.0), (at(49), at(80), 10.0)],
    "lapse_on_t_plus_h": [(at(10), at(70, 12), 10.0)],
    "lapse_on_t_plus_h_plus_1": [(at(10), at(71, 12), 10.0)],
    "open_ended": [(at(10), None, 30.0)],
    "first_period_starts_on_t": [(at(T, 9), at(55, 9), 10.0)],
    "cancelled_before_t": [(at(10), at(T), 10.0)],
    "one_row_subscription": [(at(-100), at(60), 10.0)],
}


def load_subscriptions(engine, periods: dict) -> None:
    rows = [(u, s, e, "pro", m) for u, spans in periods.items() for s, e, m in spans]
    frame = pd.DataFrame(rows, columns=["user_id", "start_time", "end_time", "plan", "mrr"])
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    engine.write_table("raw_subscriptions", frame)


def build(engine, last: int = T + 33) -> None:
    # a session for most subscribers on day 35; open_ended never acts (it pays without using the product)
    users = {u: 0 for u in PERIODS} | {"silent_free_user": 0}
    load(engine, [(u, 35, "session", 5, 0) for u in PERIODS if u != "open_ended"], users)
    load_subscriptions(engine, PERIODS)
    build_layer(engine, day(0), day(last), CANCELLATION, 30, START, grace_days=3)


def test_cancellation_label_edges(engine):
    build(engine)
    labels = table(engine, "churn_labels", f"as_of_date = TIMESTAMP '{day(T).isoformat()} 00:00:00+00'")
    assert dict(zip(labels["user_id"], labels["churned"], strict=True)) == {
        "renew_on_end_day": 0,
        "renew_inside_grace": 0,
        "renew_after_grace": 1,
        "lapse_on_t_plus_h": 1,
        "lapse_on_t_plus_h_plus_1": 0,
        "open_ended": 0,
        "first_period_starts_on_t": 1,
        "one_row_subscription": 1,
    }  # cancelled_before_t is not covered at the end of day 40: not eligible, never labelled
    # the last day labelled is the one whose horizon and grace the data covers
    assert max(table(engine, "churn_labels")["as_of_date"]).date() == day(T)


def test_subscription_state_as_of_each_day(engine):
    build(engine)
    state = table(engine, "subscription_state")
    row = {(r["user_id"], r["as_of_date"].date()): r for r in state.to_dict("records")}
    inside = row[("renew_inside_grace", day(T))]
    assert (inside["covered"], inside["tenure_periods"], inside["periods_paid"], inside["mrr"]) == (True, 1, 1, 10.0)
    # the first period's length is not known yet (its end is not a feature): 30 days from its start on day 10
    assert (inside["days_to_period_end"], inside["period_days"], inside["past_lapses"]) == (30, 30, 0)
    gap = row[("renew_inside_grace", day(46))]  # between the periods: not covered
    assert not gap["covered"] and pd.isna(gap["days_to_period_end"])
    renewed = row[("renew_inside_grace", day(50))]  # a renewal within the grace continues the streak
    assert (renewed["tenure_periods"], renewed["periods_paid"], renewed["mrr_change"], renewed["past_lapses"]) == (
        2, 2, 10.0, 0,
    )  # fmt: skip
    # from the second period on, the billing period is the first one's length (35 days), from the start on day 47
    assert (renewed["period_days"], renewed["days_to_period_end"]) == (35, 32)
    assert renewed["streak_start_date"].date() == day(10)
    late = row[("renew_after_grace", day(50))]  # one after it starts a new streak after a lapse
    assert (late["tenure_periods"], late["periods_paid"], late["past_lapses"]) == (1, 2, 1)
    assert late["streak_start_date"].date() == day(49)
    # a whole subscription in one row: its end is a cancellation not known before it happens, so the renewal day is
    # a monthly anniversary of its start (day -100: 140 days before day 40, 20 days into the fifth month)
    long = row[("one_row_subscription", day(T))]
    assert (long["days_to_period_end"], long["period_days"]) == (10, 30)
    assert ("first_period_starts_on_t", day(T - 1)) not in row  # no state before the first period
    assert row[("cancelled_before_t", day(T - 1))]["covered"] and not row[("cancelled_before_t", day(T))]["covered"]


def test_cancellation_features_cover_subscribers_only(engine):
    build(engine)
    rows = features_on(engine, T)
    assert set(rows) == set(PERIODS) - {"cancelled_before_t"}  # covered subscribers, active or not
    never = rows["open_ended"]  # pays and never acts: counts from the first period's start
    assert (never["lifetime_active_days"], never["days_since_last_activity"], never["events_30"]) == (0, 30, 0)
    assert (never["sub_mrr"], never["sub_tenure_days"], never["sub_periods"]) == (30.0, 30, 1)
    acting = rows["renew_on_end_day"]
    assert (acting["lifetime_active_days"], acting["days_since_last_activity"], acting["sub_days_to_period_end"]) == (
        1, 5, 30,
    )  # fmt: skip
    changed = features_on(engine, 50)["renew_inside_grace"]
    assert (changed["sub_mrr_change"], changed["sub_periods_paid"], changed["sub_past_lapses"]) == (10.0, 2, 0)


def test_no_feature_of_t_knows_what_comes_after_t(engine):
    """Leakage: a cancellation recorded later (the open subscription gets its end) and a renewal that starts after
    t change labels, never a feature of t."""
    build(engine)
    before = features_on(engine, T)
    later = {
        **PERIODS,
        "open_ended": [(at(10), at(58), 30.0)],  # cancelled after t, ending on t+18
        "lapse_on_t_plus_h": [(at(10), at(70, 12), 10.0), (at(71), at(100), 10.0)],  # renewed after t
    }
    load_subscriptions(engine, later)
    build_layer(engine, day(0), day(T + 33), CANCELLATION, 30, START, grace_days=3)
    assert features_on(engine, T) == before
    labels = table(engine, "churn_labels", f"as_of_date = TIMESTAMP '{day(T).isoformat()} 00:00:00+00'")
    churned = dict(zip(labels["user_id"], labels["churned"], strict=True))
    assert (churned["open_ended"], churned["lapse_on_t_plus_h"]) == (1, 0)  # the outcome moved, the inputs did not
