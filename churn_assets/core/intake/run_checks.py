"""A run's days validated in order: each day's rows by the rules (``core/intake/rules.py``), ids already seen on
an earlier day of the run or elsewhere in the warehouse, and each day's volume against the days before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from churn_assets.core.intake.rules import validate_events
from churn_assets.core.intake.vocabulary import Vocabulary
from churn_assets.core.quality import Outcome, row_count_outcome

VALID_ROWS = "valid_rows"
VOLUME_CHECK = "row_count_in_range"
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


def ids_on_earlier_days(raw: dict[date, pd.DataFrame]) -> dict[date, set[str]]:
    """Per day, its event ids that an earlier day of the same run already holds."""
    days = sorted(raw)
    ids = pd.concat(
        [pd.DataFrame({"id": raw[d]["event_id"].astype(str), "day": i}) for i, d in enumerate(days)], ignore_index=True
    )
    earlier = ids[ids.groupby("id")["day"].transform("min") < ids["day"]]
    return {d: set(earlier.loc[earlier["day"] == i, "id"]) for i, d in enumerate(days)}


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
    earlier = ids_on_earlier_days(raw)
    accepted = dict(accepted_before)
    clean, rejected, outcomes, dropped = [], [], {}, {}
    for day in sorted(raw):
        validated = validate_events(raw[day], day, users, vocabulary, earlier[day] | stored_ids)
        dropped |= dict.fromkeys(validated.dropped_columns)
        key, since = day.isoformat(), (day - timedelta(days=RECENT_DAYS)).isoformat()
        recent = [accepted[k] for k in sorted(accepted) if key > k >= since]
        outcomes[key] = {
            VALID_ROWS: validated.outcome(max_reject_share),
            VOLUME_CHECK: row_count_outcome(len(validated.clean), recent, volume_tolerance),
        }
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
