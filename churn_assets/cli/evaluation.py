"""``churn-assets evaluate``: the data stages through Dagster, then a walk-forward of training and scoring
(``core/modeling/walkforward.py``) over the warehouse, written to the artifact store as a table and a plot."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from churn_assets.settings import Settings


def _dates(args: argparse.Namespace, settings: Settings) -> list[date]:
    from churn_assets.core.modeling.walkforward import as_of_dates

    first, last = date.fromisoformat(args.first), date.fromisoformat(args.last)
    data_first, data_last = settings.start_date, settings.last_day
    if not data_first <= first <= last <= data_last:  # checked before any date arithmetic can leave the calendar
        raise ValueError(
            f"the as-of dates {first}..{last} must lie within the data, {data_first}..{data_last} "
            f"(--start {settings.start_date}, --days {settings.days}), first before last"
        )
    dates = as_of_dates(first, last, args.every)
    outcomes = settings.calendar.horizon_end(dates[-1])
    if outcomes > data_last:
        raise ValueError(
            f"the as-of date {dates[-1]} is judged on the {settings.calendar.decided_days} days after it, through "
            f"{outcomes}; the data ends {data_last} (--start {settings.start_date}, --days {settings.days})"
        )
    return dates


def evaluate_command(args: argparse.Namespace, settings: Settings, run) -> int:
    """``settings``: the command's, options applied; ``run``: the command's ``run`` (the data stages, with
    ``args.data_only``)."""
    dates = _dates(args, settings)  # refused before any stage runs
    args.data_only = True
    code = run(args)
    if code:
        return code
    from churn_assets.core.modeling.plots import walk_forward_png
    from churn_assets.core.modeling.walkforward import printed, summary_line, walk_forward
    from churn_assets.defs.deployment import resolved_resource

    plan, read = walk_forward_inputs(settings)
    print(f"Walk-forward: {len(dates)} as-of date(s) {dates[0]}..{dates[-1]} every {args.every}")
    table, _ = walk_forward(dates, plan, read)
    store = resolved_resource(settings, "artifacts").store()
    key = f"reports/evaluate/walk_forward_{dates[0]}_{dates[-1]}_{args.every}"
    store.write_bytes(f"{key}.csv", table.to_csv(index=False).encode())
    store.write_bytes(f"{key}.png", walk_forward_png(table))
    print(printed(table).to_markdown(index=False))
    print(summary_line(table))
    print(f"Table: {store.uri(key + '.csv')}\nPlot:  {store.uri(key + '.png')}")
    sys.stdout.flush()
    return 0


def walk_forward_inputs(settings: Settings):
    """The walk-forward's policy from ``settings`` and its reader of the warehouse: a day's rows whole (to
    score), a training window sampled to the cap as training_set does, with the columns of the source types of
    ``prefixes``. (Also what ``bench/compare_calibration.py`` trains on.)"""
    from churn_assets.core.modeling.promotion import Bars
    from churn_assets.core.modeling.training import training_sample
    from churn_assets.core.modeling.walkforward import WalkForwardPolicy
    from churn_assets.core.warehouse.queries import label_days_select, training_extract_select
    from churn_assets.core.warehouse.types import with_types
    from churn_assets.defs.deployment import resolved_resource
    from churn_assets.io.warehouse import ranked_types

    engine = resolved_resource(settings, "warehouse").engine()
    spec = settings.feature_spec

    def read(first: date, last: date, prefixes: dict[str, str] | None = None):
        fraction = 1.0
        if first != last:
            rows = int(engine.query(label_days_select(engine.schema, first, last))["rows"].sum())
            fraction = training_sample(rows, settings.training_max_rows)["fraction"]
        extract = training_extract_select(engine.schema, first, last, spec, fraction)
        return engine.query(with_types(engine.schema, extract, prefixes or {}, spec))

    def rank_types(first: date, last: date) -> dict[str, str]:
        """The most frequent source types of a training window, as churn_model ranks them."""
        return ranked_types(engine, first, last, settings.type_features)

    plan = WalkForwardPolicy(
        horizon=settings.label_horizon_days,
        train_days=settings.train_days,
        test_days=settings.test_days,
        start=settings.start_date,
        spec=spec,
        bars=Bars(settings.promotion_margin, settings.promotion_floor_roc_auc, settings.baseline_margin),
        risk=(settings.risk_high, settings.risk_medium),
        settle_days=settings.calendar.settle_days,
        rank_types=rank_types,
    )
    return plan, read
