"""What the automation may run next, decided from what the warehouse holds (partition_log) and the source.

No Dagster here: ``defs/automation.py`` asks these functions on each sensor tick and turns the answer into a run
request or a skip reason that names the day it waits for.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta

from churn_assets.core.days import LabelCalendar, day_range


@dataclass(frozen=True)
class Next:
    """A day (or range) to run, or why nothing runs now."""

    first: date | None
    last: date | None
    reason: str


def next_refresh_day(
    first: date, last: date, done: Collection[date], waiting_for: Callable[[date], str | None]
) -> Next:
    """The earliest day of first ... last (the partitions) without features, once its events have arrived."""
    missing = [d for d in day_range(first, last) if d not in done] if last >= first else []
    if not missing:
        return Next(None, None, f"every day up to {last} (the last partition) is refreshed")
    day = missing[0]
    why = waiting_for(day)
    if why is not None:
        return Next(None, None, f"waiting for the events of {day}: {why}")
    return Next(day, day, f"the events of {day} have arrived")


def next_label_range(
    first: date, last: date, *, horizon_days: int, features: Collection[date], states: Collection[date],
    labels: Collection[date],
) -> Next:  # fmt: skip
    """The earliest run of consecutive label days whose features and whole horizon (user_state of t+H) exist and
    whose labels do not."""
    calendar = LabelCalendar(horizon_days)
    ready = [
        d
        for d in day_range(first, calendar.last_labelled(last))
        if d not in labels and d in features and calendar.horizon_end(d) in states
    ]
    if not ready:
        waiting = min((d for d in day_range(first, last) if d not in labels), default=None)
        if waiting is None:
            return Next(None, None, f"every label day up to {last} is labelled")
        return Next(
            None, None,
            f"no label day is ready: {waiting} waits for the features of its day and user_state of "
            f"{calendar.horizon_end(waiting)} (its {horizon_days}-day horizon)",
        )  # fmt: skip
    end = ready[0]
    while end + timedelta(days=1) in ready:
        end += timedelta(days=1)
    return Next(ready[0], end, f"the {horizon_days}-day horizon of {ready[0]}..{end} is complete")


OUTCOME_INPUTS = ("churn_predictions", "churn_labels", "prediction_outcomes")  # scored, labelled, judged


def matured_days(
    predicted: Collection[date], labelled: Collection[date], judged: Collection[date]
) -> tuple[list[date], str]:
    """The scored days whose labels exist and whose outcomes do not (``prediction_outcomes`` may run for them),
    and why none when there are none."""
    ready = sorted(d for d in predicted if d in labelled and d not in judged)
    if ready:
        return ready, f"{len(ready)} scored day(s) have their labels"
    waiting = sorted(d for d in predicted if d not in judged)
    if not waiting:
        return [], "every scored day with labels has its outcomes" if predicted else "no day is scored yet"
    return [], f"the scored day {waiting[0]} waits for its churn labels (its horizon has not closed)"
