"""Validation rules for raw data: every rejected row is kept with the reason it was rejected.

A row failing several rules is rejected once, for the first rule in the order below. The asset
checks ``valid_rows`` (users, subscriptions) and ``valid_day`` (each day of events) report the rejected rows per
reason (``quality.rows_outcome``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from churn_assets.core.intake.schema import (
    EVENT_COLUMNS,
    REQUIRED_EVENT_COLUMNS,
    REQUIRED_USER_COLUMNS,
    USER_COLUMNS,
    VALUE_COLUMNS,
    require_columns,
)
from churn_assets.core.intake.sources import day_window
from churn_assets.core.intake.vocabulary import DEFAULT_VOCABULARY, SETTING, Vocabulary
from churn_assets.core.quality import Outcome, rows_outcome

# Upper bounds of one event's values: a session longer than a day, or a single amount above ten million, is a
# unit or parsing error (milliseconds for minutes, cents with an overflow), never a figure to sum.
VALUE_BOUNDS = {"minutes": 1440.0, "amount": 10_000_000.0}


@dataclass(frozen=True)
class Rule:
    reason: str  # what a quarantined row's ``reason`` column says
    description: str


EVENT_RULES = (
    Rule("bad_type", "every value parses as its column's type (timestamps, numbers)"),
    Rule("null_key", "event_id, user_id and event_time are present and not blank"),
    Rule("duplicate_event_id", "no event_id appears twice, within a day or on another day"),
    Rule("unmapped_event_type", f"event_type is an event kind or mapped to one by {SETTING}"),
    Rule("event_time_outside_partition", "event_time falls on the partition's day"),
    Rule("negative_value", f"{list(VALUE_COLUMNS)} are not negative"),
    Rule(
        "value_out_of_bounds",
        "minutes and amount are finite numbers, at most "
        + " and ".join(f"{b:,.0f} ({c})" for c, b in VALUE_BOUNDS.items()),
    ),
    Rule("unknown_user", "the event's user_id is in raw_users"),
    Rule("before_signup", "event_time is not before the user's signup_time"),
)
# the columns that show why a row broke its rule (in the CLI's and the checks' examples)
REASON_COLUMNS = {
    "bad_type": ("event_time", "signup_time", "start_time", "end_time", "minutes", "amount", "mrr"),
    "null_key": ("event_id", "user_id", "event_time", "signup_time", "start_time"),
    "duplicate_event_id": ("event_time",),
    "duplicate_user_id": ("signup_time",),
    "unmapped_event_type": ("event_type",),
    "event_time_outside_partition": ("event_time",),
    "negative_value": ("minutes", "amount"),
    "value_out_of_bounds": ("minutes", "amount"),
    "unknown_user": ("user_id",),
    "before_signup": ("user_id", "event_time"),
    # subscription periods (core/intake/subscriptions.py)
    "duplicate_period": ("user_id", "start_time"),
    "end_before_start": ("start_time", "end_time"),
    "bad_mrr": ("mrr",),
    "overlapping_period": ("user_id", "start_time", "end_time"),
}
USER_RULES = (
    Rule("bad_type", "signup_time parses as a timestamp"),
    Rule("null_key", "user_id and signup_time are present and not blank"),
    Rule("duplicate_user_id", "no user_id appears twice"),
)


def describe_rules(rules: tuple[Rule, ...]) -> str:
    """The rules as one line, ``reason: description; ...``, for a check's description."""
    return "; ".join(f"{r.reason}: {r.description}" for r in rules)


@dataclass(frozen=True)
class Validated:
    clean: pd.DataFrame
    rejected: pd.DataFrame  # the original values as text, plus ``reason``
    rejected_by_reason: dict[str, int]  # every rule's reason, zeros included
    total: int
    dropped_columns: tuple[str, ...] = ()

    def outcome(self, max_reject_share: float) -> Outcome:
        return rows_outcome(self.rejected_by_reason, self.total, max_reject_share, self.examples())

    def examples(self, per_reason: int = 3) -> dict[str, list[str]]:
        """A few rejected rows per reason, as the values that broke the rule (and the row's id)."""
        out: dict[str, list[str]] = {}
        if not len(self.rejected):
            return out
        key = next(k for k in ("event_id", "user_id") if k in self.rejected.columns)
        for reason, rows in self.rejected.groupby("reason", sort=False):
            columns = [c for c in REASON_COLUMNS.get(str(reason), ()) if c in rows.columns]
            out[str(reason)] = [
                ", ".join(
                    [f"{key} {row[key]!r}", *(f"{c}={row[c]!r}" for c in columns if c != key and pd.notna(row[c]))]
                )
                for _, row in rows.head(per_reason).iterrows()
            ]
        return out


