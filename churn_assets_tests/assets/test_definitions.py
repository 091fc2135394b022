import os
import subprocess
import sys

import dagster as dg
import pandas as pd

from churn_assets.wiring.metadata import markdown, pipe_table
from churn_assets_tests.conftest import DEFS, GRAPH
from churn_assets_tests.helpers import TABLES as ALL_TABLES
from churn_assets_tests.helpers import clean_env

TABLES = set(ALL_TABLES)
SQL_TABLES = {
    "user_daily", "user_state", "subscription_state", "user_features", "user_type_features", "churn_labels",
    "training_set",
}  # fmt: skip
TABLES |= {"prediction_outcomes"}  # not in a single run's tables: it judges a day an earlier run scored
ASSETS = TABLES | {"churn_model", "production_model"}
UNPARTITIONED = {"raw_users", "raw_users_quarantine", "raw_subscriptions", "raw_subscriptions_quarantine"}
DAILY = TABLES - UNPARTITIONED | {"churn_model"}
GROUPS = {"ingestion", "activity", "features", "labels", "models", "predictions", "monitoring", "retention"}
# training, the call list and the outcomes run for one day at a time
SINGLE_RUN = DAILY - {"training_set", "churn_model", "call_list", "prediction_outcomes"}


def test_definitions_load_with_the_expected_assets_and_lineage():
    graph = DEFS.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == ASSETS
    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()
    }
    assert parents["raw_events"] == {"raw_users"}
    assert parents["user_daily"] == {"raw_events"}
    assert parents["user_state"] == {"user_daily", "user_state"}  # day t continues day t-1
    assert parents["user_features"] == {"user_daily", "user_state", "raw_users"}
    assert parents["user_type_features"] == {"user_features", "raw_events"}
    assert parents["raw_subscriptions"] == {"raw_users"}
    assert parents["subscription_state"] == {"raw_subscriptions"}
    assert parents["churn_labels"] == {"user_features", "user_state"}
    assert parents["training_set"] == {"user_features", "churn_labels"}
    assert parents["churn_model"] == {"training_set", "user_type_features"}
    assert parents["production_model"] == {"churn_model"}
    assert parents["churn_predictions"] == {"user_features", "user_type_features", "production_model"}
    assert parents["drift_report"] == {"user_features", "churn_predictions"}
    assert parents["call_list"] == {"churn_predictions"}
    assert parents["prediction_outcomes"] == {"churn_predictions", "churn_labels", "user_features"}


def test_the_cancellation_definition_reads_the_subscriptions():
    from churn_assets.definitions import build_definitions
    from churn_assets.settings import Settings

    graph = build_definitions(Settings(days=160, definition="cancellation")).resolve_asset_graph()
    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()
    }
    assert parents["user_features"] == {"user_daily", "user_state", "subscription_state", "raw_users"}
    assert parents["churn_labels"] == {"user_features", "user_state", "raw_subscriptions"}
    labels = graph.get(dg.AssetKey("churn_labels")).description
    assert "lapses on one of t+1 ... t+30" in labels and "settled once the data reaches t+37" in labels


def test_every_asset_has_description_group_kinds_and_daily_partitions_where_expected():
    graph = DEFS.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        assert node.description and len(node.description) > 30, name
        assert node.group_name in GROUPS, name
        assert node.kinds, name
        if name in SQL_TABLES:  # computed inside the warehouse: no DataFrame leaves it
            assert set(node.kinds) == {"sql", "duckdb"}, name
        elif name in TABLES:
            assert {"pandas", "duckdb"} <= set(node.kinds), name
        if name in DAILY:
            assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition), name
            assert node.partitions_def.timezone == "UTC"
        else:
            assert node.partitions_def is None, name
        if name in SINGLE_RUN:
            assert node.backfill_policy == dg.BackfillPolicy.single_run(), name


def test_checks_are_defined_blocking_and_partitioned_where_a_day_can_be_bad_on_its_own():
    graph = DEFS.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    assert set(checks) == {
        ("raw_users", "valid_rows"),
        ("raw_subscriptions", "valid_rows"),
        ("raw_events", "valid_day"),
        ("user_features", "complete_and_unique"),
        ("churn_labels", "label_rate_plausible"),
        ("training_set", "trainable"),
        ("drift_report", "important_features_stable"),
    }
    for (asset, _), spec in checks.items():
        assert spec.blocking == (asset != "drift_report")  # nothing downstream of the drift report to protect
        # raw data and drift are judged per day; derived tables once per run, naming failing days
        assert (spec.partitions_def is not None) == (asset in {"raw_events", "drift_report"})


def test_automation_is_defined_and_predictions_have_a_daily_freshness_policy():
    assert {s.name for s in DEFS.schedules} == {"daily_refresh_schedule", "weekly_retrain_schedule"}
    assert {s.name for s in DEFS.sensors} == {
        "daily_refresh_sensor",
        "labels_sensor",
        "drift_sensor",
        "outcomes_sensor",
        "decay_sensor",
    }
    policy = DEFS.resolve_asset_graph().get(dg.AssetKey("churn_predictions")).freshness_policy
    assert policy.fail_window.to_timedelta().total_seconds() == 30 * 3600


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "CHURN_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful" in result.stdout + result.stderr


