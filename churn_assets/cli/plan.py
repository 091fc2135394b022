"""What ``churn-assets run`` will run: its stages, in order, decided from the settings alone (no Dagster here).

``cli.run`` executes the plan stage by stage (``stages.run_stage``) and prints; the decisions are here, tested on
their own: which day ranges, whether labels, training and scoring fit in the range, and why not when they don't.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from churn_assets.core.days import day_chunks, day_range, row_chunks
from churn_assets.settings import Settings

EVENTS_PER_RUN = 1_000_000  # raw events one run of the events stage holds in memory at most (or users x days)
EVENTS = ("daily_data_job", "events to features")


@dataclass(frozen=True)
class Stage:
    job: str
    what: str
    first: date | None = None
    last: date | None = None

    @property
    def span(self) -> str:
        if self.first is None or self.last is None:
            return ""
        return f" {self.first}" if self.first == self.last else f" {self.first}..{self.last}"


@dataclass(frozen=True)
class Plan:
    first: date
    last: date
    stages: list[Stage]
    notes: list[str] = field(default_factory=list)  # why a stage is not in the plan

    def with_population(self, users: int) -> Plan:
        """The same plan with the events stage sized for ``users`` (a file's population, known after stage 1)."""
        return self._with_events(event_stages(self.first, self.last, users))

    def with_day_rows(self, rows: dict[date, int]) -> Plan:
        """The same plan with the events stage sized by the source's rows per day: runs of at most
        ``EVENTS_PER_RUN`` raw events, whatever the users' activity (a day above it alone is a run of its own)."""
        ranges = row_chunks(self.first, self.last, rows, EVENTS_PER_RUN)
        return self._with_events([Stage(*EVENTS, lo, hi) for lo, hi in ranges])

    def since(self, first_new: date | None, decided_days: int) -> Plan:
        """The same plan for a source that grew: events from ``first_new`` (the first new or changed day; the state
        chain continues from the day before it), labels from the first day whose horizon reaches it
        (``decided_days`` before), the rest as planned. ``None`` (nothing new): the users stage alone."""
        if first_new is None:
            note = "nothing new in the source since the last run: every day is computed (--start/--days recompute)"
            return replace(self, stages=self.stages[:1], notes=[*self.notes, note])
        stages = []
        for stage in self.stages:
            lo = {EVENTS[0]: first_new, "labels_job": first_new - timedelta(days=decided_days)}.get(stage.job)
            if lo is None or stage.first is None:
                stages.append(stage)
            elif lo <= stage.last:
                stages.append(replace(stage, first=max(stage.first, lo)))
        note = f"the source is computed up to {first_new - timedelta(days=1)}: only {first_new} on is new or changed"
        return replace(self, stages=stages, notes=[*self.notes, note] if first_new > self.first else self.notes)

    def _with_events(self, events: list[Stage]) -> Plan:
        others = [s for s in self.stages if s.job != EVENTS[0]]
        return replace(self, stages=[others[0], *events, *others[1:]])


class RangeError(ValueError):
    """The range asks for days the partitions do not have."""


def own_range(settings: Settings, held: tuple[date, date] | None, explicit: bool) -> tuple[Settings, str | None]:
    """The range of a run on an events file: without ``--start``/``--days`` (``explicit`` False) the file's first to
    last day, ``held``, and a note saying so; an explicit range must hold some of those days, else a RangeError
    naming both ranges. Unchanged settings for the simulator, or a source whose days are not known (``held``
    None)."""
    if held is None:
        return settings, None
    first, last = held
    if not explicit:
        days = (last - first).days + 1
        note = f"range: the events file's first to last day ({first}..{last}); --start and --days choose others"
        return replace(settings, start_date=first, days=days), note
    if settings.last_day < first or settings.start_date > last:
        raise RangeError(
            f"the range {settings.start_date}..{settings.last_day} holds none of the events of "
            f"{settings.events_file}, which run from {first} to {last}: leave out --start and --days to run the "
            "file's days, or choose days inside them"
        )
    return settings, None


def first_new_day(rows: dict[date, int], recorded: dict[date, int], computed: set[date]) -> date | None:
    """The first day of the source (``rows`` per day, counted now) that is new or changed since the last complete
    run (``recorded`` per day) or whose features are not computed; None when every day is as it was. A day whose
    rows changed but not their number is not seen: ``--start``/``--days`` recompute a range."""
    changed = [d for d, n in rows.items() if recorded.get(d) != n or d not in computed]
    return min(changed, default=None)


def first_uncomputed(first: date, last: date, computed: set[date]) -> date | None:
    """For a source that yields the same rows on every run (the simulator): the first day of first ... last whose
    features are not computed, when a day before it is (a longer run over the same directory): the days before it
    are as they were. None when every day is computed (a run of the same range recomputes it) or none is."""
    missing = [d for d in day_range(first, last) if d not in computed]
    return missing[0] if missing and missing[0] > first else None


def first_drifted_day(held: date | None, wanted: date | None) -> date | None:
    """The simulator's first day whose events differ between a directory that holds injected drift from ``held``
    and a run with drift from ``wanted`` (None: no drift): the earlier of two different drift days, the days before
    it being the same either way; None when the two are the same."""
    if held == wanted:
        return None
    return min(d for d in (held, wanted) if d is not None)


def event_ranges(first: date, last: date, users: int) -> list[tuple[date, date]]:
    """The events stage in ranges of at most 1,000,000 / users days where the rows per day are not known (the
    simulator, whose users have about one event a day; a query): one run for the demo's 2,000 users, 10-day runs
    for 100,000."""
    return day_chunks(first, last, max(1, EVENTS_PER_RUN // max(1, users)))


def event_stages(first: date, last: date, users: int) -> list[Stage]:
    return [Stage(*EVENTS, lo, hi) for lo, hi in event_ranges(first, last, users)]


def plan_run(
    settings: Settings,
    last_partition: date | None,
    has_production: bool,
    data_only: bool = False,
    today: date | None = None,
) -> Plan:
    """The stages for the settings' range: users, events (in ranges), the labels whose horizon is inside the
    range, training and promotion when the label days hold a test window, the gap and a training day, and the
    last day's predictions and drift report when a model is or may be in production."""
    first = settings.start_date
    last = settings.last_day
    if last_partition is None or last > last_partition:
        edge = f"ends on {last}" if last_partition else f"starts on {first}"
        complete = last_partition or (today or date.today()) - timedelta(days=1)
        raise RangeError(f"the range {edge}, after the last complete UTC day ({complete})")
    stages = [Stage("users_job", "raw users and subscriptions"), *event_stages(first, last, settings.users)]
    notes = []
    calendar = settings.calendar
    label_last = calendar.last_labelled(last)
    label_days = (label_last - first).days + 1
    needed = calendar.min_label_days
    if label_days > 0:
        stages.append(Stage("labels_job", "churn labels", first, label_last))
    else:
        notes.append(f"no label-complete day yet: labels need {calendar.decided_days} days after a day")
    trains = label_days >= needed and not data_only
    if trains:
        stages.append(Stage("training_job", "training set and candidate models", label_last, label_last))
        stages.append(Stage("promotion_job", "promotion"))
    elif 0 < label_days < needed:
        notes.append(f"{label_days} label days: training needs {needed} (test window, gap, one training day)")
    if not data_only and (trains or has_production):
        stages.append(Stage("predictions_job", "predictions", last, last))
        stages.append(Stage("drift_job", "drift report", last, last))
    return Plan(first, last, stages, notes)
