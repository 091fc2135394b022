"""Dagster wiring for the tables the warehouse computes itself: write a run's days, describe them.

An asset built from SQL (``core/warehouse/``) returns no DataFrame: its rows never leave the
warehouse. This module replaces the run's days in one transaction and gives the materialization the
metadata a DataFrame asset has (row counts per partition, column schema, a preview).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import dagster as dg

from churn_assets.core.days import require_days
from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.core.warehouse.queries import preview_select
from churn_assets.core.warehouse.sql import PARTITION_COLUMNS, table_types
from churn_assets.defs.partitions import DailyGraph
from churn_assets.io.warehouse import Engine
from churn_assets.wiring.metadata import ROW_COUNT, column_schema, markdown


def require(engine: Engine, what: str, table: str, needed: Sequence[date]) -> None:
    """Fail naming the days of ``table`` that ``what`` needs and that partition_log does not record."""
    if needed:
        require_days(what, table, needed, engine.written_days(table, min(needed), max(needed)))


def sql_asset(graph: DailyGraph, table: str, *, ranged: bool = True) -> dict[str, Any]:
    """The decorator arguments every asset the warehouse computes shares: its kinds, the daily partitions, one run
    for a range of days (``ranged``), and the definition metadata of its table: the partition column and the
    column schema (fixed by the code and the feature windows, so it is said once, on the asset, not on each of its
    materializations)."""
    metadata = {
        "partition_expr": PARTITION_COLUMNS[table],
        "dagster/column_schema": column_schema(table_types(table, graph.features)),
    }
    ranged_policy = {"backfill_policy": dg.BackfillPolicy.single_run()} if ranged else {}
    return {"kinds": graph.sql_kinds, "partitions_def": graph.partitions, "metadata": metadata, **ranged_policy}


def frame_asset(graph: DailyGraph, *, ranged: bool = True, kinds: set[str] | None = None) -> dict[str, Any]:
    """The decorator arguments of a daily table that pandas produces and the IO manager writes, partitioned by
    ``as_of_date``: the table's kinds (plus ``kinds``), the daily partitions, one run for a range of days
    (``ranged``)."""
    ranged_policy = {"backfill_policy": dg.BackfillPolicy.single_run()} if ranged else {}
    return {
        "kinds": {*graph.table_kinds, *(kinds or ())},
        "partitions_def": graph.partitions,
        "metadata": {"partition_expr": "as_of_date"},
        **ranged_policy,
    }


def write_days(
    context: dg.AssetExecutionContext,
    engine: Engine,
    table: str,
    days: Sequence[date],
    selects: Sequence[str],
    spec: FeatureSpec,
    **extra: Any,
) -> dg.MaterializeResult:
    """Replace ``days`` of ``table`` with ``selects`` in one transaction; each partition its own row count and
    preview, so a day of a ranged run carries exactly what a one-day run of it would."""
    first, last, column = min(days), max(days), PARTITION_COLUMNS[table]
    counts = engine.replace_partitions(table, column, first, last, selects, spec)
    preview = engine.query(preview_select(engine.schema, table, first, last))
    groups = (
        {d.date(): rows.drop(columns=[column]) for d, rows in preview.groupby(preview[column])} if len(preview) else {}
    )
    light = {"dagster/table_name": f"{engine.schema}.{table}", "warehouse": engine.describe(), **extra}
    for day in days:
        rows = groups.get(day)
        own = {ROW_COUNT: counts.get(day, 0), "preview": markdown(rows), **light}
        context.add_asset_metadata(own, asset_key=context.assets_def.key, partition_key=day.isoformat())
    return dg.MaterializeResult()
