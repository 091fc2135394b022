"""Forward churn labels: did an eligible user go silent for the whole label horizon?

As of the end of day t, with horizon H (30 by default):

* eligible: active on at least one day of t-29 ... t (``active_days_30 > 0``). Users already gone
  are not labelled: they cannot churn again, and labelling them inflates every metric.
* churned: no active day in t+1 ... t+H.

A label needs every day of its horizon. ``missing_horizon_days`` finds the days that are not
available yet and ``compute_churn_labels`` refuses to label from an incomplete horizon.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, timedelta

import pandas as pd

LABEL_COLUMNS = ("user_id", "as_of_date", "churned", "horizon_days")


class IncompleteHorizonError(ValueError):
    """A label's horizon has days whose activity is not available; the message names them."""


def horizon_days(as_of: date, horizon: int) -> list[date]:
    return [as_of + timedelta(days=i) for i in range(1, horizon + 1)]


def missing_horizon_days(as_of_days: Iterable[date], horizon: int, available: Collection[date]) -> list[date]:
    needed = {d for t in as_of_days for d in horizon_days(t, horizon)}
    return sorted(needed - set(available))


def describe_days(days: list[date]) -> str:
    """Compact ranges, e.g. '2026-05-01..2026-05-03, 2026-05-07 (4 days)'."""
    runs: list[list[date]] = []
    for d in days:
        if runs and d - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(d)
        else:
            runs.append([d])
    text = ", ".join(r[0].isoformat() if len(r) == 1 else f"{r[0].isoformat()}..{r[-1].isoformat()}" for r in runs)
    return f"{text} ({len(days)} day{'s' if len(days) != 1 else ''})"


def compute_churn_labels(
    features: pd.DataFrame,
    future_daily: pd.DataFrame,
    as_of_days: Iterable[date],
    horizon: int,
    available_days: Collection[date],
) -> pd.DataFrame:
    """Labels for the eligible users of each day in ``as_of_days``.

    ``features`` holds user_features rows of those days; ``future_daily`` the user_daily rows of
    their horizons; ``available_days`` the user_daily days that exist. Raises
    :class:`IncompleteHorizonError` naming the missing days if any horizon is incomplete.
    """
    as_of_days = sorted(as_of_days)
    missing = missing_horizon_days(as_of_days, horizon, available_days)
    if missing:
        raise IncompleteHorizonError(
            f"Cannot label {describe_days(as_of_days)} with a {horizon}-day horizon: "
            f"user_daily is missing {describe_days(missing)}. Materialize those days first."
        )
    active = future_daily.loc[future_daily["active"], ["user_id", "activity_date"]]
    frames = []
    for t in as_of_days:
        t_ts = pd.Timestamp(t.isoformat(), tz="UTC")
        eligible = features.loc[(features["as_of_date"] == t_ts) & (features["active_days_30"] > 0), "user_id"]
        in_horizon = (active["activity_date"] > t_ts) & (active["activity_date"] <= t_ts + pd.Timedelta(days=horizon))
        returned = active.loc[in_horizon, "user_id"].unique()
        frames.append(
            pd.DataFrame(
                {
                    "user_id": eligible.to_numpy(),
                    "as_of_date": t_ts,
                    "churned": (~eligible.isin(returned)).to_numpy().astype("int64"),
                    "horizon_days": horizon,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(LABEL_COLUMNS))
    return out.sort_values(["as_of_date", "user_id"], kind="stable").reset_index(drop=True)
