"""The churn-assets command, as a user runs it: a real process, a real instance under the data dir."""

import json
import os
import shutil
import signal
import subprocess
from datetime import date, timedelta

import dagster as dg
import duckdb
import pandas as pd
import pytest

from churn_assets.defs.jobs import DATA_ASSETS
from churn_assets_tests.helpers import TABLES, clean_env, cli, wait_for


def run_cli(data_dir, *args):
    return cli("run", "--data-dir", str(data_dir), "--users", "300", "--days", "90", *args)


def snapshot(data_dir):
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        tables = {t: conn.execute(f"select * from churn.{t}").df() for t in TABLES}
    keys = {t: ["user_id", "as_of_date", "event_type"] if t == "user_type_features" else None for t in tables}
    return {t: df.sort_values(keys[t] or list(df.columns[:2])).reset_index(drop=True) for t, df in tables.items()}


@pytest.fixture(scope="module")
def first_run(finished_run, tmp_path_factory):
    """The session's first run of the command (300 users, 90 days; its output kept), copied for this module."""
    return finished_run.copy(tmp_path_factory.mktemp("cli") / "churn"), finished_run


def test_run_materializes_everything_through_dagster_and_is_idempotent(first_run):
    data_dir, first = first_run
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "[1/7] raw users" in out and "[2/7] events to features 2026-01-01..2026-03-31" in out
    assert "[3/7] churn labels 2026-01-01..2026-03-01" in out
    assert "[4/7] training set and candidate models 2026-03-01" in out
    assert "[5/7] promotion" in out and "[6/7] predictions 2026-03-31" in out
    assert "[7/7] drift report 2026-03-31" in out and "Drift 2026-03-31: max important PSI" in out
    assert f"  {'raw_users':<30} {300:>10,}" in out
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
        assert sorted(by_asset) == sorted(DATA_ASSETS)
        assert len(planned) == len(DATA_ASSETS)
        subset = by_asset["user_features"].event_log_entry.dagster_event.event_specific_data.partitions_subset
        keys = subset.get_partition_keys()
        assert (len(keys), keys[0], keys[-1]) == (90, "2026-01-01", "2026-03-31")

    second = run_cli(data_dir)
    assert second.returncode == 0, second.stderr
    assert "not promoted (already production)" in second.stdout  # no new data, nothing promoted
    after = snapshot(data_dir)
    for table in TABLES:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)


def test_a_longer_run_computes_only_the_new_days_and_judges_the_day_the_first_run_scored(first_run, tmp_path):
    data_dir = tmp_path / "churn"  # a copy: the module's run stays as it was for the tests after this one
    shutil.copytree(first_run[0], data_dir)
    before = written(data_dir)
    longer = run_cli(data_dir, "--days", "120")  # 30 more days of the same simulated users
    assert longer.returncode == 0, longer.stdout[-3000:] + longer.stderr[-3000:]
    out = longer.stdout
    assert "the source is computed up to 2026-03-31: only 2026-04-01 on is new or changed" in out
    assert "events to features 2026-04-01..2026-04-30 ..." in out
    assert "churn labels 2026-03-02..2026-03-31 ..." in out  # the label days whose horizon reaches a new day
    assert "prediction outcomes 2026-03-31 ..." in out and "predictions 2026-04-30 ..." in out
    after = written(data_dir)
    assert len(before) == 90 and len(after) == 120
    assert (after[before.index] == before).all()  # the first 90 days were not rewritten
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        judged = conn.execute("select distinct as_of_date, model_version from churn.prediction_outcomes").fetchall()
        scored = conn.execute(
            "select distinct model_version from churn.churn_predictions where as_of_date = '2026-03-31'"
        ).fetchall()
    assert [(d.date(), v) for d, v in judged] == [(date(2026, 3, 31), scored[0][0])]


def written(data_dir) -> pd.Series:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        frame = conn.execute(
            "select partition_date, written_at from churn.partition_log where table_name = 'user_features'"
        ).df()
    return frame.set_index("partition_date")["written_at"]


