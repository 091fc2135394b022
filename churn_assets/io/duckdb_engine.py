"""The embedded warehouse engine: the data layer's SQL on a DuckDB file (see ``io/warehouse.py``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from churn_assets.io.warehouse import Engine, WarehouseError, normalize

LOCK_WAIT_SECONDS = 60


def unreadable(path: str, exc: Exception) -> WarehouseError:
    """A DuckDB file that cannot be opened or read (truncated, corrupt): one line naming it."""
    return WarehouseError(f"warehouse {path} cannot be read: {str(exc).splitlines()[0]}")


def open_warehouse(path: str, *, read_only: bool = False, lock_wait: float = LOCK_WAIT_SECONDS):
    """Connect to the DuckDB file, waiting only while another process holds its lock."""
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            return duckdb.connect(path, read_only=read_only, config={"custom_user_agent": "churn_assets"})
        except duckdb.Error as exc:
            locked = isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()
            if not locked or time.monotonic() >= deadline:
                raise unreadable(path, exc) from None
        time.sleep(0.5)


class DuckDBEngine(Engine):
    engine = "duckdb"
    # user_features in statements of at most this many user_state rows bounds the join this process holds (a
    # statement's peak grows with its rows), and a small population still gets few statements rather than one
    # per few days (docs/performance.md, 100,000 users end to end)
    feature_rows = 500_000

    def __init__(self, path: str, schema: str, memory_limit: str = "1GB"):
        self.path, self.schema, self.memory_limit = path, schema, memory_limit

    def describe(self) -> str:
        return f"duckdb:{self.path} (schema {self.schema})"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = open_warehouse(self.path)
        try:
            with contextlib.suppress(duckdb.Error):  # without the ICU extension every timestamp is UTC anyway
                conn.execute("SET TimeZone = 'UTC'")
            # DuckDB's default limit is 80% of the machine's memory, and it keeps what it may: a bounded buffer
            # pool spills to a temporary folder beside the file instead, in about the same time
            # (docs/performance.md, the data layer against plain SQL).
            conn.execute(f"SET memory_limit = '{self.memory_limit}'")
            yield conn
        except duckdb.IOException as exc:  # opened, but its blocks are cut short or corrupt: say so, name the file
            raise unreadable(self.path, exc) from None
        finally:
            conn.close()

    @contextmanager
    def held(self) -> Iterator[DuckDBEngine]:
        """This engine with its file kept open for the block. DuckDB keeps one open database per file and process
        while any connection to it lives; opening it again reads its catalog, which a step would pay for every
        statement and check. Held, each ``connect`` only opens a connection. Another process waits for the block
        to end (``LOCK_WAIT_SECONDS``), as it waits for a statement."""
        keeper = open_warehouse(self.path)
        try:
            yield self
        finally:
            keeper.close()

    def run(self, statement: str) -> None:
        with self.connect() as conn:
            conn.execute(self.translate(statement))

    def run_transaction(self, statements: Sequence[str]) -> None:
        with self.connect() as conn:
            conn.begin()
            try:
                for statement in statements:
                    conn.execute(self.translate(statement))
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def query(self, sql: str) -> pd.DataFrame:
        with self.connect() as conn:
            return normalize(conn.execute(self.translate(sql)).df())

    def iter_frames(self, sql: str, rows: int) -> Iterator[pd.DataFrame]:
        with self.connect() as conn:
            result = conn.execute(self.translate(sql))
            reader = (
                result.to_arrow_reader(rows) if hasattr(result, "to_arrow_reader") else result.fetch_record_batch(rows)
            )
            for batch in reader:
                yield normalize(batch.to_pandas())

    def write_table(self, table: str, frame: pd.DataFrame) -> None:
        with self.connect() as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            conn.register("churn_frame", frame)
            conn.execute(f"CREATE OR REPLACE TABLE {self.schema}.{table} AS SELECT * FROM churn_frame")
            conn.unregister("churn_frame")

    def keys_elsewhere(self, table: str, key: str, time_column: str, keys: Sequence[str], first: date, last: date):
        if len(keys) == 0 or not self.table_exists(table):
            return set()
        with self.connect() as conn:
            conn.register("incoming_keys", pd.DataFrame({"k": pd.Series(list(keys), dtype=object)}))
            rows = conn.execute(
                self.translate(
                    f"SELECT DISTINCT t.{key} FROM {self.schema}.{table} AS t JOIN incoming_keys AS i "
                    f"ON t.{key} = i.k WHERE {self._outside('t.' + time_column, first, last)}"
                )
            ).fetchall()
        return {r[0] for r in rows}

    def columns(self, table: str) -> list[str] | None:
        if not Path(self.path).exists():
            return None
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                "ORDER BY ordinal_position",
                [self.schema, table],
            ).fetchall()
        return [r[0] for r in rows] or None
