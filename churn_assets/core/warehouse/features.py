"""user_features: window sums from user_daily and lifetime figures from user_state, for the eligible users (the
recently active, or under the cancellation definition the covered subscribers, with their subscription's state).

Which features exist is ``core/warehouse/feature_spec.py``; this module is the SQL that computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from churn_assets.core.warehouse.feature_spec import (
    CATEGORICAL_FEATURES,
    ENGAGED_MINUTES_PER_DAY,
    FeatureSpec,
    is_float_feature,
)
from churn_assets.core.warehouse.sql import days_between, epoch_day, ts


def _window_sum(column: str, newest_age: int, oldest_age: int) -> str:
    """Sum of ``column`` over the days aged newest_age ... oldest_age (age 0 = the feature day)."""
    value = "IF(active, 1, 0)" if column == "active" else column
    total = f"SUM(IF(age BETWEEN {newest_age} AND {oldest_age}, {value}, 0))"
    # a parallel sum of doubles may differ in its last bits from run to run: rounded, the same rows give the
    # same features, hence the same training set and the same model
    return f"ROUND({total}, 6)" if column in ("minutes", "amount") else total


def _mean_gap(t: str) -> str:
    """Mean days between active days; with one active day, the days since it (a lower bound)."""
    return (
        "IF(st.active_days > 1, "
        f"{days_between('st.last_active_date', 'st.first_active_date')} / (st.active_days - 1), "
        f"CAST({days_between(t, 'st.first_active_date')} AS FLOAT64))"
    )


def user_features_select(schema: str, first: date, last: date, spec: FeatureSpec) -> str:
    """Features as of the end of each day t in first ... last for the users active within the eligibility window
    before t: windows from user_daily (the ``spec.lookback_days`` days up to t only), lifetime figures from
    user_state of t. Each (user, t) reads its own days; one statement serves a whole range."""
    s, long = spec.short, spec.long
    sums: dict[str, str] = {}
    for w in spec.windows:
        sums[f"active_days_{w}"] = _window_sum("active", 0, w - 1)
        sums[f"events_{w}"] = _window_sum("events", 0, w - 1)
        sums[f"minutes_{w}"] = _window_sum("minutes", 0, w - 1)
    sums[f"sessions_{s}"] = _window_sum("sessions", 0, s - 1)
    for name in spec.type_counts:
        sums[name] = _window_sum(name.rsplit("_", 1)[0], 0, long - 1)
    sums[f"amount_{long}"] = _window_sum("amount", 0, long - 1)
    for kind in ("events", "minutes", "active_days"):
        source = "active" if kind == "active_days" else kind
        sums[f"{kind}_prev_{s}"] = _window_sum(source, s, 2 * s - 1)
    window = ",\n    ".join(f"{expr} AS {name}" for name, expr in sums.items())
    floats = {name for name in sums if is_float_feature(name) or name.startswith("minutes_prev")}

    def filled(name: str) -> str:
        return f"COALESCE(w.{name}, {'0.0' if name in floats else '0'})"

    selected = {name: filled(name) for name in sums if "_prev_" not in name}
    for kind in ("events", "minutes", "active_days"):
        difference = f"{filled(f'{kind}_{s}')} - {filled(f'{kind}_prev_{s}')}"
        selected[f"{kind}_trend_{s}"] = f"ROUND({difference}, 6)" if kind == "minutes" else difference
    t = "st.as_of_date"
    if spec.cancellation:
        selected |= _subscription_features(t)
    selected |= {
        # a signup derived from the first event may come after a subscription's start: the earlier counts
        "tenure_days": days_between(t, "LEAST(COALESCE(u.signup_time, st.first_seen_date), st.first_seen_date)"),
        "days_since_first_activity": days_between(t, "st.first_active_date"),
        "days_since_last_activity": days_between(t, "st.last_active_date"),
        "lifetime_active_days": "st.active_days",
        "lifetime_events": "st.events",
        "lifetime_amount": "st.amount",
        "mean_active_gap_days": _mean_gap(t),
        "last_active_gap_days": (
            f"IF(st.prev_active_date IS NULL, {days_between(t, 'st.first_active_date')}, "
            f"{days_between('st.last_active_date', 'st.prev_active_date')})"
        ),
        "active_gap_trend": (
            f"ROUND(IF(st.prev_active_date IS NULL, 1.0, "
            f"{days_between('st.last_active_date', 'st.prev_active_date')} / {_mean_gap(t)}), 6)"
        ),
        "recency_in_gaps": f"ROUND({days_between(t, 'st.last_active_date')} / GREATEST({_mean_gap(t)}, 1.0), 6)",
        "active_day_rate": f"ROUND(st.active_days / ({days_between(t, 'st.first_active_date')} + 1.0), 6)",
        "amount_per_active_day": "ROUND(st.amount / GREATEST(st.active_days, 1), 6)",
        "engagement_score": (
            f"ROUND(100 * (0.5 * {filled(f'active_days_{s}')} / {s} + 0.3 * {filled(f'active_days_{long}')} / {long}"
            f" + 0.2 * LEAST(1.0, {filled(f'minutes_{s}')} / {ENGAGED_MINUTES_PER_DAY * s})), 4)"
        ),
    }
    columns = ",\n  ".join(f"{selected[name]} AS {name}" for name in spec.numeric)
    categories = ",\n  ".join(f"COALESCE(u.{c}, 'unknown') AS {c}" for c in CATEGORICAL_FEATURES)
    # the window join on whole days, computed once per row of each side, not once per pair
    return f"""WITH st AS ({_eligible(schema, first, last, spec)}),
