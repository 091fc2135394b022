"""The embedded warehouse: dagster-duckdb-pandas with two adjustments.

* Empty tables are kept. The stock pandas handler skips empty DataFrames without creating the
  table, so a day with no rejected rows would leave no quarantine table and a quiet day would
  break downstream reads. This handler creates the table from the frame's schema either way; the
  IO manager has already deleted the partition's slice, so a re-run replaces it exactly.
* Sessions run in UTC. Partition slices are compared with timestamp strings, which DuckDB reads
  in the session's time zone when its ICU extension is loaded (without ICU everything is UTC).
* Every write is one transaction. Dagster's DB IO manager deletes a partition's slice and then inserts
  it on the same connection; here both happen between BEGIN and COMMIT, so a failed, killed or
  out-of-space run leaves the slice as it was, never deleted but not rewritten.
* New columns are added. A release that writes a column an existing table lacks adds it (empty on the
  rows already there) in the write's transaction, instead of failing on the old table.
* A file that is not a DuckDB database (truncated, corrupt) fails at once with its path. The stock
  client retries every IO error ten times with backoff, well over a minute for nothing; only a lock held by another
  process is worth waiting for.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pandas as pd
from dagster import OutputContext
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

from churn_assets.core.warehouse.sql import RAW_TYPES, create_table, for_engine
from churn_assets.io.duckdb_engine import open_warehouse, unreadable
from churn_assets.io.warehouse import WarehouseError, create_partition_log, slice_log_statements
from churn_assets.wiring.internals import DbIOManager, DbTypeHandler, DuckDbClient, TableSlice

__all__ = ["WarehouseError", "WarehouseIOManager", "open_warehouse"]


class PandasTableHandler(DuckDBPandasTypeHandler):
    def handle_output(self, context: OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection):
        table = f"{table_slice.schema}.{table_slice.table}"
        declared = RAW_TYPES.get(table_slice.table)
        connection.register("churn_frame", obj)
        try:
            if declared:  # the declared types, whatever this frame holds (see core/sql.RAW_TYPES)
                connection.execute(for_engine(create_table(table_slice.schema, table_slice.table, declared), "duckdb"))
                names = ", ".join(declared)
                connection.execute(f"insert into {table} ({names}) select {names} from churn_frame")
            else:
                connection.execute(f"create table if not exists {table} as select * from churn_frame limit 0")
                _add_new_columns(connection, table)
                names = ", ".join(f'"{c}"' for c in obj.columns)
                connection.execute(f"insert into {table} ({names}) select {names} from churn_frame")
            logged = slice_log_statements(table_slice)  # the days written, in the same transaction
            if logged:
                connection.execute(for_engine(create_partition_log(table_slice.schema), "duckdb"))
            for statement in logged:
                connection.execute(for_engine(statement, "duckdb"))
        finally:
            connection.unregister("churn_frame")


def _add_new_columns(connection, table: str) -> None:
    """Additive schema evolution: a column the frame has and the table lacks (a new release's column, such as
    the predictions' value at risk) is added, empty on the rows already there, in the write's transaction. A
    column the table has and the frame lacks stays, empty on the new rows: nothing stored is dropped."""
    existing = {row[0].lower() for row in connection.execute(f"describe {table}").fetchall()}
    for name, kind, *_ in connection.execute("describe select * from churn_frame").fetchall():
        if name.lower() not in existing:
            connection.execute(f'alter table {table} add column "{name}" {kind}')


class UtcDuckDbClient(DuckDbClient):
    @staticmethod
    @contextmanager
    def connect(context, table_slice) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = open_warehouse(context.resource_config["database"])
        try:
            icu = conn.execute("select loaded from duckdb_extensions() where extension_name = 'icu'").fetchone()
            if icu and icu[0]:
                conn.execute("SET TimeZone = 'UTC'")
            conn.begin()
            try:
                yield conn
            except BaseException as exc:
                conn.rollback()
                if isinstance(exc, duckdb.IOException):  # blocks cut short or corrupt: name the file
                    raise unreadable(context.resource_config["database"], exc) from None
                raise
            conn.commit()
        finally:
            conn.close()


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
