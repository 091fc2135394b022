"""Materialization metadata a person wants to see in the Dagster UI."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg
import pandas as pd

ROW_COUNT = "dagster/row_count"
# the names the UI shows, for pandas dtypes and for the warehouse's declared types alike
_TYPE_NAMES = {"object": "string", "bool": "boolean", "int64": "int64", "float64": "float64"} | {
    "STRING": "string", "BOOL": "boolean", "INT64": "int64", "FLOAT64": "float64", "TIMESTAMP": "timestamp (UTC)"
}  # fmt: skip


def column_schema(columns: pd.DataFrame | Mapping[str, str]) -> dg.TableSchema:
    """A table's column schema, from a DataFrame's dtypes or from a warehouse table's declared types."""
    if isinstance(columns, pd.DataFrame):
        columns = {
            str(c): "TIMESTAMP" if pd.api.types.is_datetime64_any_dtype(t) else str(t)
            for c, t in columns.dtypes.items()
        }
    return dg.TableSchema(columns=[dg.TableColumn(name, _TYPE_NAMES.get(kind, kind)) for name, kind in columns.items()])


def markdown(rows: pd.DataFrame | None) -> dg.MetadataValue:
    """A markdown preview of a few rows (or of none)."""
    return dg.MetadataValue.md(pipe_table(rows) if rows is not None and len(rows) else "_no rows_")


def pipe_table(rows: pd.DataFrame) -> str:
    """``rows`` as a Markdown pipe table (what ``DataFrame.to_markdown`` renders, without padding the columns to
    one width). A ranged run renders one preview per day and asset, thousands in a long log's first run, and
    ``to_markdown`` (tabulate) measures every cell twice to pad it; a pipe table needs no padding (the figures
    are in docs/performance.md)."""

    def cell(value: Any) -> str:
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
            return ""
        text = f"{value:g}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in rows.columns) + " |", "|" + "---|" * len(rows.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows.to_numpy(dtype=object).tolist()]
    return "\n".join(lines)


def table_metadata(
    frame: pd.DataFrame, preview_rows: int = 5, preview_columns: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """Row count, column schema and a markdown preview of a table, plus any extra entries."""
    preview = frame.head(preview_rows)[preview_columns] if preview_columns else frame.head(preview_rows)
    return {
        ROW_COUNT: len(frame),
        "dagster/column_schema": column_schema(frame),
        "preview": markdown(preview),
        **extra,
    }


def by_partition(
    context: dg.AssetExecutionContext,
    frame: pd.DataFrame,
    asset_key: str | None = None,
    extra: Callable[[pd.DataFrame], dict[str, Any]] | None = None,
) -> None:
    """Give each partition of the run its own row count and preview, plus ``extra(rows)``, from its own rows.

    Dagster copies an output's metadata onto every partition of a single-run backfill, so without this each
    day of a 120-day run would report the rows of all 120. A partition's rows are those whose partition
    column (the asset's ``partition_expr``) falls on its day; a day without rows is described as empty.
    """
    key = dg.AssetKey(asset_key) if asset_key else context.assets_def.key
    column = context.assets_def.metadata_by_key[key]["partition_expr"]
    groups = {}
    if len(frame):
        groups = {day.strftime("%Y-%m-%d"): rows for day, rows in frame.groupby(frame[column].dt.floor("D"))}
    for partition in context.partition_keys:
        rows = groups.get(partition, frame.iloc[:0])
        metadata = {ROW_COUNT: len(rows), "preview": markdown(rows.head(5)), **(extra(rows) if extra else {})}
        context.add_asset_metadata(metadata, asset_key=key, partition_key=partition)
