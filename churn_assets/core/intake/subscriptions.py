"""Subscription periods: what a subscriber paid for and when, read from a billing export and validated.

A subscriptions table has one row per period: ``user_id``, ``start_time``, ``end_time`` (empty: still running),
and optionally ``plan`` and ``mrr`` (monthly recurring revenue). Both shapes billing exports come in work:

* one row per billing period (an invoice: start and the paid-through end), and
* one row per subscription (start, and the cancellation's end once there is one).

A period covers the end of day t when it started before the end of t and ends at or after it. Consecutive
periods of a user form a *streak*; a period that starts within ``CHURN_RENEWAL_GRACE_DAYS`` of the previous end
continues the streak (a late renewal after a failed payment is no lapse). The warehouse computes the state and
the labels from the accepted periods (``core/warehouse/subscriptions.py``); this module reads and validates.

The other columns of the file are named once as ignored (``dropped_columns``), like the events'.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from churn_assets.core.intake.rules import Rule, Validated, as_utc, blank, split_rejected
from churn_assets.core.intake.schema import (
    REQUIRED_SUBSCRIPTION_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    SourceFileError,
    require_columns,
)
from churn_assets.core.intake.sources import DATE_PLACEHOLDER, LOCAL, Files, events_path_for, read_table
from churn_assets.core.intake.times import refuse_ambiguous_dates

SUBSCRIPTIONS_SETTING = "CHURN_SUBSCRIPTIONS_FILE"
# the most one period may be worth per month: above it a unit error (cents, an overflow), never revenue
MAX_MRR = 1_000_000.0

SUBSCRIPTION_RULES = (
    Rule("bad_type", "start_time and end_time parse as timestamps, mrr as a number"),
    Rule("null_key", "user_id and start_time are present and not blank"),
    Rule("duplicate_period", "no (user_id, start_time) appears twice"),
    Rule("end_before_start", "end_time, when given, is after start_time"),
    Rule("bad_mrr", f"mrr, when given, is a finite number from 0 to {MAX_MRR:,.0f}"),
    Rule("unknown_user", "the period's user_id is in raw_users"),
    Rule("overlapping_period", "a period starts at or after the end of the user's accepted period before it"),
)


def read_subscriptions(path: str, days: list[date], files: Files = LOCAL) -> pd.DataFrame:
    """The subscriptions file at ``path`` (local or ``gs://``), or with a ``{date}`` template every day file of
    ``days`` that exists (a day's file holds the periods that started on it: its invoices), concatenated. The file
    is named when a column is missing or a date is ambiguous; rows are left to validation."""
    if DATE_PLACEHOLDER in path:
        paths = [events_path_for(path, d) for d in days]
        found = [p for p in paths if files.version(p) is not None]
        if not found:
            raise SourceFileError(f"{path}: no subscriptions file found for {days[0]}..{days[-1]}")
        frames = [_checked(read_table(p, files), p) for p in found]
        return pd.concat(frames, ignore_index=True)
    return _checked(read_table(path, files), path)


def with_subscribers(users: pd.DataFrame, periods: pd.DataFrame) -> pd.DataFrame:
    """Users derived from their first event (no users file), joined by the subscribers: a subscriber who never
    acted is a user too, and one whose first period started before their first event signed up then. Periods whose
    user or start cannot be read are left to validation."""
    start = as_utc(periods["start_time"]) if len(periods) else pd.Series(dtype="datetime64[ns, UTC]")
    user = periods["user_id"].astype(str).str.strip() if len(periods) else pd.Series(dtype=str)
    readable = start.notna() & ~blank(periods["user_id"]) if len(periods) else pd.Series(dtype=bool)
    first = pd.DataFrame({"user_id": user[readable], "signup_time": start[readable]})
    known = users.assign(signup_time=as_utc(users["signup_time"]))
    both = pd.concat([known[["user_id", "signup_time"]], first], ignore_index=True)
    return both.groupby("user_id", sort=True, as_index=False)["signup_time"].min()


def _checked(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    require_columns(frame, REQUIRED_SUBSCRIPTION_COLUMNS, where)
    for column in ("start_time", "end_time"):
        refuse_ambiguous_dates(frame[column], column, where)
    return frame


def validate_subscriptions(raw: pd.DataFrame, users: pd.DataFrame | None) -> Validated:
    """Split subscription periods into typed clean rows and quarantined rows with a reason (the first rule of
    ``SUBSCRIPTION_RULES`` a row breaks). ``users``: the accepted users; None accepts any user.

    Overlaps are judged among the rows that pass every other rule, in order of start: a period that starts
    before the end of the user's accepted period before it (or while an open-ended one runs) is quarantined, and
    the next period is judged against the accepted one, not against the rejected."""
    require_columns(raw, REQUIRED_SUBSCRIPTION_COLUMNS, "subscriptions")
    frame = raw.reset_index(drop=True)
    dropped = tuple(c for c in frame.columns if c not in SUBSCRIPTION_COLUMNS)
    reason = np.full(len(frame), None, dtype=object)
    unset = np.ones(len(frame), dtype=bool)

    def flag(mask, why: str) -> None:
        hit = np.asarray(mask, dtype=bool) & unset
        reason[hit] = why
        unset[hit] = False

    start, end = as_utc(frame["start_time"]), as_utc(frame["end_time"])
    given_mrr = frame["mrr"] if "mrr" in frame.columns else pd.Series(np.nan, index=frame.index)
    mrr = pd.to_numeric(given_mrr, errors="coerce")
    flag(
        (start.isna() & ~blank(frame["start_time"]))
        | (end.isna() & ~blank(frame["end_time"]))
        | (mrr.isna() & ~blank(given_mrr)),
        "bad_type",
    )
    flag(blank(frame["user_id"]) | start.isna(), "null_key")
    user = frame["user_id"].astype(str).str.strip()
    flag(pd.DataFrame({"u": user, "s": start}).duplicated(keep="first"), "duplicate_period")
    flag(end.notna() & (end <= start), "end_before_start")
    flag(mrr.notna() & (~np.isfinite(mrr) | (mrr < 0) | (mrr > MAX_MRR)), "bad_mrr")
    if users is not None:
        flag(~user.isin(set(users["user_id"].astype(str))), "unknown_user")
    flag(_overlapping(user, start, end, unset), "overlapping_period")

    rejected, by_reason = split_rejected(
        frame, pd.Series(reason, index=frame.index), SUBSCRIPTION_RULES, SUBSCRIPTION_COLUMNS
    )
    ok = unset
    plan = frame["plan"].astype(str).where(frame["plan"].notna(), None) if "plan" in frame.columns else None
    clean = pd.DataFrame(
        {
            "user_id": user[ok],
            "start_time": start[ok],
            "end_time": end[ok],
            "plan": plan[ok] if plan is not None else pd.Series(None, index=frame.index[ok], dtype=object),
            "mrr": mrr[ok].astype(float),
        }
    )
    clean = clean.sort_values(["user_id", "start_time"], kind="stable").reset_index(drop=True)
    return Validated(clean, rejected, by_reason, len(frame), dropped)


def _overlapping(user: pd.Series, start: pd.Series, end: pd.Series, candidates: np.ndarray) -> np.ndarray:
    """Rows (among ``candidates``) that start before the end of the user's accepted period before them."""
    out = np.zeros(len(user), dtype=bool)
    rows = np.flatnonzero(candidates)
    if not len(rows):
        return out
    epoch = pd.Timestamp(0, tz="UTC")
    starts = (start - epoch).dt.total_seconds().to_numpy()
    ends = (end - epoch).dt.total_seconds().to_numpy()  # NaN: open-ended
    users = user.to_numpy()
    order = rows[np.lexsort((starts[rows], users[rows]))]
    previous_user, covered_until = None, None  # covered_until: None = open-ended, else the accepted end
    for i in order:
        if users[i] != previous_user:
            previous_user, covered_until = users[i], -np.inf
        if covered_until is None or starts[i] < covered_until:
            out[i] = True
            continue
        covered_until = None if np.isnan(ends[i]) else ends[i]
    return out
