"""The DuckDB engine's connections: a held engine keeps its file open for the block, and only for the block."""

from __future__ import annotations

import subprocess
import sys

from churn_assets.io.duckdb_engine import DuckDBEngine

OPEN_FROM_ANOTHER_PROCESS = """
import sys, duckdb
try:
    duckdb.connect(sys.argv[1]).close()
except duckdb.IOException as exc:
    print("locked" if "lock" in str(exc).lower() else exc)
else:
    print("opened")
"""


def other_process_opens(path: str) -> str:
    done = subprocess.run([sys.executable, "-c", OPEN_FROM_ANOTHER_PROCESS, path], capture_output=True, text=True)
    return done.stdout.strip() or done.stderr


def test_a_held_engine_keeps_its_file_open_for_the_block_and_releases_it(tmp_path):
    path = str(tmp_path / "warehouse.duckdb")
    engine = DuckDBEngine(path, "churn")
    engine.run("CREATE SCHEMA churn")
    assert other_process_opens(path) == "opened"  # between statements the file is free
    with engine.held() as held:
        assert held is engine
        for i in range(20):  # each statement opens and closes its own connection, to the database kept open
            engine.run(f"CREATE TABLE churn.t{i} AS SELECT {i} AS n")
        assert other_process_opens(path) == "locked"  # another process waits for the block, as for a statement
    assert other_process_opens(path) == "opened"
    assert engine.columns("t19") == ["n"] and int(engine.query("SELECT n FROM churn.t19")["n"][0]) == 19  # committed