def test_bad_option_is_a_clear_error(tmp_path):
    result = run_cli(tmp_path, "--start", "2026-13-01")
    assert result.returncode == 2
    assert "CHURN_START_DATE='2026-13-01' is not a date like 2026-01-01" in result.stderr


def test_small_mistakes_get_one_clear_line(tmp_path):
    tiny = cli("run", "--data-dir", str(tmp_path / "a"), "--users", "1", "--days", "1")
    assert (tiny.returncode, tiny.stderr) == (2, "error: CHURN_USERS must be at least 10, got 1\n")
    (tmp_path / "exports").mkdir()
    folder = cli("run", "--data-dir", str(tmp_path / "b"), "--events-file", str(tmp_path / "exports"), "--days", "3")
    assert folder.returncode == 1
    assert f"{tmp_path / 'exports'}: is a directory, not a CSV or Parquet file" in folder.stdout
    far = cli("evaluate", "--data-dir", str(tmp_path / "c"), "--from", "0001-01-01", "--to", "0001-02-01")
    assert far.returncode == 2 and "Traceback" not in far.stderr
    assert far.stderr.startswith("error: the as-of dates 0001-01-01..0001-02-01 must lie within the data, 2026-01-01")


def test_dev_refuses_to_open_the_ui_off_loopback_unless_asked(tmp_path):
    refused = cli("dev", "--data-dir", str(tmp_path), "--host", "0.0.0.0")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: --host 0.0.0.0 would open the Dagster UI to other machines, and the UI ")
    assert "has no authentication" in refused.stderr and "--allow-remote" in refused.stderr
    assert not (tmp_path / "dagster").exists()  # refused before anything was started or written


def test_a_range_past_the_last_complete_day_is_refused(tmp_path):
    result = run_cli(tmp_path, "--start", "2099-01-01")
    assert result.returncode == 2
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    assert result.stderr == f"error: the range starts on 2099-01-01, after the last complete UTC day ({yesterday})\n"


def test_a_data_dir_holding_another_simulation_is_refused(first_run):
    data_dir, _ = first_run
    result = run_cli(data_dir, "--days", "14", "--seed", "8")
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {data_dir} holds data of another source (CHURN_SEED=7 there, 8 now). "
        "Use another --data-dir, or the settings it was made with.\n"
    )
    # the days run are not the source's identity (a longer run extends it), the span its users sign up over is
    result = cli("run", "--data-dir", str(data_dir), "--users", "300", "--days", "14", CHURN_SIM_SIGNUP_DAYS="60")
    assert result.returncode == 2
    assert "(CHURN_SIM_SIGNUP_DAYS=90 there, 60 now)" in result.stderr


def test_a_run_whose_process_was_killed_is_marked_failed_on_the_next_start(tmp_path):
    data_dir = tmp_path / "churn"
    env = clean_env()
    command = ["churn-assets", "run", "--data-dir", str(data_dir), "--users", "300", "--days", "40"]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    home = data_dir / "dagster"

    def data_run_started():
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="daily_data_job"))
            return runs[0].run_id if runs and runs[0].status == dg.DagsterRunStatus.STARTED else None

    try:
        for line in child.stdout:  # the instance exists once the second stage is announced
            if line.startswith("[2/"):
                break
        run_id = wait_for("the data run to start", data_run_started, timeout=120, every=0.2)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    again = run_cli(data_dir, "--days", "40")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"run {run_id[:8]} (daily_data_job) was left running by a process that died: marked failed" in again.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        days = instance.get_materialized_partitions(dg.AssetKey("raw_events"))
        assert (len(days), min(days), max(days)) == (40, "2026-01-01", "2026-02-09")


