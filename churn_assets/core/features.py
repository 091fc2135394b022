"""Rolling per-user features as of the end of a day, computed from a 30-day window only.

A feature row for day ``t`` uses the ``user_daily`` rows of days t-29 ... t and the user table,
nothing older, so one day's cost does not grow with the length of history. Two features are
therefore capped at the window:

* ``days_since_last_activity``: days from the last active day to t (0 = active on t);
  ``WINDOW_DAYS`` (30) when there was no activity in the window.
* ``days_since_first_activity``: days from the first active day within the window to t
  (at most 29); 0 when there was no activity in the window.

``engagement_score`` (0-100) weighs recent activity most::

    100 * (0.5 * active_days_7 / 7 + 0.3 * active_days_30 / 30 + 0.2 * min(1, minutes_7 / 210))

where 210 minutes is 30 minutes a day for a week.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd

WINDOW_DAYS = 30
ENGAGED_MINUTES_PER_WEEK = 210.0

# Numeric model inputs, in a fixed order.
NUMERIC_FEATURES = (
    "tenure_days",
    "active_days_7",
    "active_days_14",
    "active_days_30",
    "events_7",
    "events_14",
    "events_30",
    "sessions_7",
    "sessions_30",
    "feature_uses_30",
    "support_tickets_30",
    "payments_failed_30",
    "minutes_7",
    "minutes_30",
    "amount_30",
    "events_trend_7",
    "minutes_trend_7",
    "active_days_trend_7",
    "days_since_first_activity",
    "days_since_last_activity",
    "engagement_score",
)
CATEGORICAL_FEATURES = ("plan", "channel")
FEATURE_COLUMNS = ("user_id", "as_of_date", *CATEGORICAL_FEATURES, *NUMERIC_FEATURES)

_SUMMED = {
    # output column: (user_daily column, first age included, last age included)
    "active_days_7": ("active", 0, 6),
    "active_days_14": ("active", 0, 13),
    "active_days_30": ("active", 0, 29),
    "active_days_prev_7": ("active", 7, 13),
    "events_7": ("events", 0, 6),
    "events_14": ("events", 0, 13),
    "events_30": ("events", 0, 29),
    "events_prev_7": ("events", 7, 13),
    "sessions_7": ("sessions", 0, 6),
    "sessions_30": ("sessions", 0, 29),
    "feature_uses_30": ("feature_uses", 0, 29),
    "support_tickets_30": ("support_tickets", 0, 29),
    "payments_failed_30": ("payments_failed", 0, 29),
    "minutes_7": ("minutes", 0, 6),
    "minutes_30": ("minutes", 0, 29),
    "minutes_prev_7": ("minutes", 7, 13),
    "amount_30": ("amount", 0, 29),
}


def _midnight(day: date) -> pd.Timestamp:
    return pd.Timestamp(day.isoformat(), tz="UTC")


def window_days(as_of: date) -> tuple[date, date]:
    """First and last day of the feature window ending on ``as_of``."""
    return (_midnight(as_of) - pd.Timedelta(days=WINDOW_DAYS - 1)).date(), as_of


def features_for_day(daily: pd.DataFrame, users: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Features of every user signed up by the end of ``as_of``; users idle in the window get zeros."""
    t = _midnight(as_of)
    age = ((t - daily["activity_date"]) // pd.Timedelta(days=1)).to_numpy()
    in_window = (age >= 0) & (age < WINDOW_DAYS)
    sub = daily.loc[in_window]
    age = age[in_window]
    active = sub["active"].to_numpy()

    columns = {"user_id": sub["user_id"].to_numpy()}
    for out, (source, first, last) in _SUMMED.items():
        values = sub[source].to_numpy()
        columns[out] = np.where((age >= first) & (age <= last), values, 0)
    columns["last_age"] = np.where(active, age, WINDOW_DAYS)
    columns["first_age"] = np.where(active, age, 0)
    agg = {c: "sum" for c in _SUMMED} | {"last_age": "min", "first_age": "max"}
    per_user = pd.DataFrame(columns).groupby("user_id", sort=False).agg(agg)

    known = users.loc[users["signup_time"] < t + pd.Timedelta(days=1)]
    out = known[["user_id", *CATEGORICAL_FEATURES]].join(per_user, on="user_id")
    out[list(_SUMMED)] = out[list(_SUMMED)].fillna(0)
    out["last_age"] = out["last_age"].fillna(WINDOW_DAYS)
    out["first_age"] = out["first_age"].fillna(0)

    out["as_of_date"] = t
    out["tenure_days"] = (t - known["signup_time"].dt.floor("D")) // pd.Timedelta(days=1)
    out["events_trend_7"] = out["events_7"] - out["events_prev_7"]
    out["minutes_trend_7"] = out["minutes_7"] - out["minutes_prev_7"]
    out["active_days_trend_7"] = out["active_days_7"] - out["active_days_prev_7"]
    out["days_since_first_activity"] = out["first_age"]
    out["days_since_last_activity"] = out["last_age"]
    out["engagement_score"] = engagement_score(out["active_days_7"], out["active_days_30"], out["minutes_7"])

    out = out[list(FEATURE_COLUMNS)]
    ints = [c for c in NUMERIC_FEATURES if not c.startswith(("minutes", "amount", "engagement"))]
    return out.astype({c: "int64" for c in ints}).sort_values("user_id").reset_index(drop=True)


def engagement_score(active_days_7: pd.Series, active_days_30: pd.Series, minutes_7: pd.Series) -> pd.Series:
    score = 100 * (
        0.5 * active_days_7 / 7
        + 0.3 * active_days_30 / WINDOW_DAYS
        + 0.2 * np.minimum(1.0, minutes_7 / ENGAGED_MINUTES_PER_WEEK)
    )
    return score.round(4)


def compute_user_features(daily: pd.DataFrame, users: pd.DataFrame, as_of_days: Iterable[date]) -> pd.DataFrame:
    """Features for several days (a partition range), each from its own 30-day window."""
    frames = [features_for_day(daily, users, day) for day in as_of_days]
    return pd.concat(frames, ignore_index=True) if frames else features_for_day(daily, users.iloc[:0], date(1970, 1, 1))
