"""The cloud warehouse: dagster-gcp-pandas' BigQuery IO manager, emulator-aware and keeping empty tables.

* With ``BIGQUERY_EMULATOR_HOST`` set (e.g. ``http://127.0.0.1:9050``) the BigQuery client uses anonymous
  credentials and that endpoint, and results are read over REST: the BigQuery Storage read client would
  dial the real service.
* Empty frames still create their table (the stock handler skips them; see ``io/duckdb.py``).
* Partitioned tables are filtered on a TIMESTAMP column (``partition_expr``). A write replaces its slice
  atomically: the frame is loaded into a staging table, then one multi-statement transaction deletes the
  slice and inserts the staged rows (BigQuery commits both or neither), and the staging table is dropped.
  A failed or killed run leaves the slice as it was; at worst an orphaned ``_staging_*`` table remains.
"""

import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
from dagster import InputContext, OutputContext
from dagster_gcp_pandas import BigQueryPandasIOManager, BigQueryPandasTypeHandler
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from churn_assets.core.warehouse.sql import LOG_TYPES, PARTITION_LOG, RAW_TYPES
from churn_assets.io.bigquery_engine import EMULATOR_VAR, RETRY_SECONDS, bigquery_client, bounded_retry, laid_out
from churn_assets.io.warehouse import slice_log_statements
from churn_assets.wiring.internals import (
    BigQueryClient,
    DbIOManager,
    DbTypeHandler,
    TableSlice,
    bigquery_cleanup_statement,
)


def _retry(context) -> object:
    """The IO manager's bounded retry (its ``retry_seconds``, CHURN_BQ_RETRY_SECONDS)."""
    return bounded_retry((context.resource_config or {}).get("retry_seconds", RETRY_SECONDS))


def _run(connection: bigquery.Client, sql: str, retry) -> None:
    connection.query(sql, retry=retry, job_retry=None).result(retry=retry)


class EmulatorAwareBigQueryClient(BigQueryClient):
    """dagster-gcp's client, connecting through ``bigquery_client`` and with bounded retries."""

    @staticmethod
    @contextmanager
    def connect(context, table_slice) -> Iterator[bigquery.Client]:
        config = context.resource_config or {}
        yield bigquery_client(config.get("project"), config.get("location"))

    @staticmethod
    def ensure_schema_exists(context: OutputContext, table_slice: TableSlice, connection) -> None:
        _run(connection, f"CREATE SCHEMA IF NOT EXISTS {table_slice.schema}", _retry(context))

    @staticmethod
    def delete_table_slice(context: OutputContext, table_slice: TableSlice, connection) -> None:
        """Nothing here: the handler deletes the slice in the same transaction that inserts the new rows."""


def bigquery_schema(frame: pd.DataFrame, table: str = "") -> list[bigquery.SchemaField]:
    """Column types: declared for the raw tables (core/sql.RAW_TYPES), else from the frame's dtypes
    (upper-case names, as dagster-gcp-pandas writes them)."""
    if table in RAW_TYPES:
        return [bigquery.SchemaField(name.upper(), kind) for name, kind in RAW_TYPES[table].items()]

    def kind(dtype) -> str:
        if pd.api.types.is_bool_dtype(dtype):
            return "BOOL"
        if pd.api.types.is_integer_dtype(dtype):
            return "INT64"
        if pd.api.types.is_float_dtype(dtype):
            return "FLOAT64"
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return "TIMESTAMP"
        return "STRING"

    return [bigquery.SchemaField(str(name).upper(), kind(dtype)) for name, dtype in frame.dtypes.items()]


def replace_slice_statement(
    table: str, delete: str, staging: str | None, columns: list[str], logged: list[str] = ()
) -> str:
    """One transaction: ``delete`` the slice, insert the staged rows (none when ``staging`` is None), then the
    ``logged`` statements (the slice's days in partition_log)."""
    insert = ""
    if staging is not None:
        names = ", ".join(columns)
        insert = f"INSERT INTO `{table}` ({names}) SELECT {names} FROM `{staging}`;\n"
    log = "".join(f"{statement};\n" for statement in logged)
    return f"BEGIN TRANSACTION;\n{delete};\n{insert}{log}COMMIT TRANSACTION;"


