"""The gcp deployment against local emulators: the same assets, tables in BigQuery, artifacts in GCS."""

import base64
import contextlib
import json
import sqlite3
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

import pandas as pd
import pytest
from dagster_graphql import DagsterGraphQLClient

from churn_assets.core.simulation.simulate import simulate_subscriptions
from churn_assets.defs.jobs import DATA_ASSETS
from churn_assets.io.bigquery_engine import bigquery_client
from churn_assets.settings import ENV_VARS
from churn_assets_tests.conftest import Warehouse
from churn_assets_tests.helpers import clean_env, dagster_services, embedded_instance

DATA = DATA_ASSETS


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)


def test_data_graph_on_bigquery_equals_the_embedded_default(tmp_path, gcp_settings):
    """The same SQL on both warehouses: every table of the data layer equal, down to the sampled training set."""
    with embedded_instance() as local_instance, embedded_instance() as gcp_instance:
        # a training cap below the labelled rows, so the sample itself is compared
        local = Warehouse(tmp_path / "local", local_instance, users=150, training_max_rows=100)
        gcp = Warehouse(tmp_path / "gcp", gcp_instance, users=150, training_max_rows=100, **gcp_settings)
        for wh in (local, gcp):
            wh.materialize(["raw_users", "raw_users_quarantine"])
            assert wh.materialize(DATA, "2026-01-01", "2026-02-09").success
            assert wh.materialize(DATA, "2026-01-05").success  # a re-run replaces exactly that slice
            assert wh.materialize(["churn_labels"], "2026-01-01", "2026-01-10").success
            # ten label days are a table to compare, but no model: the trainable check says why and blocks
            training = wh.materialize(["training_set"], "2026-01-10", raise_on_error=False)
            sampling = training.asset_materializations_for_node("training_set")[0].metadata["sampling"].value
            assert sampling["fraction"] < 1 and sampling["labelled_rows"] > 100
            (check,) = training.get_asset_check_evaluations()
            assert (check.check_name, check.passed, training.success) == ("trainable", False, False)
            assert check.description == (
                "Not trainable: the training window 2026-01-01..2026-01-10 is too short: it needs 14 test days, "
                "a 30-day gap and at least one training day (45 label days)"
            )
        tables = ["raw_users", "raw_events", "user_daily", "user_state", "user_features", "churn_labels"]
        for table in [*tables, "training_set", "partition_log"]:
            a, b = sorted_frame(local.table(table)), sorted_frame(gcp.table(table))
            if table == "partition_log":
                a, b = a.drop(columns="written_at"), b.drop(columns="written_at")
            pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=table)
        assert 0 < len(local.table("training_set")) <= 100
        assert len(gcp.table("raw_events_quarantine")) == 0  # the empty quarantine table exists
    # BigQuery's tables are partitioned by day and clustered by user: whether the layer's SQL or the IO manager
    # created them; a table without a day column (raw_users) is clustered only
    client = bigquery_client(gcp.settings.gcp_project, None)
    layout = {}
    for name in ("raw_users", "raw_events", "user_daily", "user_state", "user_features", "churn_labels",
                 "partition_log", "raw_events_quarantine"):  # fmt: skip
        table = client.get_table(f"{gcp.settings.gcp_project}.{gcp.settings.bq_dataset}.{name}")
        day = table.time_partitioning
        layout[name] = (day and (day.type_, day.field.lower()), [c.lower() for c in table.clustering_fields or []])
    assert layout == {
        "raw_users": (None, ["user_id"]),
        "raw_events": (("DAY", "event_time"), ["user_id"]),
        "user_daily": (("DAY", "activity_date"), ["user_id"]),
        "user_state": (("DAY", "as_of_date"), ["user_id"]),
        "user_features": (("DAY", "as_of_date"), ["user_id"]),
        "churn_labels": (("DAY", "as_of_date"), ["user_id"]),
        "partition_log": (("DAY", "partition_date"), ["table_name"]),
        "raw_events_quarantine": (("DAY", "partition_time"), ["user_id"]),
    }


