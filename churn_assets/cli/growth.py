"""What of the source is new since the last run, so that ``churn-assets run`` computes only that.

A file source run over its own days is compared with the rows per day the last complete run recorded
(``source_days.json``); the simulator, whose days are the same on every run, is extended from its first day not
computed. The day decisions themselves are pure (``cli/plan.py``); this module reads what they need.
"""

from __future__ import annotations

from datetime import date

from churn_assets.cli.plan import Plan, first_new_day, first_uncomputed
from churn_assets.core.registry.manifest import read_source_days
from churn_assets.settings import Settings


def only_what_is_new(
    plan: Plan, settings: Settings, day_rows: dict[date, int] | None, store, *, grows: bool, data_only: bool
) -> Plan:
    """``plan`` cut to what is new: a file source run over its own days (``grows``) from its first new or changed
    day; the simulator run over more days than the directory holds from its first day not computed (not with
    injected drift, which rewrites the days it shifts); otherwise the plan as it is."""
    decided = settings.calendar.decided_days
    if grows:
        rows = {d: n for d, n in (day_rows or {}).items() if plan.first <= d <= plan.last}
        return plan.since(first_new_day(rows, read_source_days(store), _computed(settings, plan)), decided)
    if settings.events_file or settings.events_query or settings.drift_from or data_only:
        return plan
    extended = first_uncomputed(plan.first, plan.last, _computed(settings, plan))
    return plan.since(extended, decided) if extended else plan


def _computed(settings: Settings, plan: Plan) -> set[date]:
    """The days of the plan whose last data tables are both written (a run stopped between them computed neither)."""
    from churn_assets.defs.deployment import resolved_resource

    engine = resolved_resource(settings, "warehouse").engine()
    features, types = (engine.written_days(t, plan.first, plan.last) for t in ("user_features", "user_type_features"))
    return features & types
