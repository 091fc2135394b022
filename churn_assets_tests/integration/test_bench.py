"""The benchmark scripts behind the figures in docs/performance.md still run and print what they promise (wall
time, CPU seconds, rows/s, peak RSS, the ratio to the plain-SQL reference), here on tiny inputs."""

import re
import subprocess
import sys

import pytest

from churn_assets_tests.helpers import ROOT, clean_env

MEASURED = re.compile(r"wall +[0-9.]+ s +cpu +[0-9.]+ s +[0-9,]+ [a-z ]+/s +peak RSS +[0-9]+ MB")


def bench(script: str, *args: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return run.stdout.splitlines()


@pytest.mark.parametrize(
    ("script", "args", "variants"),
    [
        ("bench_warehouse.py", ["--users", "200", "--days", "45", "--repeat", "1"], ["reference", "layer", "dagster"]),
        ("bench_newday.py", ["--day-users", "2000", "--history", "8", "--repeat", "1"], ["new day"]),
        ("bench_purchase.py", ["--users", "300", "--days", "60", "--repeat", "1"], ["reference", "command"]),
        (
            "bench_purchase.py",
            ["--profile", "subscription", "--users", "200", "--days", "45", "--repeat", "1"],
            ["reference", "command"],
        ),
        ("bench_subscriptions.py", ["--users", "300", "--repeat", "1"], ["reference", "layer"]),
        ("bench_retention.py", ["--users", "3000", "--repeat", "1"], ["billing", "spend"]),
        (
            "bench_heavy.py",
            ["--users", "150", "--days", "20", "--rate", "3", "--repeat", "1"],
            ["command"],  # beside the previous release, sized by the files' rows
        ),
        (
            "bench_instance.py",
            ["--users", "300", "--days", "20", "--repeat", "1", "--variants", "previous,postgres_batch"],
            ["postgres_batch"],  # beside the previous release, on a throwaway PostgreSQL server
        ),
    ],
)
def test_a_benchmark_prints_its_measurements_for_every_variant(script, args, variants):
    lines = bench(script, *args)
    for variant in variants:
        [line] = [line for line in lines if line.strip().startswith(f"{variant} ") and MEASURED.search(line)]
        if variant not in ("reference", "new day", "sql"):
            assert re.search(r"[0-9.]+x reference", line), line
    if script == "bench_purchase.py":  # the command's stages up to the labels: the reference's work
        [line] = [line for line in lines if line.strip().startswith("command, file to labels")]
        assert re.search(r": [0-9.]+ s, [0-9.]+x the reference$", line), line


def test_the_cost_model_bills_bigquerys_logical_bytes_of_the_partitions_a_day_reads(tmp_path):
    """A warehouse of two users: raw_events of 4 rows a day whose text columns hold 3 characters (2 + 3 bytes
    each by BigQuery's rules) and three 8-byte columns: 39 bytes a row, 2 rows per user and day."""
    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.execute("CREATE SCHEMA churn")
        conn.execute("CREATE TABLE churn.raw_users AS SELECT 'u01' AS user_id FROM range(2)")
        conn.execute(
            "CREATE TABLE churn.raw_events AS SELECT 'e01' AS event_id, 'u01' AS user_id, "
            "TIMESTAMP '2026-01-01' + INTERVAL (i // 4) DAY AS event_time, 'ses' AS event_type, "
            "1.0 AS minutes, 0.0 AS amount FROM range(12) t(i)"
        )
        for table in ("user_daily", "user_state", "user_features", "user_type_features"):
            day = "activity_date" if table == "user_daily" else "as_of_date"
            conn.execute(
                f"CREATE TABLE churn.{table} AS SELECT 'u01' AS user_id, TIMESTAMP '2026-01-02' AS {day}, "
                "TIMESTAMP '2026-01-02' AS last_active_date FROM range(2)"
            )
    lines = bench("cost_model.py", str(tmp_path), "--history", "10")
    assert any(line.split()[:4] == ["raw_events", "39.0", "B", "2.000"] for line in lines), lines
    # 10^7 users x 2 rows x 39 B = 0.73 GiB for the day's slice; unpartitioned: ten days of it
    [replaced] = [line for line in lines if "the day's slice replaced" in line]
    assert replaced.split()[-4:] == ["0.73", "/", "7.3", "GiB"]
    assert any(line.strip().startswith("USD a day at $6.25/TiB") for line in lines)
