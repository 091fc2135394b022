"""Dagster wiring for the tables the warehouse computes itself: write a run's days, describe them.

An asset built from SQL (``core/transforms.py``) returns no DataFrame: its rows never leave the
warehouse. This module replaces the run's days in one transaction and gives the materialization the
metadata a DataFrame asset has (row counts per partition, column schema, a preview).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import dagster as dg

from churn_assets.core.days import require_days
from churn_assets.core.features import FeatureSpec
from churn_assets.core.transforms import PARTITION_COLUMNS, preview_select, table_types
from churn_assets.io.warehouse import Engine
from churn_assets.metadata import ROW_COUNT

_TYPE_NAMES = {"STRING": "string", "INT64": "int64", "FLOAT64": "float64", "BOOL": "boolean"}


def column_schema(types: dict[str, str]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, _TYPE_NAMES.get(kind, "timestamp (UTC)")) for name, kind in types.items()]
    )


def require(engine: Engine, what: str, table: str, needed: Sequence[date]) -> None:
    """Fail naming the days of ``table`` that ``what`` needs and that partition_log does not record."""
    if needed:
        require_days(what, table, needed, engine.written_days(table, min(needed), max(needed)))


def write_days(
    context: dg.AssetExecutionContext,
    engine: Engine,
    table: str,
    days: Sequence[date],
    selects: Sequence[str],
    spec: FeatureSpec,
    **extra: Any,
) -> dg.MaterializeResult:
    """Replace ``days`` of ``table`` with ``selects`` in one transaction; row counts per partition.

    Dagster copies a ranged run's output metadata onto every partition. The column schema and the preview
    (the larger entries) go on the run's last day only: copied onto 120 partitions they were a good part of
    the demo's event-log time, and the asset's page shows its latest partition's."""
    first, last = min(days), max(days)
    counts = engine.replace_partitions(table, PARTITION_COLUMNS[table], first, last, selects, spec)
    preview = engine.query(preview_select(engine.schema, table, last))
    described = {
        "dagster/column_schema": column_schema(table_types(table, spec)),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "_no rows_"),
    }
    light = {"dagster/table_name": f"{engine.schema}.{table}", "warehouse": engine.describe(), **extra}
    if len(context.partition_keys) == 1:
        return dg.MaterializeResult(metadata={ROW_COUNT: sum(counts.values()), **described, **light})
    key = context.assets_def.key
    for day in days:  # one run, many days: each partition gets its own count
        own = {ROW_COUNT: counts.get(day, 0), **(described if day == last else {})}
        context.add_asset_metadata(own, asset_key=key, partition_key=day.isoformat())
    return dg.MaterializeResult(metadata={ROW_COUNT: sum(counts.values()), **light})
