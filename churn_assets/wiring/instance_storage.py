"""The embedded Dagster instance's storage: Dagster's SQLite storage, with event-log writes that keep their
database open.

Dagster's SQLite event log opens a new engine and connection for every event it stores and closes it after
the commit. Closing the last connection of a WAL database checkpoints it (copies the log into the database
file, syncs it to disk and deletes the log), so each event costs file-system work of its own, which was the
larger part of the demo's events stage (docs/performance.md, Dagster bookkeeping). ``SqliteStorage`` is
Dagster's ``DagsterSqliteStorage`` (the same files in the same places, so an existing instance keeps its
history) whose event log keeps one connection per database (each run's own and the index) open in the process,
for the few most recently used databases; SQLite's WAL mode lets the webserver and the daemon read while it
writes, as before.

One behaviour depends on the old pattern: the webserver's live view of a running run watches the run's
database file for changes, which a checkpoint used to make. After each write the file's modification time is
touched instead, so the view follows as before.

The instance's ``dagster.yaml`` names this class (``churn-assets`` writes it into a new instance; see
docs/deployment.md). Dagster's storages are configurable classes, the extension point for this; the base
classes are internal names, imported in ``wiring/internals.py``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from sqlalchemy.pool import StaticPool

from churn_assets.wiring.internals import (
    DagsterSqliteStorage,
    SqlEventLogStorageTable,
    SqliteEventLogStorage,
    create_engine,
)

INDEX_SHARD = "index"  # Dagster's name for the database that mirrors every run's asset events
OPEN_DATABASES = 8  # the index and the runs written or read most recently
BUSY_TIMEOUT_SECONDS = 30  # how long a write waits for another process's (Dagster 1.13's own value; 1.12: 5)


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log with one open connection per database, for the ``OPEN_DATABASES`` most recently
    used ones. Every use holds the storage's lock, as in the base class, so a connection serves one thread at a
    time."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, object] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._batch: _Batch | None = None
        self._tables: set[str] = set()  # tables the index database is known to have
        self._index_columns = False
        super().__init__(base_dir, inst_data)

    def has_table(self, table_name: str) -> bool:
        """Whether the index database has the table. Dagster asks before storing nearly every event, each time on
        a new connection of its own; a table, once there, stays, so a yes is kept."""
        if table_name not in self._tables:
            if not super().has_table(table_name):
                return False
            self._tables.add(table_name)
        return True

    def _has_asset_key_index_cols_on_connection(self, conn) -> bool:
        """Whether the asset key table has its newer columns, asked for every materialization: a yes is kept."""
        self._index_columns = self._index_columns or super()._has_asset_key_index_cols_on_connection(conn)
        return self._index_columns

    @contextmanager
    def _connect(self, shard: str) -> Iterator:
        batch = self._batch
        if batch is not None and batch.thread == threading.get_ident():  # inside store_event_batch: its transaction
            yield batch.connection(shard, self._engine)
            return
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn
            self._touch(shard)

    def store_event_batch(self, events) -> None:
        """A batch of events (Dagster sends a ranged run's materializations of one asset as a batch when
        ``DAGSTER_EVENT_BATCH_SIZE`` is set) in one transaction per database, committed together; on an error
        nothing of the batch is kept, and Dagster writes its events one by one instead."""
        with self._db_lock:
            self._batch = _Batch(threading.get_ident())
            try:
                if {getattr(e, "dagster_event_type", None) for e in events} == {
                    dg.DagsterEventType.ASSET_MATERIALIZATION
                }:
                    self._store_materializations(events)
                else:
                    for event in events:
                        self.store_event(event)
                self._batch.commit()
            except BaseException:
                self._batch.rollback()
                raise
            finally:
                shards, self._batch = list(self._batch.open), None
            for shard in shards:
                self._touch(shard)

    def _store_materializations(self, events) -> None:
        """A ranged run's materializations of an asset, stored as dagster-postgres stores such a batch: each event
        serialized once and written to its run's database and to the index, the asset's tags in one statement, and
        the asset's own row (its latest materialization, serialized again) updated once, from the last event,
        instead of once per partition. Called inside ``store_event_batch``'s transaction."""
        rows = [self._event_to_row(event) for event in events]
        for run_id in dict.fromkeys(row["run_id"] for row in rows):
            with self.run_connection(run_id) as conn:
                conn.execute(SqlEventLogStorageTable.insert(), [row for row in rows if row["run_id"] == run_id])
        with self.index_connection() as conn:
            ids = [conn.execute(SqlEventLogStorageTable.insert().values(**row)).inserted_primary_key[0] for row in rows]
            self._store_asset_event_tags(conn, events, ids)
            last = {
                event.dagster_event.asset_key: (event, event_id) for event, event_id in zip(events, ids, strict=True)
            }
            for event, event_id in last.values():
                self._store_asset_event(conn, event, event_id)

    def _touch(self, shard: str) -> None:
        if shard != INDEX_SHARD:  # the webserver's live view of this run watches the file (see above)
            with contextlib.suppress(OSError):
                os.utime(self.path_for_shard(shard))

    def _engine(self, shard: str):
        with self._engines_lock:
            if shard in self._engines:
                self._engines.move_to_end(shard)
                return self._engines[shard]
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=StaticPool,  # one connection, kept open; used under the storage's lock only
                connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            self._engines[shard] = engine
            while len(self._engines) > OPEN_DATABASES:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def _close_all(self) -> None:
        with self._engines_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        with self._db_lock:
            self._close_all()
        super().wipe()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()


class _Batch:
    """The open transactions of one ``store_event_batch`` call, one per database it writes, begun on first use."""

    def __init__(self, thread: int):
        self.thread = thread
        self.open: dict[str, tuple] = {}

    def connection(self, shard: str, engine_of):
        if shard not in self.open:
            conn = engine_of(shard).connect()
            self.open[shard] = (conn, conn.begin())
        return self.open[shard][0]

    def commit(self) -> None:
        for conn, transaction in self.open.values():
            transaction.commit()
            conn.close()

    def rollback(self) -> None:
        for conn, transaction in self.open.values():
            with contextlib.suppress(Exception):
                transaction.rollback()
            conn.close()


class SqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage under ``base_dir`` (runs, event logs, schedules where Dagster puts them), with the
    pooled event log."""

    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data)
        default = self._event_log_storage
        self._event_log_storage = PooledSqliteEventLogStorage(default._base_dir)  # noqa: SLF001
        default.dispose()

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)
