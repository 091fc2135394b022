"""What of the source is new since the last run, so that ``churn-assets run`` computes only that.

A file source run over its own days is compared with the rows per day the last complete run recorded
(``source_days.json``); the simulator, whose days are the same on every run but for injected drift, is recomputed
from the first day whose drift differs from what the directory holds (``simulated_drift.json``) and extended from its
first day not computed. The day decisions themselves are pure (``cli/plan.py``); this module reads what they need.
"""

from __future__ import annotations

from datetime import date, timedelta

from churn_assets.cli.plan import Plan, first_drifted_day, first_new_day, first_uncomputed
from churn_assets.core.registry.manifest import (
    UNKNOWN,
    read_simulated_drift,
    read_source_days,
    record_simulated_drift,
    record_source_days,
)
from churn_assets.settings import Settings


def only_what_is_new(
    plan: Plan, settings: Settings, day_rows: dict[date, int] | None, store, *, grows: bool, data_only: bool
) -> Plan:
    """``plan`` cut to what is new: a file source run over its own days (``grows``) from its first new or changed
    day; the simulator from the first day whose injected drift differs from the directory's or that is not computed
    (a longer run); otherwise (the same days and drift, or a drift the directory may not hold) the plan as it is."""
    decided = settings.calendar.decided_days
    if grows:
        rows = {d: n for d, n in (day_rows or {}).items() if plan.first <= d <= plan.last}
        return plan.since(first_new_day(rows, read_source_days(store), _computed(settings, plan)), decided)
    if not settings.simulated or data_only:
        return plan
    held = read_simulated_drift(store)
    if held == UNKNOWN and settings.drift_from:
        return plan
    drifted = None if held == UNKNOWN else first_drifted_day(held, settings.drift_from)
    starts = [d for d in (drifted, first_uncomputed(plan.first, plan.last, _computed(settings, plan))) if d]
    return plan.since(min(starts), decided) if starts else plan


def remember_started(settings: Settings, store) -> None:
    """Before a simulator run: until it completes, its days may hold either drift."""
    if settings.simulated:
        record_simulated_drift(store, settings.drift_from, complete=False)


def remember_completed(plan: Plan, settings: Settings, day_rows: dict[date, int] | None, store, *, grows: bool) -> None:
    """After a complete run: a grown file source's rows per day; the simulator's drift, unless the directory holds
    days after the run's (a run over fewer days than it holds leaves those days' drift as it was: unknown)."""
    if grows:
        record_source_days(store, day_rows)
    if settings.simulated:
        later = _engine(settings).written_days("user_features", plan.last + timedelta(days=1), date(9999, 12, 31))
        if not later:
            record_simulated_drift(store, settings.drift_from, complete=True)


def _computed(settings: Settings, plan: Plan) -> set[date]:
    """The days of the plan whose last data tables are both written (a run stopped between them computed neither)."""
    engine = _engine(settings)
    features, types = (engine.written_days(t, plan.first, plan.last) for t in ("user_features", "user_type_features"))
    return features & types


def _engine(settings: Settings):
    from churn_assets.defs.deployment import resolved_resource

    return resolved_resource(settings, "warehouse").engine()
