"""A run's days validated in order: each day's rows by the rules (``core/intake/rules.py``, all days in one pass),
ids already seen on an earlier day of the run or elsewhere in the warehouse, and each day's volume against the
days before it; both verdicts of a day are its one ``valid_day`` check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from churn_assets.core.intake.rules import validate_days
from churn_assets.core.intake.vocabulary import Vocabulary
from churn_assets.core.quality import Outcome, combined, row_count_outcome

VALID_ROWS = "valid_rows"  # an unpartitioned table's rows (raw_users, raw_subscriptions)
VALID_DAY = "valid_day"  # a day of raw_events: its rows by the rules, and its accepted rows against recent days
RECENT_DAYS = 7


@dataclass(frozen=True)
class ValidatedRange:
    """The days of one run, validated: accepted and quarantined rows, and each day's check outcomes."""

    events: pd.DataFrame
    quarantine: pd.DataFrame  # with ``partition_time``, the day whose partition rejected the row
    outcomes: dict[str, dict[str, Outcome]]  # day -> check name -> outcome
    accepted: dict[str, int]  # day -> accepted rows (the volume check's history for later runs)
    dropped_columns: tuple[str, ...]
    unmapped: dict[str, int]  # unmapped event type -> rows, over the whole run


def validate_range(
    raw: dict[date, pd.DataFrame],
    users: pd.DataFrame,
    vocabulary: Vocabulary,
    stored_ids: set[str],
    accepted_before: dict[str, int],
    max_reject_share: float,
    volume_tolerance: float,
) -> ValidatedRange:
    """Validate each day of a run in order. ``stored_ids``: ids the warehouse holds on days outside the run;
    ``accepted_before``: accepted rows of the days before the run (for the volume check)."""
    accepted = dict(accepted_before)
    clean, rejected, outcomes, dropped = [], [], {}, {}
    for day, validated in validate_days(raw, users, vocabulary, stored_ids).items():
        dropped |= dict.fromkeys(validated.dropped_columns)
        key, since = day.isoformat(), (day - timedelta(days=RECENT_DAYS)).isoformat()
        recent = [accepted[k] for k in sorted(accepted) if key > k >= since]
        rows = validated.outcome(max_reject_share)
        outcomes[key] = {VALID_DAY: combined(rows, row_count_outcome(len(validated.clean), recent, volume_tolerance))}
        accepted[key] = len(validated.clean)
        clean.append(validated.clean)
        rejected.append(validated.rejected.assign(partition_time=pd.Timestamp(key, tz="UTC")))
    quarantine = pd.concat(rejected, ignore_index=True)
    unmapped = quarantine.loc[quarantine["reason"] == "unmapped_event_type", "event_type"].value_counts()
    return ValidatedRange(
        events=pd.concat(clean, ignore_index=True),
        quarantine=quarantine,
        outcomes=outcomes,
        accepted={d.isoformat(): accepted[d.isoformat()] for d in sorted(raw)},
        dropped_columns=tuple(dropped),
        unmapped={str(k): int(v) for k, v in unmapped.items()},
    )


class UnmappedTypesError(ValueError):
    """More of a run's events carry types the vocabulary does not map than validation tolerates."""


def refuse_unmapped(
    raw: Mapping[date, pd.DataFrame], vocabulary: Vocabulary, *, max_reject_share: float, source: str
) -> None:
    """Refuse a run whose events are mostly of types the vocabulary does not map (a log in another vocabulary: a
    shop's ``order``), from one count over the run's rows, before any day is validated or quarantined: validation
    would reject them day by day, copy them all into the quarantine and then block. A few unmapped rows (a type
    renamed on some day) stay below ``max_reject_share`` and are quarantined by the day's rules as before."""
    types = pd.concat([frame["event_type"] for frame in raw.values()], ignore_index=True).dropna().astype(str)
    counts = types.value_counts()
    known = set(vocabulary.known())
    unmapped = {str(t): int(n) for t, n in counts.items() if t not in known}
    total, rows = int(counts.sum()), sum(unmapped.values())
    if total and rows / total > max_reject_share:
        days = sorted(raw)
        raise UnmappedTypesError(
            f"{source}: {rows:,} of the {total:,} events of {days[0]}..{days[-1]} ({rows / total:.0%}, more than the "
            f"{max_reject_share:.0%} validation tolerates) have event types the vocabulary does not map; refused "
            f"before any day was validated or quarantined. {vocabulary.hint(unmapped)}"
        )


class ShrinkError(ValueError):
    """A run would replace stored days with much less, or load nothing at all: refused before anything is written."""


ACCEPT_SHRINK = "run again with --accept-shrink (CHURN_MAX_SHRINK=1) if the source really holds less now"


def refuse_shrink(stored: Mapping[str, int], accepted: Mapping[str, int], *, max_shrink: float, source: str) -> None:
    """Refuse a run that would shrink stored history: a day whose accepted rows fall below what the warehouse
    holds for it by more than ``max_shrink`` (a share; 1 accepts any shrink).

    Parameters
    ----------
    stored : the rows raw_events holds per day (ISO day -> rows, from partition_log), for the run's days.
    accepted : the rows this run accepted per day.
    source : the source as a person names it (the file, the query).

    Raises
    ------
    ShrinkError : naming each shrinking day with both counts, the source and the option that accepts it.
    """
    shrunk = {
        day: (before, accepted.get(day, 0))
        for day, before in sorted(stored.items())
        if before > 0 and (before - accepted.get(day, 0)) / before > max_shrink
    }
    if shrunk:
        days = "; ".join(
            f"{day}: {after} rows where raw_events holds {before}" for day, (before, after) in shrunk.items()
        )
        raise ShrinkError(
            f"check no_shrink refused {len(shrunk)} day(s) of {source}: {days}. A re-run may lose at most "
            f"{max_shrink:.0%} of a stored day (CHURN_MAX_SHRINK), so nothing was written (a failed or emptied export "
            f"would otherwise erase the warehouse); {ACCEPT_SHRINK}"
        )


def refuse_empty(raw_rows: int, *, max_shrink: float, source: str, first: date, last: date) -> None:
    """Refuse a run whose source holds no row at all for its days (a header-only export), unless shrinking is
    accepted (``max_shrink`` 1)."""
    if raw_rows == 0 and max_shrink < 1:
        raise ShrinkError(
            f"check no_shrink refused {first}..{last}: {source} holds no event for these days (an empty or failed "
            f"export, or a range outside the log?), so nothing was written; {ACCEPT_SHRINK}"
        )