def test_a_missing_gcp_setting_is_an_error_at_load_naming_the_variable(tmp_path):
    env = clean_env()
    env |= {"CHURN_DEPLOYMENT": "gcp", "CHURN_GCP_PROJECT": "my-project", "CHURN_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "from churn_assets.definitions import defs; defs()"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "CHURN_DEPLOYMENT=gcp needs CHURN_GCS_BUCKET (it is not set)" in result.stderr


RESOURCE_DETAILS = """
query {
  allTopLevelResourceDetailsOrError(
    repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "churn_assets"}
  ) {
    __typename
    ... on ResourceDetailsList { results { name configuredValues { key value type } } }
  }
}
"""


def fake_service_account_key() -> tuple[str, str]:
    """A base64 service-account key of the right shape whose private key is a marker we can search for."""
    marker = f"SECRET-{uuid.uuid4().hex}"
    info = {"type": "service_account", "client_email": "x@churn-test.iam.gserviceaccount.com", "private_key": marker}
    return base64.b64encode(json.dumps(info).encode()).decode(), marker


def stored_text(dagster_home: Path) -> str:
    """Every value of every row of the instance's SQLite storage (runs, snapshots, event logs), decompressed."""
    texts = []
    for db in dagster_home.rglob("*.db"):
        with sqlite3.connect(db) as conn:
            tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
            for table in tables:
                for row in conn.execute(f"select * from {table}"):
                    for value in row:
                        if isinstance(value, bytes):
                            with contextlib.suppress(zlib.error):
                                value = zlib.decompress(value)
                            value = value.decode("utf-8", "replace")
                        texts.append(str(value))
    return "\n".join(texts)


def test_churn_assets_run_works_unchanged_on_gcp_and_no_secret_reaches_dagster(tmp_path, gcp_settings):
    """The command on BigQuery and GCS, here counting churn as a subscription business does (the simulator's
    subscription profile, CHURN_DEFINITION=cancellation), and no secret in what Dagster stores or shows."""
    key, marker = fake_service_account_key()
    env = clean_env()
    env |= {ENV_VARS[k]: v for k, v in gcp_settings.items()} | {"CHURN_GCP_CREDENTIALS_B64": key}
    result = subprocess.run(
        ["churn-assets", "run", "--data-dir", str(tmp_path), "--users", "300", "--days", "100"]
        + ["--churn-definition", "cancellation"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Production model: m-" in result.stdout and "[7/7] drift report 2026-04-10" in result.stdout
    wh = Warehouse(tmp_path, None, users=300, days=100, definition="cancellation", **gcp_settings)
    assert wh.resources["artifacts"].registry().production() is not None  # the model lives in GCS
    assert not (tmp_path / "artifacts" / "models").exists()
    # scored: exactly the subscribers a period covers on the last day, every one a simulated subscriber
    state = wh.table("subscription_state")
    covered = set(state[(state["as_of_date"].dt.date.astype(str) == "2026-04-10") & state["covered"]]["user_id"])
    predictions = wh.table("churn_predictions")
    assert set(predictions[predictions["as_of_date"].dt.date.astype(str) == "2026-04-10"]["user_id"]) == covered
    assert covered and covered <= set(simulate_subscriptions(wh.settings.simulation())["user_id"])
    card = wh.registry.card(wh.registry.production())
    assert card.definition == "cancellation" and "sub_periods" in card.features

    # what anyone who opens the UI can read: the credential is a variable name, never its value
    env |= {"CHURN_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster")}
    with dagster_services(env, tmp_path / "logs", daemon=False) as port:
        answer = DagsterGraphQLClient("127.0.0.1", port_number=port)._execute(RESOURCE_DETAILS)
    details = answer["allTopLevelResourceDetailsOrError"]
    assert details["__typename"] == "ResourceDetailsList", details
    values = {(r["name"], v["key"]): v for r in details["results"] for v in r["configuredValues"]}
    assert values[("io_manager", "gcp_credentials")] == {
        "key": "gcp_credentials",
        "value": "CHURN_GCP_CREDENTIALS_B64",
        "type": "ENV_VAR",
    }
    assert values[("artifacts", "credentials_b64")]["type"] == "ENV_VAR"
    assert values[("warehouse", "credentials_b64")]["type"] == "ENV_VAR"  # the SQL layer's client too
    assert key not in json.dumps(answer) and marker not in json.dumps(answer)
    # and what the instance stored: 7 runs with their job snapshots, every event
    stored = stored_text(tmp_path / "dagster")
    assert stored.count("CHURN_GCP_CREDENTIALS_B64") > 0 and "daily_data_job" in stored
    assert key not in stored and marker not in stored and key[:40] not in stored


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
