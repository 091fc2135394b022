"""The embedded warehouse: dagster-duckdb-pandas, keeping tables that are empty.

The stock pandas handler skips empty DataFrames without creating the table, so a day with no
rejected rows would leave no quarantine table and a quiet day would break downstream reads.
This handler creates the table from the frame's schema either way; the IO manager has already
deleted the partition's slice, so a re-run replaces it exactly.
"""

from collections.abc import Sequence

import pandas as pd
from dagster import MetadataValue, OutputContext, TableColumn, TableSchema
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler


class PandasTableHandler(DuckDBPandasTypeHandler):
    def handle_output(self, context: OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection):
        table = f"{table_slice.schema}.{table_slice.table}"
        connection.register("churn_frame", obj)
        try:
            connection.execute(f"create table if not exists {table} as select * from churn_frame limit 0")
            connection.execute(f"insert into {table} select * from churn_frame")
        finally:
            connection.unregister("churn_frame")
        context.add_output_metadata(
            {
                "dataframe_columns": MetadataValue.table_schema(
                    TableSchema(columns=[TableColumn(name=str(n), type=str(t)) for n, t in obj.dtypes.items()])
                )
            }
        )


class WarehouseIOManager(DuckDBPandasIOManager):
    """DuckDB warehouse IO manager: one table per asset in ``schema``, partitions as time slices."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [PandasTableHandler()]
