"""End to end through the real services: dagster-webserver and dagster-daemon on 127.0.0.1.

The fixture seeds a small data directory with `churn-assets run`, starts both services from
workspace.yaml on a free port with a temporary DAGSTER_HOME, and stops every process it started.
"""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient

ROOT = Path(__file__).resolve().parents[2]
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
RETRAIN_RUNS = """
query {
  runsOrError(filter: {pipelineName: "retrain_job"}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def server_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    base = tmp_path_factory.mktemp("services")
    hour = (datetime.now(UTC).hour + 12) % 24  # no scheduled tick while the test runs
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME"))}
    env |= {
        "CHURN_DATA_DIR": str(base / "churn"),
        "DAGSTER_HOME": str(base / "dagster"),
        "CHURN_USERS": "300",
        "CHURN_DAYS": "90",
        "CHURN_SCHEDULE_HOUR": str(hour),
    }
    seeded = subprocess.run(["churn-assets", "run"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    port = free_port()
    logs = base / "logs"
    logs.mkdir()
    workspace = str(ROOT / "workspace.yaml")
    commands = {
        "webserver": ["dagster-webserver", "-w", workspace, "-h", "127.0.0.1", "-p", str(port)],
        "daemon": ["dagster-daemon", "run", "-w", workspace],
    }
    processes = []
    try:
        for name, command in commands.items():
            out = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            processes.append(
                subprocess.Popen(
                    command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        wait_for("the webserver", lambda: server_up(port), timeout=120)
        yield {"client": DagsterGraphQLClient("127.0.0.1", port_number=port), "env": env, "logs": logs}
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


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
    assert schedules == {
        "daily_schedule": "RUNNING",
        "daily_labels_schedule": "RUNNING",
        "weekly_retrain_schedule": "RUNNING",
    }
    assert sensors == {"drift_sensor": "RUNNING"}


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

    def drift_run():
        runs = client._execute(RETRAIN_RUNS)["runsOrError"]["results"]
        return [r for r in runs if {"key": "churn/trigger", "value": "drift"} in r["tags"]]

    [run] = wait_for("the drift sensor's retraining run", drift_run, timeout=180)
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["churn/drift_report"] == "2026-03-31"
    assert tags["dagster/sensor_name"] == "drift_sensor"
    assert wait_for_run(client, run["runId"]) == "SUCCESS"
