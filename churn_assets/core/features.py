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


def features_for_day(daily: pd.DataFrame, users: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Features of every user signed up by the end of ``as_of``; users idle in the window get zeros."""
    return compute_user_features(daily, users, [as_of])


def _day_features(
    daily: pd.DataFrame, codes: np.ndarray, n_codes: int, users: pd.DataFrame, user_codes: np.ndarray, as_of: date
) -> dict[str, np.ndarray]:
    """One day's feature columns. ``codes`` number daily's user_ids 0..n_codes-1; ``user_codes`` maps each
    user to that number (-1: no rows)."""
    t = _midnight(as_of)
    age = ((t - daily["activity_date"]) // pd.Timedelta(days=1)).to_numpy()
    in_window = (age >= 0) & (age < WINDOW_DAYS)
    age, code = age[in_window], codes[in_window]
    active = daily["active"].to_numpy()[in_window]

    known = (users["signup_time"] < t + pd.Timedelta(days=1)).to_numpy()
    idx = user_codes[known]

    def per_user(values: np.ndarray, fill: float) -> np.ndarray:
        return np.append(values, fill)[idx]  # idx -1 (no rows in the window's data) picks the fill

    out = {c: users[c].to_numpy()[known] for c in ("user_id", *CATEGORICAL_FEATURES)}
    for name, (source, first, last) in _SUMMED.items():
        weights = daily[source].to_numpy()[in_window] * ((age >= first) & (age <= last))
        out[name] = per_user(np.bincount(code, weights=weights, minlength=n_codes), 0)
    last_age = np.full(n_codes, WINDOW_DAYS)
    np.minimum.at(last_age, code[active], age[active])
    first_age = np.zeros(n_codes, dtype=age.dtype)
    np.maximum.at(first_age, code[active], age[active])

    out["as_of_date"] = np.full(int(known.sum()), t)
    out["tenure_days"] = ((t - users["signup_time"][known].dt.floor("D")) // pd.Timedelta(days=1)).to_numpy()
    out["events_trend_7"] = out["events_7"] - out["events_prev_7"]
    out["minutes_trend_7"] = out["minutes_7"] - out["minutes_prev_7"]
    out["active_days_trend_7"] = out["active_days_7"] - out["active_days_prev_7"]
    out["days_since_first_activity"] = per_user(first_age, 0)
    out["days_since_last_activity"] = per_user(last_age, WINDOW_DAYS)
    out["engagement_score"] = engagement_score(out["active_days_7"], out["active_days_30"], out["minutes_7"])
    return out


def engagement_score(active_days_7, active_days_30, minutes_7) -> np.ndarray:
    score = 100 * (
        0.5 * np.asarray(active_days_7) / 7
        + 0.3 * np.asarray(active_days_30) / WINDOW_DAYS
        + 0.2 * np.minimum(1.0, np.asarray(minutes_7) / ENGAGED_MINUTES_PER_WEEK)
    )
    return np.round(score, 4)


def compute_user_features(daily: pd.DataFrame, users: pd.DataFrame, as_of_days: Iterable[date]) -> pd.DataFrame:
    """Features for several days (a partition range), each from its own 30-day window."""
    codes, uniques = pd.factorize(daily["user_id"])
    user_codes = pd.Index(uniques).get_indexer(users["user_id"])
    days = [_day_features(daily, codes, len(uniques), users, user_codes, day) for day in as_of_days]
    out = pd.DataFrame({c: np.concatenate([d[c] for d in days]) if days else [] for c in FEATURE_COLUMNS})
    ints = [c for c in NUMERIC_FEATURES if not c.startswith(("minutes", "amount", "engagement"))]
    floats = [c for c in NUMERIC_FEATURES if c.startswith(("minutes", "amount", "engagement"))]
    out = out.astype({**{c: "int64" for c in ints}, **{c: "float64" for c in floats}})
    out["as_of_date"] = pd.to_datetime(out["as_of_date"], utc=True).astype("datetime64[ns, UTC]")
    return out.sort_values(["as_of_date", "user_id"], kind="stable").reset_index(drop=True)
