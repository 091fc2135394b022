"""The churn-assets command, as a user runs it: a real process, a real instance under the data dir."""

import os
import subprocess

import dagster as dg
import duckdb
import pandas as pd

TABLES = ["raw_users", "raw_events", "raw_events_quarantine", "user_daily", "user_features", "churn_labels"]


def run_cli(data_dir, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME"))}
    return subprocess.run(
        ["churn-assets", "run", "--data-dir", str(data_dir), "--users", "150", "--days", "40", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def snapshot(data_dir):
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        tables = {t: conn.execute(f"select * from churn.{t}").df() for t in TABLES}
    return {t: df.sort_values(list(df.columns[:2])).reset_index(drop=True) for t, df in tables.items()}


def test_run_materializes_everything_through_dagster_and_is_idempotent(tmp_path):
    data_dir = tmp_path / "churn"
    first = run_cli(data_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "[1/3] raw users" in out and "[2/3] events to features 2026-01-01..2026-02-09" in out
    assert "[3/3] churn labels 2026-01-01..2026-01-10" in out
    assert "raw_users                       150" in out
    before = snapshot(data_dir)
    assert len(before["churn_labels"]) > 0

    # runs are recorded in the instance under the data directory, where `dagster dev` finds them
    with dg.DagsterInstance.from_config(str(data_dir / "dagster")) as instance:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["daily_data_job", "labels_job", "users_job"]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        daily_run = next(r for r in runs if r.job_name == "daily_data_job")
        assert daily_run.tags["dagster/asset_partition_range_start"] == "2026-01-01"
        assert daily_run.tags["dagster/asset_partition_range_end"] == "2026-02-09"

    second = run_cli(data_dir)
    assert second.returncode == 0, second.stderr
    after = snapshot(data_dir)
    for table in TABLES:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)


def test_bad_option_is_a_clear_error(tmp_path):
    result = run_cli(tmp_path, "--start", "2026-13-01")
    assert result.returncode == 2
    assert "CHURN_START_DATE='2026-13-01' is not a date like 2026-01-01" in result.stderr


def test_a_range_past_the_last_complete_day_is_refused(tmp_path):
    result = run_cli(tmp_path, "--start", "2099-01-01")
    assert result.returncode == 2
    assert "after the last complete day" in result.stderr
