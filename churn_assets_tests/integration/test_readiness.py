"""The daily refresh through the real daemon and webserver, on a per-day file export whose last day arrives late,
with the production instance: runs, event logs and sensor ticks in a real PostgreSQL server (a throwaway cluster
on a loopback port, churn_assets_tests/postgres.py).

A 40-day export: days 1-39 are loaded by ``churn-assets run``; the partitions end on day 40, whose file is not
there yet. The refresh sensor must say it waits for that day, stock ``dagster asset materialize`` must refuse the
day's features with the missing day named, and once the file lands the daemon must refresh the day and then label
the day whose 30-day horizon it completed.
"""

import subprocess
import sys
from datetime import date, timedelta

import pytest
import sqlalchemy
import yaml
from dagster_graphql import DagsterGraphQLClient

from churn_assets.cli.instance import POSTGRES_URL
from churn_assets.core.simulation.simulate import simulate_events
from churn_assets.settings import Settings
from churn_assets_tests.helpers import ROOT, clean_env, dagster_services, wait_for
from churn_assets_tests.postgres import postgres_server

FIRST = date(2026, 1, 1)
LAST = FIRST + timedelta(days=39)  # 2026-02-09: the day that arrives late
SIMULATION = Settings(users=120, start_date=FIRST, days=40, seed=3).simulation()
TICKS = """
query($name: String!) {
  sensorOrError(sensorSelector: {repositoryName: "__repository__", repositoryLocationName: "churn_assets",
                                 sensorName: $name}) {
    ... on Sensor { sensorState { ticks(limit: 20) { status skipReason runIds } } }
  }
}
"""
RUNS = """
query($job: String!) {
  pipelineOrError(params: {pipelineName: $job, repositoryName: "__repository__",
                           repositoryLocationName: "churn_assets"}) {
    ... on Pipeline { runs { runId status tags { key value } } }
  }
}
"""


def export(template: str, day: date) -> None:
    frame = simulate_events(SIMULATION, day).drop(columns=[], errors="ignore")
    frame.to_csv(template.replace("{date}", day.isoformat()), index=False)


@pytest.fixture(scope="module")
def late_day(tmp_path_factory):
    base = tmp_path_factory.mktemp("late")
    (base / "export").mkdir()
    template = str(base / "export" / "events_{date}.csv")
    for i in range(39):
        export(template, FIRST + timedelta(days=i))
    env = clean_env()
    with postgres_server() as url:
        env |= {
            "CHURN_DATA_DIR": str(base / "churn"),
            "DAGSTER_HOME": str(base / "dagster"),
            "CHURN_EVENTS_FILE": template,
            "CHURN_DAYS": "39",
            "CHURN_SENSOR_SECONDS": "5",
            POSTGRES_URL: url,
        }
        seeded = subprocess.run(["churn-assets", "run"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        env["CHURN_DAYS"] = "40"  # the export now covers day 40; its file has not landed
        with dagster_services(env, base / "logs") as port:
            client = DagsterGraphQLClient("127.0.0.1", port_number=port)
            yield {"client": client, "env": env, "template": template, "url": url, "home": base / "dagster"}


def test_the_instance_is_postgres_and_its_file_names_the_variable_only(late_day):
    """Every run the command and the daemon record is in PostgreSQL, and the UI lists them from there."""
    home, url = late_day["home"], late_day["url"]
    assert yaml.safe_load((home / "dagster.yaml").read_text())["storage"] == {
        "postgres": {"postgres_url": {"env": POSTGRES_URL}}
    }
    assert url not in (home / "dagster.yaml").read_text()
    assert not (home / "history").exists()  # no SQLite run storage beside it
    with sqlalchemy.create_engine(url).connect() as conn:
        stored = set(conn.execute(sqlalchemy.text("SELECT run_id FROM runs")).scalars())
    by_job = {job: runs(late_day["client"], job) for job in ("users_job", "daily_data_job", "labels_job")}
    assert all(by_job.values())  # the seeding command's stages, each listed by the webserver
    assert {r["runId"] for listed in by_job.values() for r in listed} <= stored


def ticks(client, name: str) -> list[dict]:
    return client._execute(TICKS, {"name": name})["sensorOrError"]["sensorState"]["ticks"]


def runs(client, job: str) -> list[dict]:
    return client._execute(RUNS, {"job": job})["pipelineOrError"]["runs"]


def test_the_sensor_waits_for_the_late_day_then_the_daemon_refreshes_and_labels_it(late_day):
    client, template = late_day["client"], late_day["template"]
    missing = template.replace("{date}", LAST.isoformat())
    reason = f"waiting for the events of {LAST}: {missing} does not exist yet"
    wait_for(
        "the refresh sensor's skip",
        lambda: any(t["skipReason"] == reason for t in ticks(client, "daily_refresh_sensor")),
        120,
    )

    # the stock command line, on a throw-away instance (no DAGSTER_HOME): the warehouse says what exists
    env = {k: v for k, v in late_day["env"].items() if k != "DAGSTER_HOME"}
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "churn_assets.definitions"]
    refused = subprocess.run(
        [*command, "--select", "user_features", "--partition", LAST.isoformat()],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0
    assert f"Cannot compute user_features {LAST}..{LAST}: user_daily is missing {LAST} (1 day)" in refused.stderr

    export(template, LAST)  # the file lands

    def refreshed():
        done = [
            r for r in runs(client, "daily_data_job") if {"key": "churn/refresh_day", "value": str(LAST)} in r["tags"]
        ]
        return done if done and done[0]["status"] in ("SUCCESS", "FAILURE") else None

    [run] = wait_for(f"the daemon's refresh of {LAST}", refreshed, timeout=240)
    assert run["status"] == "SUCCESS"
    # the label day whose 30-day horizon that day completed follows by the same rule
    label_day = str(LAST - timedelta(days=30))

    def labelled():
        found = [
            r
            for r in runs(client, "labels_job")
            if {"key": "churn/label_days", "value": f"{label_day}..{label_day}"} in r["tags"]
        ]
        return found if found and found[0]["status"] in ("SUCCESS", "FAILURE") else None

    [labels] = wait_for(f"the labels of {label_day}", labelled, timeout=240)
    assert labels["status"] == "SUCCESS"
    done = f"every day up to {LAST} (the last partition) is refreshed"
    wait_for(
        "the refresh sensor at rest",
        lambda: any(t["skipReason"] == done for t in ticks(client, "daily_refresh_sensor")),
        120,
    )


def test_the_stock_command_materializes_one_asset_of_a_multi_asset_alone(late_day):
    env = {k: v for k, v in late_day["env"].items() if k != "DAGSTER_HOME"}
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "churn_assets.definitions"]
    alone = subprocess.run(
        [*command, "--select", "raw_users"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert "RUN_SUCCESS" in alone.stderr
