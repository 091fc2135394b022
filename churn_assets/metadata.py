"""Materialization metadata a person wants to see in the Dagster UI."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

_TYPE_NAMES = {"object": "string", "bool": "boolean", "int64": "int64", "float64": "float64"}


def column_schema(frame: pd.DataFrame) -> dg.TableSchema:
    def type_name(dtype) -> str:
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return "timestamp (UTC)"
        return _TYPE_NAMES.get(str(dtype), str(dtype))

    return dg.TableSchema(columns=[dg.TableColumn(str(c), type_name(t)) for c, t in frame.dtypes.items()])


def table_metadata(
    frame: pd.DataFrame, preview_rows: int = 5, preview_columns: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """Row count, column schema and a markdown preview of a table, plus any extra entries."""
    preview = frame.head(preview_rows)[preview_columns] if preview_columns else frame.head(preview_rows)
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": column_schema(frame),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "_no rows_"),
        **extra,
    }