def test_a_full_disk_is_one_line_naming_where(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6M", "tmpfs", str(mount)], check=True)
    try:
        result = run_cli(mount / "churn")
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: the disk under {mount / 'churn'} is full (")
    assert line.endswith("Free some space and run again: every partition is still either old or new.")
    assert "Traceback" not in result.stdout


def test_gcp_without_credentials_is_one_line(tmp_path):
    env = {"CHURN_DEPLOYMENT": "gcp", "CHURN_GCP_PROJECT": "my-project", "CHURN_GCS_BUCKET": "my-bucket"}
    # no emulator, no key, no gcloud login, and no probe of a cloud metadata server
    env |= {"NO_GCE_CHECK": "true", "HOME": str(tmp_path), "BIGQUERY_EMULATOR_HOST": "", "STORAGE_EMULATOR_HOST": ""}
    result = cli("run", "--data-dir", str(tmp_path), **env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: no Google Cloud credentials for CHURN_DEPLOYMENT=gcp: set CHURN_GCP_CREDENTIALS_B64 to a base64 "
        "service-account key, or provide Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS)"
    ]


def test_model_list_names_a_corrupt_card_and_still_lists_the_others(first_run, tmp_path):
    data_dir, _ = first_run
    copy = tmp_path / "copy"
    shutil.copytree(data_dir / "artifacts", copy / "artifacts")
    bad = copy / "artifacts" / "models" / "m-0123456789ab" / "card.json"
    bad.parent.mkdir()
    bad.write_text('{"version": "m-01')
    listing = cli("model", "--data-dir", str(copy), "list")
    assert listing.returncode == 0, listing.stderr
    versions = listing.stdout.splitlines()[1:-1]
    good = sorted(p.parent.name for p in (copy / "artifacts" / "models").glob("*/card.json") if p != bad)
    assert sorted(line.split()[0 if line.startswith("  ") else 1] for line in versions) == good
    assert sum(line.startswith("* m-") for line in versions) == 1
    assert listing.stderr.startswith(f"warning: {bad.as_uri()} is corrupt: Unterminated string")


def test_model_list_and_rollback_commands(first_run, tmp_path):
    data_dir = tmp_path / "copy"  # rollbacks write the production pointer: a copy, so the module's run stays as it was
    shutil.copytree(first_run[0] / "artifacts", data_dir / "artifacts")
    listing = cli("model", "--data-dir", str(data_dir), "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["version", "created", "candidate", "test", "window", "PR-AUC", "ROC-AUC", "vs",
                                "recency", "vs", "BG/NBD"]  # fmt: skip
    [production] = [line for line in lines if line.startswith("* m-")]
    assert lines[-1].startswith("* = production; (baseline): a baseline registered as the fallback model; vs")
    card = json.loads((data_dir / "artifacts" / "models" / production.split()[1] / "card.json").read_text())
    lifts = [f"{card['baselines'][b]['model_lift']['pr_auc']:+.4f}" for b in ("recency", "bg_nbd")]
    assert production.split()[-2:] == lifts
    if card.get("fallback"):  # the best baseline, registered first, listed as what it is
        [fallback] = [line for line in lines if line.startswith(f"  {card['fallback']}")]
        assert "(baseline)" in fallback
    refused = cli("model", "--data-dir", str(data_dir), "rollback")
    assert refused.returncode == 2 and "no earlier production version to roll back to" in refused.stderr
    unknown = cli("model", "--data-dir", str(data_dir), "rollback", "m-000000000000")
    assert unknown.returncode == 2 and "no model version 'm-000000000000'" in unknown.stderr
    production = production.split()[1]
    typed = cli("model", "--data-dir", str(data_dir), "rollback", f"{production}/")
    assert typed.returncode == 0 and typed.stdout == f"production is now {production}\n"
    escape = cli("model", "--data-dir", str(data_dir), "rollback", f"x/../{production}")
    assert escape.returncode == 2
    assert escape.stderr == (
        f"error: 'x/../{production}' is not a model version id (m- and 12 hex digits, as `model list` shows)\n"
    )
    pointer = json.loads((data_dir / "artifacts" / "models" / "production.json").read_text())
    assert pointer["version"] == production
