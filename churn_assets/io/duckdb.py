"""The embedded warehouse: dagster-duckdb-pandas with two adjustments.

* Empty tables are kept. The stock pandas handler skips empty DataFrames without creating the
  table, so a day with no rejected rows would leave no quarantine table and a quiet day would
  break downstream reads. This handler creates the table from the frame's schema either way; the
  IO manager has already deleted the partition's slice, so a re-run replaces it exactly.
* Sessions run in UTC. Partition slices are compared with timestamp strings, which DuckDB reads
  in the session's time zone when its ICU extension is loaded (without ICU everything is UTC).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pandas as pd
from dagster import MetadataValue, OutputContext, TableColumn, TableSchema
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster_duckdb.io_manager import DuckDbClient
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


class UtcDuckDbClient(DuckDbClient):
    @staticmethod
    @contextmanager
    def connect(context, table_slice) -> Iterator[duckdb.DuckDBPyConnection]:
        with DuckDbClient.connect(context, table_slice) as conn:
            icu = conn.execute("select loaded from duckdb_extensions() where extension_name = 'icu'").fetchone()
            if icu and icu[0]:
                conn.execute("SET TimeZone = 'UTC'")
            yield conn


class WarehouseIOManager(DuckDBPandasIOManager):
    """DuckDB warehouse IO manager: one table per asset in ``schema``, partitions as UTC time slices."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [PandasTableHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=UtcDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="WarehouseIOManager",
        )
