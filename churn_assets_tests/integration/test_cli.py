"""The churn-assets command, as a user runs it: a real process, a real instance under the data dir."""

import os
import subprocess

import dagster as dg
import duckdb
import pandas as pd
import pytest

TABLES = [
    "raw_users",
    "raw_events",
    "raw_events_quarantine",
    "user_daily",
    "user_features",
    "churn_labels",
    "training_set",
    "churn_predictions",
    "drift_report",
]


def cli(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME"))}
    return subprocess.run(
        ["churn-assets", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def run_cli(data_dir, *args):
    return cli("run", "--data-dir", str(data_dir), "--users", "300", "--days", "90", *args)


def snapshot(data_dir):
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        tables = {t: conn.execute(f"select * from churn.{t}").df() for t in TABLES}
    return {t: df.sort_values(list(df.columns[:2])).reset_index(drop=True) for t, df in tables.items()}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("cli") / "churn"
    return data_dir, run_cli(data_dir)


def test_run_materializes_everything_through_dagster_and_is_idempotent(first_run):
    data_dir, first = first_run
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "[1/7] raw users" in out and "[2/7] events to features 2026-01-01..2026-03-31" in out
    assert "[3/7] churn labels 2026-01-01..2026-03-01" in out
    assert "[4/7] training set and candidate models 2026-03-01" in out
    assert "[5/7] promotion" in out and "[6/7] predictions 2026-03-31" in out
    assert "[7/7] drift report 2026-03-31" in out and "Drift 2026-03-31: max important PSI" in out
    assert "raw_users                       300" in out
    assert "promoted (first model: ROC-AUC" in out
    before = snapshot(data_dir)
    assert len(before["churn_labels"]) > 0

    # runs are recorded in the instance under the data directory, where `dagster dev` finds them
    with dg.DagsterInstance.from_config(str(data_dir / "dagster")) as instance:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == [
            "daily_data_job",
            "drift_job",
            "labels_job",
            "predictions_job",
            "promotion_job",
            "training_job",
            "users_job",
        ]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        daily_run = next(r for r in runs if r.job_name == "daily_data_job")
        assert daily_run.tags["dagster/asset_partition_range_start"] == "2026-01-01"
        assert daily_run.tags["dagster/asset_partition_range_end"] == "2026-03-31"
        # the 90-day backfill plans each asset once, for the whole range, not once per partition
        planned = instance.get_records_for_run(
            daily_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ).records
        by_asset = {r.event_log_entry.dagster_event.asset_key.to_user_string(): r for r in planned}
        assert sorted(by_asset) == ["raw_events", "raw_events_quarantine", "user_daily", "user_features"]
        assert len(planned) == 4
        subset = by_asset["user_features"].event_log_entry.dagster_event.event_specific_data.partitions_subset
        keys = subset.get_partition_keys()
        assert (len(keys), keys[0], keys[-1]) == (90, "2026-01-01", "2026-03-31")

    second = run_cli(data_dir)
    assert second.returncode == 0, second.stderr
    assert "not promoted (already production)" in second.stdout  # no new data, nothing promoted
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


def test_model_list_and_rollback_commands(first_run):
    data_dir, _ = first_run
    listing = cli("model", "--data-dir", str(data_dir), "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:3] == ["version", "created", "candidate"]
    assert lines[1].startswith("* m-") and lines[-1] == "* = production"
    refused = cli("model", "--data-dir", str(data_dir), "rollback")
    assert refused.returncode == 2 and "no earlier production version to roll back to" in refused.stderr
    unknown = cli("model", "--data-dir", str(data_dir), "rollback", "m-000000000000")
    assert unknown.returncode == 2 and "no model version 'm-000000000000'" in unknown.stderr