def as_utc(values: pd.Series) -> pd.Series:
    """Timestamps in UTC; unreadable values become NaT (naive values are taken as UTC)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    return pd.to_datetime(values, utc=True, errors="coerce", format="mixed")


# the characters Python's str.strip() removes (str.isspace), among them the separators \x1c-\x1f
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def blank(values: pd.Series) -> pd.Series:
    """Missing, or text of whitespace only (as ``str.strip`` sees it). Text is trimmed by Arrow's kernels
    rather than pandas' per-value strip, which is several times slower."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values.isna()  # typed values (timestamps, numbers) cannot be blank text
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text (a number among them): pandas looks at each
        return values.isna() | (values.astype(str).str.strip() == "")
    empty = pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim(text, characters=WHITESPACE)), 0), True)
    return pd.Series(empty.to_numpy(zero_copy_only=False), index=values.index)


def _as_text(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for c in columns:
        col = frame[c] if c in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        text = col.astype(object).map(str).where(col.notna(), None)
        out[c] = text.astype("string")
    return out


def split_rejected(
    frame: pd.DataFrame, reason: pd.Series, rules: tuple[Rule, ...], text_columns: tuple[str, ...]
) -> tuple[pd.DataFrame, dict[str, int]]:
    counts = reason.value_counts()
    by_reason = {r.reason: int(counts.get(r.reason, 0)) for r in rules}
    bad = reason.notna()
    if not bad.any():
        empty = pd.DataFrame({c: pd.Series(dtype="string") for c in (*text_columns, "reason")})
        return empty, by_reason
    rejected = _as_text(frame[bad], text_columns)
    rejected["reason"] = reason[bad].astype("string")
    return rejected.reset_index(drop=True), by_reason


def validate_events(
    raw: pd.DataFrame,
    day: date,
    users: pd.DataFrame | None,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    seen_ids: Iterable[str] = (),
) -> Validated:
    """Split one day's raw events into typed clean rows and quarantined rows with a reason.

    ``users``: the accepted users (user_id, signup_time); None accepts any user. ``seen_ids``: event ids
    already accepted on other days."""
    return validate_days({day: raw}, users, vocabulary, seen_ids)[day]


def validate_days(
    raw: dict[date, pd.DataFrame],
    users: pd.DataFrame | None,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    seen_ids: Iterable[str] = (),
) -> dict[date, Validated]:
    """``validate_events`` of each day of ``raw``, in one pass over all its rows (one day at a time paid pandas'
    fixed cost per call once per day, most of the time for a long log of small days). An id on an earlier day of
    ``raw`` counts as seen for the later ones, as ``seen_ids`` does for every day."""
    days = sorted(raw)
    if not days:
        return {}
    for day in days:
        require_columns(raw[day], ("event_id", "event_type", *REQUIRED_EVENT_COLUMNS), f"events of {day.isoformat()}")
    dropped = {day: tuple(c for c in raw[day].columns if c not in EVENT_COLUMNS) for day in days}
    sizes = np.array([len(raw[day]) for day in days])
    frame = pd.concat([raw[day].reset_index(drop=True) for day in days], ignore_index=True)
    windows = [day_window(day) for day in days]  # each row's day, as [start, end)
    start, end = (pd.Series(pd.DatetimeIndex([w[i] for w in windows]).repeat(sizes)) for i in (0, 1))
    reason = np.full(len(frame), None, dtype=object)
    unset = np.ones(len(frame), dtype=bool)

    def flag(mask: pd.Series, why: str) -> None:  # the first rule a row breaks is its reason
        hit = np.asarray(mask, dtype=bool) & unset
        reason[hit] = why
        unset[hit] = False

    event_time = as_utc(frame["event_time"])
    values = {}
    bad_type = event_time.isna() & ~blank(frame["event_time"])
    for c in VALUE_COLUMNS:
        given = frame[c] if c in frame.columns else pd.Series(0.0, index=frame.index)
        values[c] = pd.to_numeric(given, errors="coerce")
        unread = values[c].isna().to_numpy()  # blank (no value) or not a number: only these are looked at again
        text = np.zeros(len(frame), dtype=bool)
        text[unread] = ~blank(given[unread]).to_numpy(dtype=bool)
        bad_type |= text
        values[c] = values[c].fillna(0.0).astype(float)
    flag(bad_type, "bad_type")
    flag(blank(frame["event_id"]) | blank(frame["user_id"]) | event_time.isna(), "null_key")
    ids = frame["event_id"].astype(str)
    flag(ids.duplicated(keep="first") | ids.isin(set(seen_ids)), "duplicate_event_id")  # the days in order
    flag(~frame["event_type"].astype(str).isin(vocabulary.known()), "unmapped_event_type")
    flag((event_time < start) | (event_time >= end), "event_time_outside_partition")
    flag((values["minutes"] < 0) | (values["amount"] < 0), "negative_value")
    out_of_bounds = pd.Series(False, index=frame.index)
    for c, bound in VALUE_BOUNDS.items():
        out_of_bounds |= ~np.isfinite(values[c]) | (values[c] > bound)
    flag(out_of_bounds, "value_out_of_bounds")
    if users is not None:
        signup = frame["user_id"].astype(str).map(users.set_index("user_id")["signup_time"])
        flag(signup.isna(), "unknown_user")
        flag(event_time < signup, "before_signup")

    clean = pd.DataFrame(
        {
            "event_id": ids,
            "user_id": frame["user_id"].astype(str),
            "event_time": event_time,
            "event_type": frame["event_type"].astype(str),
            **values,
        }
    )
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    none_rejected = split_rejected(frame.iloc[:0], pd.Series([], dtype=object), EVENT_RULES, EVENT_COLUMNS)
    out = {}
    for i, day in enumerate(days):
        rows = slice(bounds[i], bounds[i + 1])
        if unset[rows].all():  # most days of a good log: nothing to split
            rejected, by_reason = none_rejected[0], dict(none_rejected[1])
        else:
            part = frame.iloc[rows].reset_index(drop=True)
            rejected, by_reason = split_rejected(part, pd.Series(reason[rows]), EVENT_RULES, EVENT_COLUMNS)
        kept = clean.iloc[rows][unset[rows]].reset_index(drop=True)
        out[day] = Validated(kept, rejected, by_reason, int(sizes[i]), dropped[day])
    return out


def validate_users(raw: pd.DataFrame) -> Validated:
    """Split the user table into typed clean rows and quarantined rows with a reason."""
    require_columns(raw, REQUIRED_USER_COLUMNS, "users")
    frame = raw.reset_index(drop=True)
    dropped = tuple(c for c in frame.columns if c not in USER_COLUMNS)
    reason = pd.Series(None, index=frame.index, dtype=object)
    signup = as_utc(frame["signup_time"])
    reason[signup.isna() & ~blank(frame["signup_time"])] = "bad_type"
    reason[(blank(frame["user_id"]) | signup.isna()) & reason.isna()] = "null_key"
    reason[frame["user_id"].astype(str).duplicated(keep="first") & reason.isna()] = "duplicate_user_id"

    rejected, by_reason = split_rejected(frame, reason, USER_RULES, USER_COLUMNS)
    ok = reason.isna().to_numpy()
    clean = pd.DataFrame(
        {
            "user_id": frame["user_id"].astype(str)[ok],
            "signup_time": signup[ok],
            **{
                c: (frame[c].astype(str)[ok] if c in frame.columns else "unknown")
                for c in ("plan", "country", "channel")
            },
        }
    ).reset_index(drop=True)
    return Validated(clean, rejected, by_reason, len(frame), dropped)
