"""Running the data layer's SQL inside the warehouse: a DuckDB file, or a BigQuery dataset.

Both engines offer the same few operations, and asset code never knows which one it has:

* ``replace_partitions``: delete a table's days and insert the given SELECTs in ONE transaction, with
  the days' row counts in ``partition_log`` in the same transaction. A failed or killed run leaves
  every day as it was; ``partition_log`` says exactly which days of which table exist (a day with no
  rows is still a day that was computed, which an empty slice cannot tell).
* ``query`` / ``iter_frames``: read a bounded result, or a large one chunk by chunk.
* ``written_days``: the days of a table recorded in ``partition_log``.

The engines: ``io/duckdb_engine.py`` (the embedded default) and ``io/bigquery_engine.py`` (the gcp deployment).
No Dagster here: ``resources.Warehouse`` is the thin resource around them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta

import pandas as pd

from churn_assets.core.days import LabelCalendar, day_chunks, day_range, row_chunks
from churn_assets.core.intake.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.core.warehouse.sql import LOG_TYPES, PARTITION_LOG, create_table, for_engine, table_types, ts


class WarehouseError(RuntimeError):
    """The warehouse cannot be used; the message names it and says why."""


def create_partition_log(schema: str) -> str:
    return create_table(schema, PARTITION_LOG, LOG_TYPES)


def partition_log_statements(schema: str, table: str, column: str, first: date, last: date) -> list[str]:
    """GoogleSQL: replace the days' entries in partition_log with their row counts (0 for a day without rows).

    Run in the transaction that writes the days, by the SQL tables and by the IO managers' tables alike, so
    partition_log is the one record of which days of which table exist, whatever Dagster instance ran them.
    The table itself is created beforehand (``create_partition_log``): BigQuery runs no DDL in a transaction."""
    days = ", ".join(ts(d) for d in day_range(first, last))
    within = f"{column} >= {ts(first)} AND {column} < {ts(last + timedelta(days=1))}"
    return [
        f"DELETE FROM {schema}.{PARTITION_LOG} WHERE table_name = '{table}' "
        f"AND partition_date >= {ts(first)} AND partition_date <= {ts(last)}",
        f"""INSERT INTO {schema}.{PARTITION_LOG} (table_name, partition_date, row_count, written_at)