def _delete_statement(table_slice: TableSlice) -> str:
    """The slice's DELETE (DELETE of every row for an unpartitioned table: TRUNCATE is not transactional)."""
    cleanup = bigquery_cleanup_statement(table_slice)
    if cleanup.upper().startswith("TRUNCATE"):
        return f"DELETE FROM `{table_slice.database}.{table_slice.schema}.{table_slice.table}` WHERE TRUE"
    return cleanup


class PandasBigQueryHandler(BigQueryPandasTypeHandler):
    def handle_output(self, context: OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection):
        config, retry = context.resource_config or {}, _retry(context)
        table = f"{table_slice.database}.{table_slice.schema}.{table_slice.table}"
        schema = bigquery_schema(obj, table_slice.table)
        # the table must exist with its schema even when there is nothing to load; a partitioned asset's by day on
        # its partition column, and clustered by user (io/bigquery_engine.py says why)
        day = str(table_slice.partition_dimensions[0].partition_expr) if table_slice.partition_dimensions else None
        types = {field.name: field.field_type for field in schema}
        existing = connection.create_table(laid_out(table, types, day), exists_ok=True, retry=retry)
        new = [f for f in schema if f.name.lower() not in {e.name.lower() for e in existing.schema}]
        for field in new:  # additive schema evolution, as on DuckDB (io/duckdb.py): a new release's columns
            _run(connection, f"ALTER TABLE `{table}` ADD COLUMN {field.name} {field.field_type}", retry)
        staging = None
        if not obj.empty:
            name = f"_staging_{table_slice.table}_{uuid.uuid4().hex[:12]}"
            staging = f"{table_slice.database}.{table_slice.schema}.{name}"
            job = connection.load_table_from_dataframe(
                dataframe=obj.rename(columns=str.upper)[[f.name for f in schema]],
                destination=staging,
                job_config=bigquery.LoadJobConfig(schema=schema, write_disposition="WRITE_TRUNCATE"),
                location=config.get("location"),
                timeout=config.get("timeout"),
            )
            job.result(retry=retry)
        logged = slice_log_statements(table_slice)
        if logged:
            log = f"{table_slice.database}.{table_slice.schema}.{PARTITION_LOG}"
            connection.create_table(laid_out(log, LOG_TYPES, "partition_date"), exists_ok=True, retry=retry)
        try:
            statement = replace_slice_statement(
                table, _delete_statement(table_slice), staging, [f.name for f in schema], logged
            )
            _run(connection, statement, retry)
        finally:
            if staging is not None:
                with contextlib.suppress(NotFound):
                    connection.delete_table(staging, retry=retry)

    def load_input(self, context: InputContext, table_slice: TableSlice, connection) -> pd.DataFrame:
        if table_slice.partition_dimensions and len(context.asset_partition_keys) == 0:
            return pd.DataFrame()
        config = context.resource_config or {}
        job = connection.query(
            query=BigQueryClient.get_select_statement(table_slice),
            project=table_slice.database,
            location=config.get("location"),
            timeout=config.get("timeout"),
            retry=_retry(context),
            job_retry=None,
        )
        result = job.to_dataframe(create_bqstorage_client=not os.environ.get(EMULATOR_VAR))
        result.columns = [c.lower() for c in result.columns]
        return result


class BigQueryWarehouseIOManager(BigQueryPandasIOManager):
    """BigQuery warehouse IO manager: one table per asset in ``dataset``, partitions as UTC time slices."""

    retry_seconds: float = RETRY_SECONDS  # how long a call retries an unreachable BigQuery (CHURN_BQ_RETRY_SECONDS)

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [PandasBigQueryHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=EmulatorAwareBigQueryClient(write_mode=self.write_mode, gcp_credentials=self.gcp_credentials),
            io_manager_name="BigQueryWarehouseIOManager",
            database=self.project,
            schema=self.dataset,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
        )
