"""End to end through the real services: dagster-webserver and dagster-daemon on 127.0.0.1.

The fixture seeds a small data directory with `churn-assets run`, starts both services from
workspace.yaml on a free port with a temporary DAGSTER_HOME, and stops every process it started.
"""

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient

from churn_assets.core.registry.artifacts import LocalArtifactStore
from churn_assets.core.registry.model_registry import ModelRegistry
from churn_assets.io.duckdb_engine import open_warehouse
from churn_assets_tests.helpers import ROOT, clean_env, dagster_services, wait_for

AUTOMATION = """
query {
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        schedules { name scheduleState { status } }
        sensors { name sensorState { status } }
      }
    }
  }
}
"""
JOB_RUNS = """
query($job: String!) {
  pipelineOrError(params: {pipelineName: $job, repositoryName: "__repository__",
                           repositoryLocationName: "churn_assets"}) {
    ... on Pipeline {
      pipelineSnapshotId
      runs { runId status pipelineSnapshotId tags { key value } repositoryOrigin { repositoryLocationName } }
    }
  }
}
"""
REEXECUTE = """
mutation($parent: String!) {
  launchPipelineReexecution(reexecutionParams: {parentRunId: $parent, strategy: ALL_STEPS}) {
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
CHECK_PARTITIONS = """
query {
  assetNodes(assetKeys: [{path: ["raw_events"]}]) {
    assetChecksOrError { ... on AssetChecks { checks { name partitionStatuses {
      ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
    } } } }
  }
}
"""
RETRAIN_RUNS = """
query {
  runsOrError(filter: {pipelineName: "retrain_job"}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


SEEDED_JOBS = ("daily_data_job", "labels_job")


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    base = tmp_path_factory.mktemp("services")
    hour = (datetime.now(UTC).hour + 12) % 24  # no scheduled tick while the test runs
    env = clean_env()
    env |= {
        "CHURN_DATA_DIR": str(base / "churn"),
        "DAGSTER_HOME": str(base / "dagster"),
        "CHURN_USERS": "300",
        "CHURN_DAYS": "90",
        "CHURN_SCHEDULE_HOUR": str(hour),
        "CHURN_REFRESH_CRON": "* * * * *",  # the daily refresh schedule ticks every minute through the daemon
        "CHURN_SENSOR_SECONDS": "5",  # the drift sensor answers within seconds, not a minute
    }
    seeded = subprocess.run(["churn-assets", "run"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    with dagster_services(env, base / "logs") as port:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        # what the UI shows of the seeding command, read before any test adds runs: the tests pass in any order
        seeded = {job: client._execute(JOB_RUNS, {"job": job})["pipelineOrError"] for job in SEEDED_JOBS}
        checks = client._execute(CHECK_PARTITIONS)["assetNodes"]
        yield {"client": client, "env": env, "logs": base / "logs", "seeded": seeded, "seeded_checks": checks}


def wait_for_run(client: DagsterGraphQLClient, run_id: str, timeout: float = 240) -> str:
    def finished():
        status = client.get_run_status(run_id).value
        return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

    return wait_for(f"run {run_id}", finished, timeout)


def test_daily_job_launched_through_graphql_succeeds(services):
    client = services["client"]
    run_id = client.submit_job_execution("daily_job", tags={"dagster/partition": "2026-03-31"})
    assert wait_for_run(client, run_id) == "SUCCESS"


def test_schedules_and_drift_sensor_are_loaded_and_running(services):
    nodes = services["client"]._execute(AUTOMATION)["repositoriesOrError"]["nodes"]
    schedules = {s["name"]: s["scheduleState"]["status"] for n in nodes for s in n["schedules"]}
    sensors = {s["name"]: s["sensorState"]["status"] for n in nodes for s in n["sensors"]}
    assert schedules == {"daily_refresh_schedule": "RUNNING", "weekly_retrain_schedule": "RUNNING"}
    assert sensors == {
        "daily_refresh_sensor": "RUNNING",
        "labels_sensor": "RUNNING",
        "drift_sensor": "RUNNING",
        "outcomes_sensor": "RUNNING",
        "decay_sensor": "RUNNING",
    }


def test_the_clis_ranged_runs_are_the_jobs_runs_and_re_execute_cleanly(services):
    client, job = services["client"], services["seeded"]["daily_data_job"]
    [seed] = job["runs"]  # the seeding command's events stage: one ranged run, listed under its job
    tags = {t["key"]: t["value"] for t in seed["tags"]}
    assert (seed["status"], seed["repositoryOrigin"]["repositoryLocationName"]) == ("SUCCESS", "churn_assets")
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        "2026-01-01",
        "2026-03-31",
    )
    # the same definitions: the UI finds no "different version" to warn about
    assert seed["pipelineSnapshotId"] == job["pipelineSnapshotId"]
    again = client._execute(REEXECUTE, {"parent": seed["runId"]})["launchPipelineReexecution"]
    assert wait_for_run(client, again["run"]["runId"]) == "SUCCESS"
    [labels] = services["seeded"]["labels_job"]["runs"]
    assert labels["status"] == "SUCCESS"


def test_each_days_check_result_is_attached_to_its_partition(services):
    [node] = services["seeded_checks"]
    statuses = {c["name"]: c["partitionStatuses"]["ranges"] for c in node["assetChecksOrError"]["checks"]}
    assert statuses["valid_day"] == [{"startKey": "2026-01-01", "endKey": "2026-03-31", "status": "SUCCEEDED"}]


def test_injected_drift_makes_the_daemon_launch_a_retraining_run(services):
    client = services["client"]
    drifted = subprocess.run(
        ["churn-assets", "run", "--drift-from", "2026-03-15"],
        env=services["env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert drifted.returncode == 0, drifted.stdout + drifted.stderr
    assert "drift detected" in drifted.stdout
    # the days before the drift are as the seeding run computed them: only the shifted days are recomputed
    assert "only 2026-03-15 on is new or changed" in drifted.stdout
    assert "events to features 2026-03-15..2026-03-31 ..." in drifted.stdout

    def drift_run():
        runs = client._execute(RETRAIN_RUNS)["runsOrError"]["results"]
        return [r for r in runs if {"key": "churn/trigger", "value": "drift"} in r["tags"]]

    [run] = wait_for("the drift sensor's retraining run", drift_run, timeout=180)
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["churn/drift_report"] == "2026-03-31"
    assert tags["dagster/sensor_name"] == "drift_sensor"
    assert wait_for_run(client, run["runId"]) == "SUCCESS"


SENSOR_TICKS = """
query($name: String!) {
  sensorOrError(sensorSelector: {repositoryName: "__repository__", repositoryLocationName: "churn_assets",
                                 sensorName: $name}) {
    ... on Sensor { sensorState { ticks(limit: 10) { status skipReason } } }
  }
}
"""


SCHEDULE_TICKS = """
query($name: String!) {
  scheduleOrError(scheduleSelector: {repositoryName: "__repository__", repositoryLocationName: "churn_assets",
                                     scheduleName: $name}) {
    ... on Schedule { scheduleState { ticks(limit: 10) { status skipReason } } }
  }
}
"""


def test_the_daemon_ticks_the_refresh_schedule_with_the_sensors_decision(services):
    client = services["client"]
    done = "every day up to 2026-03-31 (the last partition) is refreshed"

    def skipped():
        state = client._execute(SCHEDULE_TICKS, {"name": "daily_refresh_schedule"})["scheduleOrError"]
        return any(t["status"] == "SKIPPED" and t["skipReason"] == done for t in state["scheduleState"]["ticks"])

    wait_for("the refresh schedule's tick through the daemon", skipped, timeout=150)


def plant_outcomes(data_dir: Path, version: str, realized: list[float]) -> None:
    """Matured days judged for ``version`` in prediction_outcomes, as the outcomes runs would have written them."""
    days = ", ".join(
        f"(TIMESTAMPTZ '2026-03-{i + 1:02d} 00:00:00+00', '{version}', 'all', 'all', {value})"
        for i, value in enumerate(realized)
    )
    with open_warehouse(str(data_dir / "warehouse.duckdb"), lock_wait=60) as conn:
        conn.execute(
            "CREATE OR REPLACE TABLE churn.prediction_outcomes (as_of_date TIMESTAMPTZ, model_version VARCHAR, "
            "group_name VARCHAR, risk_tier VARCHAR, roc_auc DOUBLE)"
        )
        conn.execute(f"INSERT INTO churn.prediction_outcomes VALUES {days}")


def test_realized_decay_makes_the_daemon_retrain_once_and_names_both_figures_otherwise(services):
    """Runs after the drift test (file order): production is whatever that retraining left."""
    client, data = services["client"], Path(services["env"]["CHURN_DATA_DIR"])
    registry = ModelRegistry(LocalArtifactStore(data / "artifacts"))
    version = registry.production()
    test = round(registry.card(version).metrics["roc_auc"], 4)

    def skipped_with(reason):
        ticks = client._execute(SENSOR_TICKS, {"name": "decay_sensor"})["sensorOrError"]["sensorState"]["ticks"]
        return any(t["skipReason"] == reason for t in ticks)

    plant_outcomes(data, version, [test - 0.01] * 7)
    healthy = (
        f"realized ROC-AUC of {version} over 2026-03-01..2026-03-07 (7 days) {test - 0.01:.4f} is within its test "
        f"ROC-AUC {test:.4f} - margin 0.0500"
    )
    wait_for("the decay sensor's skip naming both figures", lambda: skipped_with(healthy), timeout=120)

    def decay_runs():
        runs = client._execute(RETRAIN_RUNS)["runsOrError"]["results"]
        return [r for r in runs if {"key": "churn/trigger", "value": "decay"} in r["tags"]]

    assert decay_runs() == []
    plant_outcomes(data, version, [test - 0.2] * 7)
    [run] = wait_for("the decay sensor's retraining run", decay_runs, timeout=120)
    assert {"key": "churn/decayed_version", "value": version} in run["tags"]
    time.sleep(11)  # two more ticks of the 5 s sensor: the same version's decay is not retrained twice
    assert len(decay_runs()) == 1  # (the retraining itself is the drift test's job, judged there)
