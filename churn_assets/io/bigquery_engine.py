"""The cloud warehouse engine: the data layer's SQL on a BigQuery dataset (see ``io/warehouse.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import date

import pandas as pd

from churn_assets.core.credentials import service_account_info
from churn_assets.io.warehouse import Engine, normalize

KEYS_PER_QUERY = 50_000
EMULATOR_VAR = "BIGQUERY_EMULATOR_HOST"


def bigquery_client(project: str | None, location: str | None, credentials_b64: str | None = None):
    """A BigQuery client: anonymous against the emulator (``BIGQUERY_EMULATOR_HOST``), else the service
    account given as base64 JSON, else Application Default Credentials."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery
    from google.oauth2 import service_account

    emulator = os.environ.get(EMULATOR_VAR)
    if emulator:
        return bigquery.Client(
            project=project,
            location=location,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=emulator),
        )
    if credentials_b64:
        info = service_account_info(credentials_b64)
        credentials = service_account.Credentials.from_service_account_info(info)
        return bigquery.Client(project=project or info.get("project_id"), location=location, credentials=credentials)
    return bigquery.Client(project=project, location=location)


def laid_out(name: str, types: dict[str, str], day_column: str | None):
    """A new BigQuery table ``name`` with columns ``types``: partitioned by day on ``day_column`` (a TIMESTAMP or
    DATE column, else not partitioned) and clustered by ``user_id`` (``partition_log``: by ``table_name``), so a
    statement that filters a day range reads, and is billed for, only those days, and one user's rows lie together.
    The layer's tables and the IO managers' are made by this one function, through the API (the table a
    ``PARTITION BY TIMESTAMP_TRUNC(day, DAY) CLUSTER BY user_id`` statement makes). BigQuery cannot re-partition
    an existing table: one created by an earlier release keeps its layout."""
    from google.cloud import bigquery

    table = bigquery.Table(name, schema=[bigquery.SchemaField(column, kind) for column, kind in types.items()])
    by_lower = {column.lower(): (column, kind.upper()) for column, kind in types.items()}
    day = by_lower.get((day_column or "").lower())
    if day and day[1] in ("TIMESTAMP", "DATE"):
        table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=day[0])
    cluster = next((by_lower[c][0] for c in ("user_id", "table_name") if c in by_lower), None)
    table.clustering_fields = [cluster] if cluster else None
    return table


# The client's default retry keeps trying an unreachable service for ten minutes; a run fails within this many
# seconds instead, with the connection error (CHURN_BQ_RETRY_SECONDS).
RETRY_SECONDS = 45.0


def bounded_retry(seconds: float):
    """The client's default retry (transient errors, with backoff), given up after ``seconds``."""
    from google.cloud import bigquery

    return bigquery.DEFAULT_RETRY.with_timeout(seconds)


class BigQueryEngine(Engine):
    engine = "bigquery"
    chunk_days = 366

    def __init__(
        self,
        project: str | None,
        dataset: str,
        location: str | None,
        credentials_b64: str | None = None,
        retry_seconds: float = RETRY_SECONDS,
    ):
        self.schema, self.location = dataset, location
        self.client = bigquery_client(project, location, credentials_b64)
        self.retry = bounded_retry(retry_seconds)

    def create_table(self, table: str, types: dict[str, str], day_column: str | None) -> None:
        name = f"{self.client.project}.{self.schema}.{table}"
        self.client.create_table(laid_out(name, types, day_column), exists_ok=True, retry=self.retry)

    def describe(self) -> str:
        return f"bigquery:{self.client.project}.{self.schema}"

    def _job(self, sql: str):
        return self.client.query(sql, retry=self.retry, job_retry=None)

    def run(self, statement: str) -> None:
        self._job(statement).result(retry=self.retry)

    def run_transaction(self, statements: Sequence[str]) -> None:
        # one multi-statement script: BigQuery commits all of it or, on any error, none of it
        body = ";\n".join(statements)
        self.run(f"BEGIN TRANSACTION;\n{body};\nCOMMIT TRANSACTION;")

    def _to_frames(self, sql: str, rows: int | None) -> Iterator[pd.DataFrame]:
        result = self._job(sql).result(retry=self.retry, page_size=rows)
        # the BigQuery Storage read API is faster on the real service; the emulator has only REST
        use_storage = not os.environ.get(EMULATOR_VAR)
        if rows is None:
            yield normalize(result.to_dataframe(create_bqstorage_client=use_storage))
            return
        for frame in result.to_dataframe_iterable():
            yield normalize(frame)

    def query(self, sql: str) -> pd.DataFrame:
        return next(self._to_frames(sql, None))

    def iter_frames(self, sql: str, rows: int) -> Iterator[pd.DataFrame]:
        yield from self._to_frames(sql, rows)

    def keys_elsewhere(self, table: str, key: str, time_column: str, keys: Sequence[str], first: date, last: date):
        from google.cloud import bigquery

        if len(keys) == 0 or not self.table_exists(table):
            return set()
        found: set[str] = set()
        keys = list(keys)
        for i in range(0, len(keys), KEYS_PER_QUERY):  # a query's parameters are capped at a few MB
            config = bigquery.QueryJobConfig(
                query_parameters=[bigquery.ArrayQueryParameter("keys", "STRING", keys[i : i + KEYS_PER_QUERY])]
            )
            sql = (
                f"SELECT DISTINCT {key} AS k FROM {self.schema}.{table} "
                f"WHERE {key} IN UNNEST(@keys) AND {self._outside(time_column, first, last)}"
            )
            rows = self.client.query(sql, job_config=config, retry=self.retry, job_retry=None).result()
            found |= {r["k"] for r in rows}
        return found

    def write_table(self, table: str, frame: pd.DataFrame) -> None:
        from google.cloud import bigquery

        self.run(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
        config = bigquery.LoadJobConfig(write_disposition="WRITE_TRUNCATE")
        self.client.load_table_from_dataframe(
            frame, f"{self.client.project}.{self.schema}.{table}", job_config=config
        ).result()

    def columns(self, table: str) -> list[str] | None:
        from google.api_core.exceptions import NotFound

        try:
            found = self.client.get_table(f"{self.client.project}.{self.schema}.{table}", retry=self.retry)
        except NotFound:
            return None
        return [field.name for field in found.schema]