keys AS (SELECT user_id, as_of_date, {epoch_day("as_of_date")} AS t FROM st),
days AS (
  SELECT *, {epoch_day("activity_date")} AS d FROM {schema}.user_daily
  WHERE activity_date > {ts(first - timedelta(days=spec.lookback_days))} AND activity_date <= {ts(last)}
),
recent AS (
  SELECT days.*, keys.as_of_date, keys.t - days.d AS age
  FROM days JOIN keys ON keys.user_id = days.user_id AND days.d <= keys.t AND days.d > keys.t - {spec.lookback_days}
),
w AS (
  SELECT
    user_id,
    as_of_date,
    {window}
  FROM recent
  GROUP BY user_id, as_of_date
)
SELECT
  st.user_id AS user_id,
  st.as_of_date AS as_of_date,
  {categories},
  {columns}
FROM st
LEFT JOIN w ON w.user_id = st.user_id AND w.as_of_date = st.as_of_date
LEFT JOIN {schema}.raw_users AS u ON u.user_id = st.user_id"""


def _eligible(schema: str, first: date, last: date, spec: FeatureSpec) -> str:
    """The eligible (user, day) rows with their lifetime state: for inactivity the users active within the
    eligibility window (user_state); for cancellation the subscribers covered at the end of the day
    (subscription_state) with their activity state, which a subscriber who never acted lacks: their figures
    count from the first period's start, with no active day."""
    if not spec.cancellation:
        return f"""
  SELECT * FROM {schema}.user_state
  WHERE as_of_date >= {ts(first)} AND as_of_date <= {ts(last)}
    AND {days_between("as_of_date", "last_active_date")} < {spec.eligibility_days}
"""
    joined = ", ".join(f"ss.{c}" for c in _SUBSCRIPTION_STATE)
    return f"""
  SELECT ss.user_id, ss.as_of_date,
    LEAST(COALESCE(us.first_seen_date, ss.first_start_date), ss.first_start_date) AS first_seen_date,
    COALESCE(us.first_active_date, ss.first_start_date) AS first_active_date,
    COALESCE(us.last_active_date, ss.first_start_date) AS last_active_date,
    us.prev_active_date,
    COALESCE(us.active_days, 0) AS active_days,
    COALESCE(us.events, 0) AS events,
    COALESCE(us.minutes, 0.0) AS minutes,
    COALESCE(us.amount, 0.0) AS amount,
    {joined}
  FROM {schema}.subscription_state AS ss
  LEFT JOIN {schema}.user_state AS us ON us.user_id = ss.user_id AND us.as_of_date = ss.as_of_date
  WHERE ss.as_of_date >= {ts(first)} AND ss.as_of_date <= {ts(last)} AND ss.covered
"""


_SUBSCRIPTION_STATE = (
    "streak_start_date", "tenure_periods", "periods_paid", "mrr", "mrr_change", "days_to_period_end", "period_days",
    "past_lapses",
)  # fmt: skip


def _subscription_features(t: str) -> dict[str, str]:
    """The subscription's state as of t (``core/warehouse/feature_spec.py`` lists them)."""
    return {
        "sub_tenure_days": days_between(t, "st.streak_start_date"),
        "sub_periods": "st.tenure_periods",
        "sub_periods_paid": "st.periods_paid",
        "sub_mrr": "ROUND(COALESCE(st.mrr, 0.0), 6)",
        "sub_mrr_change": "ROUND(COALESCE(st.mrr_change, 0.0), 6)",
        "sub_days_to_period_end": "st.days_to_period_end",
        "sub_period_days": "st.period_days",
        "sub_past_lapses": "st.past_lapses",
    }


def user_features_selects(schema: str, chunks: Sequence[tuple[date, date]], spec: FeatureSpec) -> list[str]:
    """``user_features_select`` of each range of days in ``chunks`` (``Engine.feature_chunks``)."""
    return [user_features_select(schema, a, b, spec) for a, b in chunks]
