"""Per-user daily aggregates of events: the sparse ``user_daily`` table."""

from __future__ import annotations

import pandas as pd

from churn_assets.core.schema import DAILY_COLUMNS, DAILY_COUNT_COLUMNS, USER_EVENT_TYPES, VALUE_COLUMNS


def aggregate_user_daily(events: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, UTC day) with any event: counts by type, value sums, an active flag.

    ``active`` means a user-initiated event (session, feature use, support ticket); billing events
    alone do not make a day active, because a subscription bills whether or not anyone uses it.
    """
    if events.empty:
        return _empty_daily()
    frame = pd.DataFrame(
        {
            "user_id": events["user_id"].to_numpy(),
            "activity_date": events["event_time"].dt.floor("D").array,
            "event_type": events["event_type"].to_numpy(),
            **{c: events[c].to_numpy() for c in VALUE_COLUMNS},
        }
    )
    keys = ["user_id", "activity_date"]
    counts = (
        frame.groupby([*keys, "event_type"], sort=False)
        .size()
        .unstack("event_type", fill_value=0)
        .reindex(columns=list(DAILY_COUNT_COLUMNS), fill_value=0)
        .rename(columns=DAILY_COUNT_COLUMNS)
    )
    sums = frame.groupby(keys, sort=False)[list(VALUE_COLUMNS)].sum()
    out = counts.join(sums).reset_index()
    out["events"] = out[list(DAILY_COUNT_COLUMNS.values())].sum(axis=1)
    user_initiated = [DAILY_COUNT_COLUMNS[t] for t in USER_EVENT_TYPES]
    out["active"] = out[user_initiated].sum(axis=1) > 0
    out = out[list(DAILY_COLUMNS)].sort_values(["activity_date", "user_id"], kind="stable")
    return out.astype({c: "int64" for c in ("events", *DAILY_COUNT_COLUMNS.values())}).reset_index(drop=True)


def _empty_daily() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="int64") for c in DAILY_COLUMNS})
    out["user_id"] = out["user_id"].astype(object)
    out["activity_date"] = pd.Series(dtype="datetime64[ns, UTC]")
    for c in VALUE_COLUMNS:
        out[c] = out[c].astype(float)
    out["active"] = out["active"].astype(bool)
    return out
