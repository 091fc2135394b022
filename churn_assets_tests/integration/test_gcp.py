"""The gcp deployment against local emulators: the same assets, tables in BigQuery, artifacts in GCS."""

import os
import subprocess
import sys
import uuid

import dagster as dg
import pandas as pd
import pytest

from churn_assets.settings import ENV_VARS
from churn_assets_tests.conftest import Warehouse

DATA = ["raw_events", "raw_events_quarantine", "user_daily", "user_features"]


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)


def test_data_graph_on_bigquery_equals_the_embedded_default(tmp_path, gcp_settings):
    with dg.instance_for_test() as local_instance, dg.instance_for_test() as gcp_instance:
        local = Warehouse(tmp_path / "local", local_instance, users=150)
        gcp = Warehouse(tmp_path / "gcp", gcp_instance, users=150, **gcp_settings)
        for wh in (local, gcp):
            wh.materialize(["raw_users", "raw_users_quarantine"])
            assert wh.materialize(DATA, "2026-01-01", "2026-01-10").success
            assert wh.materialize(DATA, "2026-01-05").success  # a re-run replaces exactly that slice
        for table in ("raw_users", "raw_events", "user_daily", "user_features"):
            a, b = sorted_frame(local.table(table)), sorted_frame(gcp.table(table))
            pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=table)
        assert len(gcp.table("raw_events_quarantine")) == 0  # the empty quarantine table exists


def test_a_missing_gcp_setting_is_an_error_at_load_naming_the_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME"))}
    env |= {"CHURN_DEPLOYMENT": "gcp", "CHURN_GCP_PROJECT": "p", "CHURN_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import churn_assets.definitions"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "CHURN_DEPLOYMENT=gcp needs CHURN_GCS_BUCKET (it is not set)" in result.stderr


def test_churn_assets_run_works_unchanged_on_gcp(tmp_path, gcp_settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME"))}
    env |= {ENV_VARS[k]: v for k, v in gcp_settings.items()}
    result = subprocess.run(
        ["churn-assets", "run", "--data-dir", str(tmp_path), "--users", "300", "--days", "90"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "promoted (first model" in result.stdout and "[7/7] drift report 2026-03-31" in result.stdout
    wh = Warehouse(tmp_path, None, users=300, **gcp_settings)
    assert len(wh.table("churn_predictions")) > 0
    assert wh.resources["artifacts"].registry().production() is not None  # the model lives in GCS
    assert not (tmp_path / "artifacts" / "models").exists()


def test_a_failing_partition_rewrite_on_bigquery_leaves_the_slice_as_it_was(bq_emulator):
    from google.cloud import bigquery

    from churn_assets.io.bigquery import bigquery_client, replace_slice_statement

    client = bigquery_client("churn-test", None)
    dataset = f"atomic_{uuid.uuid4().hex[:8]}"
    client.create_dataset(dataset)
    table = f"churn-test.{dataset}.events"
    client.create_table(bigquery.Table(table, schema=[bigquery.SchemaField("DAY", "STRING")]))
    client.query(f"INSERT INTO `{table}` (DAY) VALUES ('a'), ('a'), ('b')").result()
    delete = f"DELETE FROM `{table}` WHERE DAY = 'a'"

    def days():
        rows = client.query(f"SELECT DAY FROM `{table}` ORDER BY DAY").to_dataframe(create_bqstorage_client=False)
        return rows["DAY"].tolist()

    # the insert fails inside the transaction (its staging table is gone): the delete is rolled back with it
    with pytest.raises(Exception, match="staging_gone"):
        client.query(replace_slice_statement(table, delete, f"churn-test.{dataset}.staging_gone", ["DAY"])).result()
    assert days() == ["a", "a", "b"]
    staging = f"churn-test.{dataset}.staging"
    client.create_table(bigquery.Table(staging, schema=[bigquery.SchemaField("DAY", "STRING")]))
    client.query(f"INSERT INTO `{staging}` (DAY) VALUES ('a')").result()
    client.query(replace_slice_statement(table, delete, staging, ["DAY"])).result()
    assert days() == ["a", "b"]
