"""A run killed in the middle of rewriting partitions leaves every partition old or new, never empty.

The child process materializes through the real IO manager; a handler subclass stops it at the worst moment
(after the slice was deleted, or after the new rows were inserted but before commit) and the test SIGKILLs it.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from churn_assets.defs.jobs import DATA_ASSETS
from churn_assets_tests.conftest import Warehouse
from churn_assets_tests.helpers import embedded_instance, root_error

DAY = "2026-01-02"
CHILD = textwrap.dedent(
    """
    import pathlib, sys, time
    import dagster as dg
    from churn_assets_tests.conftest import DEFS as defs
    from churn_assets.defs.deployment import build_resources
    from churn_assets.io.duckdb import PandasTableHandler, WarehouseIOManager
    from churn_assets.settings import Settings

    data_dir, ready, moment = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]

    class Stall(PandasTableHandler):
        def handle_output(self, context, table_slice, obj, connection):
            if moment == "after_insert":
                super().handle_output(context, table_slice, obj, connection)
            ready.write_text(table_slice.table)
            time.sleep(600)

    class StallingWarehouse(WarehouseIOManager):
        @staticmethod
        def type_handlers():
            return [Stall()]

    # another seed: the rewrite has other rows, fewer of them accepted (a shrink, accepted on purpose)
    settings = Settings(data_dir=data_dir, users=120, seed=99, max_shrink=1.0)
    resources = build_resources(settings) | {
        "io_manager": StallingWarehouse(database=str(settings.warehouse_path), schema="churn")
    }
    dg.materialize(list(defs.assets), selection=["raw_events", "raw_events_quarantine"], resources=resources,
                   partition_key=sys.argv[4], instance=dg.DagsterInstance.ephemeral())
    """
)


@pytest.fixture
def seeded(tmp_path) -> Warehouse:
    with embedded_instance() as instance:
        wh = Warehouse(tmp_path / "data", instance, users=120)
        wh.materialize(["raw_users", "raw_users_quarantine"])
        assert wh.materialize(["raw_events", "raw_events_quarantine"], "2026-01-01", "2026-01-03").success
        yield wh


def events_of(wh: Warehouse) -> pd.DataFrame:
    frame = wh.table("raw_events")
    return frame.sort_values("event_id").reset_index(drop=True)


@pytest.mark.parametrize("moment", ["after_delete", "after_insert"])
def test_sigkill_mid_rewrite_leaves_the_partition_as_it_was(seeded, tmp_path, moment):
    before = events_of(seeded)
    day_rows = (before["event_time"].dt.strftime("%Y-%m-%d") == DAY).sum()
    assert day_rows > 30
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(seeded.settings.data_dir), str(ready), moment, DAY],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "the child never reached the write"
            time.sleep(0.1)
        assert ready.read_text() == "raw_events"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    after = events_of(seeded)
    pd.testing.assert_frame_equal(before, after)  # the day is old: not empty, not half-written

    # and a normal re-run afterwards writes the day again as usual
    assert seeded.materialize(["raw_events", "raw_events_quarantine"], DAY).success
    pd.testing.assert_frame_equal(before, events_of(seeded))


def test_a_truncated_warehouse_file_fails_at_once_naming_the_file(seeded):
    path: Path = seeded.settings.warehouse_path
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 3)
    started = time.monotonic()
    result = seeded.materialize(["raw_events", "raw_events_quarantine"], DAY, raise_on_error=False)
    assert not result.success and time.monotonic() - started < 20
    error = root_error(result)
    assert f"warehouse {path} cannot be read: IO Error:" in error.message


SQL_CHILD = textwrap.dedent(
    """
    import pathlib, sys, time
    import dagster as dg
    from churn_assets_tests.conftest import DEFS as defs
    from churn_assets.defs.deployment import build_resources
    from churn_assets.io.duckdb_engine import DuckDBEngine
    from churn_assets.defs.resources import DuckDBWarehouse
    from churn_assets.settings import Settings

    data_dir, ready, moment = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]

    class StallingEngine(DuckDBEngine):
        def run_transaction(self, statements):
            # run the transaction's statements up to the chosen moment, then wait to be killed
            stop = 1 if moment == "after_delete" else len(statements) - 1
            with self.connect() as conn:
                conn.begin()
                for statement in statements[:stop]:
                    conn.execute(self.translate(statement))
                ready.write_text(str(stop))
                time.sleep(600)

    class StallingWarehouse(DuckDBWarehouse):
        def engine(self):
            return StallingEngine(self.database, self.schema_name)

    settings = Settings(data_dir=data_dir, users=120)
    stalling = StallingWarehouse(database=str(settings.warehouse_path), memory_limit=settings.duckdb_memory_limit)
    resources = build_resources(settings) | {"warehouse": stalling}
    tags = {"dagster/asset_partition_range_start": sys.argv[4], "dagster/asset_partition_range_end": sys.argv[5]}
    dg.materialize(list(defs.assets), selection=["user_features"], resources=resources, tags=tags,
                   instance=dg.DagsterInstance.ephemeral())
    """
)


@pytest.mark.parametrize("moment", ["after_delete", "after_insert"])
def test_sigkill_mid_sql_rewrite_leaves_every_day_as_it_was(tmp_path, moment):
    """The warehouse layer: a run of user_features over three days killed inside its transaction."""
    with embedded_instance() as instance:
        wh = Warehouse(tmp_path / "data", instance, users=120)
        wh.materialize(["raw_users", "raw_users_quarantine"])
        assert wh.materialize(DATA_ASSETS, "2026-01-01", "2026-01-05").success
        where = "where as_of_date between '2026-01-03' and '2026-01-05'"
        before = wh.table("user_features", where).sort_values(["as_of_date", "user_id"]).reset_index(drop=True)
        log_before = wh.table("partition_log").drop(columns="written_at").sort_values(["table_name", "partition_date"])
        assert before["as_of_date"].nunique() == 3 and len(before) > 30
        ready = tmp_path / "ready"
        args = [str(wh.settings.data_dir), str(ready), moment, "2026-01-03", "2026-01-05"]
        child = subprocess.Popen([sys.executable, "-c", SQL_CHILD, *args], stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not ready.exists():
                assert child.poll() is None, child.stderr.read()
                assert time.monotonic() < deadline, "the child never reached the transaction"
                time.sleep(0.1)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        after = wh.table("user_features", where).sort_values(["as_of_date", "user_id"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(before, after)  # every day old: none empty, none half-written
        log_after = wh.table("partition_log").drop(columns="written_at").sort_values(["table_name", "partition_date"])
        pd.testing.assert_frame_equal(log_before.reset_index(drop=True), log_after.reset_index(drop=True))
        assert wh.materialize(["user_features"], "2026-01-03", "2026-01-05").success


def test_a_run_whose_process_died_before_starting_it_is_closed_on_the_next_start(instance):
    """`churn-assets run` creates a run, then starts it: killed in between, the run stayed NOT_STARTED for good."""
    import socket
    import subprocess

    from churn_assets.cli.recovery import mark_dead_runs_failed
    from churn_assets_tests.conftest import DEFS

    dead = subprocess.Popen(["true"])
    dead.wait()
    tags = {"churn/pid": str(dead.pid), "churn/host": socket.gethostname()}
    left = instance.create_run_for_job(job_def=DEFS.resolve_job_def("users_job"), tags=tags)
    mine = instance.create_run_for_job(job_def=DEFS.resolve_job_def("users_job"), tags={"churn/pid": str(os.getpid()),
                                       "churn/host": socket.gethostname()})  # fmt: skip
    assert left.status == dg.DagsterRunStatus.NOT_STARTED
    assert mark_dead_runs_failed(instance) == [
        f"run {left.run_id[:8]} (users_job) was left waiting to start by a process that died: marked failed"
    ]
    assert instance.get_run_by_id(left.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(mine.run_id).status == dg.DagsterRunStatus.NOT_STARTED  # its process is alive