def test_loading_the_definitions_writes_nothing(tmp_path):
    env = clean_env()
    result = subprocess.run(
        [sys.executable, "-c", "from churn_assets.definitions import defs; defs()"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []  # no ./.churn, no artifacts folder, no warehouse file


def test_dagster_cloud_yaml_names_the_module_and_the_gcp_environment_without_values():
    import importlib
    from pathlib import Path

    import yaml

    from churn_assets.settings import ENV_VARS

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "dagster_cloud.yaml").read_text())
    [location] = config["locations"]
    assert location["code_source"] == {"module_name": "churn_assets.definitions"}
    loaded = importlib.import_module("churn_assets.definitions").defs()  # the @dg.definitions entry point
    assert {s.name for s in loaded.sensors} == {s.name for s in DEFS.sensors}
    k8s = location["container_context"]["k8s"]
    assert "CHURN_DEPLOYMENT=gcp" in k8s["env_vars"]
    by_name = [v for v in k8s["env_vars"] if "=" not in v]
    assert set(by_name) <= set(ENV_VARS.values()) and {"CHURN_GCP_PROJECT", "CHURN_GCS_BUCKET"} <= set(by_name)
    assert not any(v.startswith("CHURN_GCP_CREDENTIALS_B64") for v in k8s["env_vars"])


def test_dg_lists_and_checks_the_definitions_without_writing_a_data_dir():
    """The stock `dg` command line reads `[tool.dg]` in pyproject.toml."""
    import json
    import shutil
    from pathlib import Path

    dg_cli = shutil.which("dg")
    assert dg_cli, "dg is installed with the test extra (dagster-dg-cli)"
    root = Path(__file__).resolve().parents[2]
    had_data_dir = (root / ".churn").exists()
    env = clean_env()
    run = {"cwd": root, "env": env, "capture_output": True, "text": True, "timeout": 180}
    check = subprocess.run([dg_cli, "check", "defs"], **run)
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    assert "All definitions loaded successfully." in check.stdout + check.stderr
    listed = subprocess.run([dg_cli, "list", "defs", "--json"], **run)
    assert listed.returncode == 0, listed.stderr[-2000:]
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    assert {"raw_users", "raw_events", "user_state", "churn_model", "churn_predictions", "drift_report"} <= keys
    assert (root / ".churn").exists() == had_data_dir  # loading the definitions writes nothing


def test_dg_launches_one_asset_of_a_multi_asset_alone(tmp_path):
    """`dg launch --assets raw_users`: the user table without its quarantine (none is needed on clean data)."""
    import shutil
    from pathlib import Path

    import duckdb

    root = Path(__file__).resolve().parents[2]
    env = clean_env()
    env |= {"CHURN_DATA_DIR": str(tmp_path / "d"), "CHURN_USERS": "50"}
    launched = subprocess.run(
        [shutil.which("dg"), "launch", "--assets", "raw_users"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-2000:]
    with duckdb.connect(str(tmp_path / "d" / "warehouse.duckdb"), read_only=True) as conn:
        tables = {row[0] for row in conn.execute("select table_name from information_schema.tables").fetchall()}
        assert conn.execute("select count(*) from churn.raw_users").fetchone()[0] == 50
    assert "raw_users_quarantine" not in tables


def test_training_window_reads_only_the_configured_days():
    keys = GRAPH.training_window.get_upstream_mapped_partitions_result_for_partitions(
        GRAPH.partitions.empty_subset().with_partition_keys(["2026-04-10"]), GRAPH.partitions, GRAPH.partitions
    ).partitions_subset.get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2026-01-11", "2026-04-10", 90)


def test_dg_scaffold_defs_adds_to_what_the_code_location_loads(tmp_path):
    """`dg scaffold defs` writes under churn_assets/defs/; the definitions load what it wrote beside the factories'."""
    import shutil
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    copy = tmp_path / "project"
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, copy / name)
    env = clean_env(PYTHONPATH=str(copy))
    run = {"cwd": copy, "env": env, "capture_output": True, "text": True, "timeout": 180}
    scaffolded = subprocess.run([shutil.which("dg"), "scaffold", "defs", "dagster.asset", "extra_asset.py"], **run)
    assert scaffolded.returncode == 0, scaffolded.stderr[-2000:]
    assert (copy / "churn_assets" / "defs" / "extra_asset.py").exists()
    script = (
        "from churn_assets.definitions import defs\n"
        "keys = defs().resolve_asset_graph().get_all_asset_keys()\n"
        "print(sorted(k.to_user_string() for k in keys))"
    )
    loaded = subprocess.run([sys.executable, "-W", "ignore", "-c", script], **run)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "'extra_asset'" in loaded.stdout and "'churn_predictions'" in loaded.stdout


def test_a_preview_is_a_markdown_pipe_table_of_its_rows():
    rows = pd.DataFrame(
        {
            "user_id": ["u1", "a|b"],
            "as_of_date": pd.to_datetime(["2026-01-01", None], utc=True),
            "minutes": [12.5, float("nan")],
            "events": pd.array([3, None], dtype="Int64"),
            "note": ["two\nlines", None],
        }
    )
    assert pipe_table(rows) == (
        "| user_id | as_of_date | minutes | events | note |\n"
        "|---|---|---|---|---|\n"
        "| u1 | 2026-01-01 00:00:00+00:00 | 12.5 | 3 | two lines |\n"
        "| a\\|b |  |  |  |  |"
    )
    assert markdown(rows.head(0)).value == "_no rows_" and markdown(None).value == "_no rows_"