SELECT '{table}', day, COALESCE(c.n, 0), CURRENT_TIMESTAMP()
FROM UNNEST([{days}]) AS day
LEFT JOIN (
  SELECT TIMESTAMP_TRUNC({column}, DAY) AS partition_date, COUNT(*) AS n FROM {schema}.{table}
  WHERE {within} GROUP BY 1
) AS c ON c.partition_date = day""",
    ]


def slice_log_statements(table_slice) -> list[str]:
    """partition_log statements for the days of an IO manager's time-partitioned table slice (none when the
    table is not partitioned): the tables Dagster's IO managers write are recorded as the SQL tables are."""
    if not table_slice.partition_dimensions:
        return []
    dimension = table_slice.partition_dimensions[0]
    window = dimension.partitions  # a TimeWindow: the run's days
    first, last = window.start.date(), (window.end - timedelta(days=1)).date()
    return partition_log_statements(table_slice.schema, table_slice.table, dimension.partition_expr, first, last)


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Lower-case names and plain numpy dtypes, whichever engine produced the frame."""
    frame.columns = [str(c).lower() for c in frame.columns]
    for column, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
        elif str(dtype) in ("Int64", "Float64", "boolean") and not frame[column].isna().any():
            frame[column] = frame[column].astype(str(dtype).lower().replace("boolean", "bool"))
        elif str(dtype) == "Int64":
            frame[column] = frame[column].astype("float64")
    return frame


class Engine:
    """What both warehouses do alike; subclasses run statements their own way."""

    engine = ""
    schema = ""
    chunk_days = 30  # days of user_state per statement (see core/warehouse/state.py)
    # rows of user_state (the users a day may feature) per user_features statement; None: ``chunk_days`` days
    feature_rows: int | None = None

    def translate(self, sql: str) -> str:
        """A GoogleSQL statement in this engine's dialect."""
        return for_engine(sql, self.engine)

    @contextmanager
    def held(self) -> Iterator[Engine]:
        """This engine with its warehouse kept open for the block, where that saves work (DuckDB); by default
        nothing is held."""
        yield self

    def run_transaction(self, statements: Sequence[str]) -> None:
        raise NotImplementedError

    def run(self, statement: str) -> None:
        raise NotImplementedError

    def query(self, sql: str) -> pd.DataFrame:
        raise NotImplementedError

    def iter_frames(self, sql: str, rows: int) -> Iterator[pd.DataFrame]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def keys_elsewhere(self, table: str, key: str, time_column: str, keys: Sequence[str], first: date, last: date):
        """Which of ``keys`` ``table`` already holds with ``time_column`` outside the days first ... last."""
        raise NotImplementedError

    @staticmethod
    def _outside(time_column: str, first: date, last: date) -> str:
        """GoogleSQL: ``time_column`` falls on a day outside first ... last."""
        return f"({time_column} < {ts(first)} OR {time_column} >= {ts(last + timedelta(days=1))})"

    def columns(self, table: str) -> list[str] | None:
        """The table's column names in order, or None when it does not exist."""
        raise NotImplementedError

    def ensure_table(self, table: str, types: dict[str, str], day_column: str | None = None) -> None:
        """Create the table (laid out by ``day_column`` where the warehouse partitions), or check that the
        existing one has the columns this code writes."""
        found = self.columns(table)
        if found is None:
            self.run(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            self.create_table(table, types, day_column)
        elif [c.lower() for c in found] != list(types):
            raise WarehouseError(
                f"{self.describe()}: table {table} has the columns {found}, but this version writes {list(types)} "
                "(feature windows or the schema changed). Drop the table and its rows in partition_log, or use a new "
                "data directory or dataset, then materialize it again."
            )

    def create_table(self, table: str, types: dict[str, str], day_column: str | None) -> None:
        """Create ``table`` (plain here; a warehouse that partitions tables lays it out by ``day_column``)."""
        self.run(create_table(self.schema, table, types))

    def replace_partitions(
        self, table: str, column: str, first: date, last: date, selects: Sequence[str], spec: FeatureSpec
    ) -> dict[date, int]:
        """Atomically replace days first ... last of ``table`` with the rows of ``selects``; rows per day."""
        types = table_types(table, spec)
        self.ensure_table(table, types, column)
        self.ensure_table(PARTITION_LOG, table_types(PARTITION_LOG, spec), "partition_date")
        names = ", ".join(types)
        statements = [f"DELETE FROM {self.schema}.{table} WHERE {column} >= {ts(first)} AND {column} <= {ts(last)}"]
        statements += [f"INSERT INTO {self.schema}.{table} ({names})\n{select}" for select in selects]
        statements += partition_log_statements(self.schema, table, column, first, last)
        self.run_transaction(statements)
        return self.row_counts(table, first, last)

    def feature_chunks(self, first: date, last: date, spec: FeatureSpec) -> list[tuple[date, date]]:
        """The ranges of days first ... last that user_features computes one statement each: by ``feature_rows``
        rows of the table its users come from (user_state, or subscription_state under the cancellation
        definition; written first), else by ``chunk_days``."""
        if self.feature_rows is None:
            return day_chunks(first, last, self.chunk_days)
        table = "subscription_state" if spec.cancellation else "user_state"
        return row_chunks(first, last, self.row_counts(table, first, last), self.feature_rows)

    def written_days(self, table: str, first: date, last: date) -> set[date]:
        """Days of ``table`` within first ... last that partition_log records as written."""
        if not self.table_exists(PARTITION_LOG):
            return set()
        frame = self.query(
            f"SELECT partition_date FROM {self.schema}.{PARTITION_LOG} WHERE table_name = '{table}' "
            f"AND partition_date >= {ts(first)} AND partition_date <= {ts(last)}"
        )
        return {d.date() for d in frame["partition_date"]}

    def row_counts(self, table: str, first: date, last: date) -> dict[date, int]:
        """Rows of each day of ``table`` within first ... last that partition_log records."""
        if not self.table_exists(PARTITION_LOG):
            return {}
        frame = self.query(
            f"SELECT partition_date, row_count FROM {self.schema}.{PARTITION_LOG} WHERE table_name = '{table}' "
            f"AND partition_date >= {ts(first)} AND partition_date <= {ts(last)}"
        )
        return {d.date(): int(n) for d, n in zip(frame["partition_date"], frame["row_count"], strict=True)}

    def table_exists(self, table: str) -> bool:
        return self.columns(table) is not None

    def write_table(self, table: str, frame: pd.DataFrame) -> None:
        """Create or replace a whole table from a frame (raw inputs in tests and benchmarks)."""
        raise NotImplementedError


def ranked_types(engine: Engine, first: date, last: date, count: int) -> dict[str, str]:
    """The ``count`` most frequent source types of user_type_features over first ... last, with their columns'
    prefix (the set a model of that window is trained with); none when the table does not hold ``last``."""
    from churn_assets.core.warehouse.types import chosen_types, type_ranking_select

    if not count or not engine.written_days("user_type_features", last, last):
        return {}
    return chosen_types(engine.query(type_ranking_select(engine.schema, first, last)), count)


def build_layer(
    engine: Engine,
    first: date,
    last: date,
    spec: FeatureSpec,
    horizon: int,
    start: date,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    *,
    grace_days: int = 0,
    type_features: bool = False,
) -> None:
    """user_daily, user_state (and subscription_state for the cancellation definition, ``spec.definition``),
    user_features (and user_type_features when asked), and churn_labels for the days whose label is settled by
    ``last``: the statements the assets run, without Dagster (benchmarks and tests). ``start`` is the first day
    of the state chain; ``grace_days`` the renewal grace."""
    from churn_assets.core.warehouse import daily, features, labels, state, subscriptions, types

    schema = engine.schema
    if spec.cancellation:
        selects = [subscriptions.subscription_state_select(schema, first, last, grace_days)]
        engine.replace_partitions("subscription_state", "as_of_date", first, last, selects, spec)
    engine.replace_partitions(
        "user_daily", "activity_date", first, last, [daily.user_daily_select(schema, first, last, vocabulary)], spec
    )
    states = state.user_state_selects(schema, first, last, first == start, engine.chunk_days)
    engine.replace_partitions("user_state", "as_of_date", first, last, states, spec)
    features = features.user_features_selects(schema, engine.feature_chunks(first, last, spec), spec)
    engine.replace_partitions("user_features", "as_of_date", first, last, features, spec)
    if type_features:
        selects = [types.user_type_features_select(schema, first, last, spec, vocabulary)]
        engine.replace_partitions("user_type_features", "as_of_date", first, last, selects, spec)
    settle = grace_days if spec.cancellation else 0
    label_last = LabelCalendar(horizon, settle_days=settle).last_labelled(last)
    if label_last >= first:
        rule = labels.labels_select(
            schema, first, label_last, horizon, definition=spec.definition, grace_days=grace_days
        )
        engine.replace_partitions("churn_labels", "as_of_date", first, label_last, [rule], spec)
