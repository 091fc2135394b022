"""Sensor and schedule ticks evaluated against a real Dagster instance and a real DuckDB warehouse.

What exists is what the warehouse's partition_log records; the Dagster instance only knows which runs exist.
"""

from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd
import pytest

from churn_assets.core.days import day_range
from churn_assets.defs.deployment import build_resources
from churn_assets.defs.jobs import DAILY_ASSETS, DATA_ASSETS
from churn_assets.io.duckdb_engine import DuckDBEngine
from churn_assets.io.warehouse import create_partition_log
from churn_assets.settings import Settings
from churn_assets_tests.conftest import DEFS, GRAPH

D = date.fromisoformat
REPOSITORY = DEFS.get_repository_def()
daily_refresh_sensor = DEFS.get_sensor_def("daily_refresh_sensor")
labels_sensor = DEFS.get_sensor_def("labels_sensor")
drift_sensor = DEFS.get_sensor_def("drift_sensor")
weekly_retrain_schedule = DEFS.get_schedule_def("weekly_retrain_schedule")
daily_refresh_schedule = DEFS.get_schedule_def("daily_refresh_schedule")
daily_partitions = GRAPH.partitions


def mark(settings: Settings, table: str, first: str, last: str) -> None:
    """Record days of a table in partition_log, as a run that wrote them would."""
    engine = DuckDBEngine(str(settings.warehouse_path), "churn")
    rows = ", ".join(f"('{table}', TIMESTAMP '{d} 00:00:00+00', 1, now())" for d in day_range(D(first), D(last)))
    engine.run_transaction(
        [
            "CREATE SCHEMA IF NOT EXISTS churn",
            create_partition_log("churn"),
            f"INSERT INTO churn.partition_log VALUES {rows}",
        ]
    )


@pytest.fixture
def env(tmp_path):
    """Resources of a data directory whose source is a per-day file template, as a live export would be."""
    settings = Settings(data_dir=tmp_path / "data", events_file=str(tmp_path / "events_{date}.csv"), days=160)
    return settings, build_resources(settings)


def sensor_tick(sensor, instance, resources, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=DEFS) as context:
        return sensor.evaluate_tick(context)


def schedule_tick(schedule, instance, resources, moment=datetime(2026, 6, 10, 6, tzinfo=UTC)):
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=moment, resources=resources, repository_def=REPOSITORY
    ) as context:
        return schedule.evaluate_tick(context)


def write_day(settings: Settings, day: str) -> None:
    frame = pd.DataFrame({"user_id": ["u1"], "event_time": [f"{day}T10:00:00Z"], "event_type": ["session"]})
    frame.to_csv(settings.events_file.replace("{date}", day), index=False)


def test_the_partitions_end_at_the_sources_last_day():
    # the suite's settings: CHURN_START_DATE 2026-01-01 and CHURN_DAYS 160; today is long after
    assert daily_partitions.get_last_partition_key() == "2026-06-09"
    assert len(daily_partitions.get_partition_keys()) == 160


def test_refresh_waits_for_the_days_events_then_launches_it(env, instance):
    settings, resources = env
    mark(settings, "user_features", "2026-01-01", "2026-02-09")  # 40 days done, as a sparse history can be
    mark(settings, "user_features", "2026-02-12", "2026-02-12")
    waiting = sensor_tick(daily_refresh_sensor, instance, resources)
    assert waiting.run_requests == []
    assert waiting.skip_message == (
        f"waiting for the events of 2026-02-10: {settings.events_file.replace('{date}', '2026-02-10')} "
        "does not exist yet"
    )
    write_day(settings, "2026-02-10")  # the day's export lands
    [request] = sensor_tick(daily_refresh_sensor, instance, resources).run_requests
    # no production model yet: the data and features only
    assert (request.partition_key, request.job_name) == ("2026-02-10", "daily_data_job")
    assert request.tags["churn/refresh_day"] == "2026-02-10"


def test_refresh_does_not_launch_a_day_twice_and_says_why(env, instance):
    settings, resources = env
    mark(settings, "user_features", "2026-01-01", "2026-02-09")
    write_day(settings, "2026-02-10")
    # the day's run failed (a run record as the daemon leaves it; no failing run is executed in this process:
    # a failed in-process run can leave Dagster's context on an instance that is gone, for later tests to trip on)
    tags = {"churn/refresh_day": "2026-02-10"}
    failed = dg.DagsterRun(job_name="daily_data_job", run_id="fa11ed00-refresh", tags=tags)
    run = instance.add_run(failed.with_status(dg.DagsterRunStatus.FAILURE))
    skipped = sensor_tick(daily_refresh_sensor, instance, resources)
    assert skipped.skip_message == (
        f"2026-02-10 waits: run {run.run_id[:8]} for 2026-02-10 failure: fix the cause and re-execute it"
    )


def test_the_daily_schedule_decides_as_the_sensor_does_and_never_takes_a_day_the_sensor_has(env, instance):
    settings, resources = env
    assert daily_refresh_schedule.cron_schedule == "0 6 * * *"  # CHURN_SCHEDULE_HOUR, UTC
    assert (daily_refresh_schedule.job_name, daily_refresh_schedule.execution_timezone) == ("daily_job", "UTC")
    mark(settings, "user_features", "2026-01-01", "2026-02-09")
    waiting = schedule_tick(daily_refresh_schedule, instance, resources)
    assert waiting.skip_message == sensor_tick(daily_refresh_sensor, instance, resources).skip_message
    assert waiting.skip_message.startswith("waiting for the events of 2026-02-10: ")
    write_day(settings, "2026-02-10")
    [request] = schedule_tick(daily_refresh_schedule, instance, resources).run_requests
    # no production model: daily_job's data assets only (a schedule targets one job)
    assert (request.partition_key, request.tags["churn/refresh_day"]) == ("2026-02-10", "2026-02-10")
    assert sorted(k.to_user_string() for k in request.asset_selection) == sorted(DATA_ASSETS)
    # the sensor's run of the day is going: the schedule leaves the day to it
    taken = dg.DagsterRun(job_name="daily_data_job", run_id="5e450a1d-sensor", tags={"churn/refresh_day": "2026-02-10"})
    instance.add_run(taken.with_status(dg.DagsterRunStatus.STARTED))
    skipped = schedule_tick(daily_refresh_schedule, instance, resources)
    assert skipped.skip_message == "2026-02-10 waits: run 5e450a1d for 2026-02-10 is started"
    assert skipped.skip_message == sensor_tick(daily_refresh_sensor, instance, resources).skip_message


def test_refresh_stops_at_the_last_partition(env, instance):
    settings, resources = env
    mark(settings, "user_features", "2026-01-01", "2026-06-09")
    done = sensor_tick(daily_refresh_sensor, instance, resources)
    assert done.skip_message == "every day up to 2026-06-09 (the last partition) is refreshed"


def test_labels_run_once_the_warehouse_holds_their_horizon(env, instance):
    settings, resources = env
    mark(settings, "user_features", "2026-01-01", "2026-03-05")
    mark(settings, "user_state", "2026-01-01", "2026-03-05")
    mark(settings, "churn_labels", "2026-01-01", "2026-01-31")
    [request] = sensor_tick(labels_sensor, instance, resources).run_requests
    # 2026-02-01 ... 2026-02-03: their 30-day horizons end 2026-03-03 ... 2026-03-05
    assert request.tags["dagster/asset_partition_range_start"] == "2026-02-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-02-03"
    assert labels_sensor.job_name == "labels_job"
    mark(settings, "churn_labels", "2026-02-01", "2026-02-03")
    waiting = sensor_tick(labels_sensor, instance, resources)
    assert waiting.skip_message == (
        "no label day is ready: 2026-02-04 waits for the features of its day and user_state of 2026-03-06 "
        "(its 30-day horizon)"
    )


def test_daily_job_selects_the_refresh_assets():
    job = DEFS.resolve_job_def("daily_job")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == set(DAILY_ASSETS)
    assert daily_refresh_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_weekly_retraining_uses_the_latest_label_day_in_the_warehouse(env, instance):
    settings, resources = env
    moment = datetime(2026, 5, 4, 6, tzinfo=UTC)
    skipped = schedule_tick(weekly_retrain_schedule, instance, resources, moment)
    assert skipped.skip_message == "the warehouse holds no churn_labels day yet: nothing to train on"
    mark(settings, "churn_labels", "2026-01-01", "2026-03-31")
    [request] = schedule_tick(weekly_retrain_schedule, instance, resources, moment).run_requests
    assert (request.partition_key, request.run_key) == ("2026-03-31", "weekly-2026-05-04")
    assert weekly_retrain_schedule.cron_schedule == "0 6 * * 1"


def report(instance, day: str, drifted: bool, psi: float) -> None:
    metadata = {"drift_detected": drifted, "max_important_psi": psi}
    instance.report_runless_asset_event(dg.AssetMaterialization("drift_report", partition=day, metadata=metadata))


def test_drift_sensor_requests_one_retraining_per_drifted_report(env, instance):
    settings, resources = env
    mark(settings, "churn_labels", "2026-01-01", "2026-03-31")
    report(instance, "2026-04-29", drifted=False, psi=0.04)
    quiet = sensor_tick(drift_sensor, instance, resources)
    assert quiet.run_requests == []
    assert quiet.skip_message == (
        "no drift in drift_report 2026-04-29: max important PSI 0.040 is below the fail threshold"
    )

    report(instance, "2026-04-30", drifted=True, psi=0.83)
    loud = sensor_tick(drift_sensor, instance, resources, quiet.cursor)
    [request] = loud.run_requests
    assert request.partition_key == "2026-03-31"
    assert request.run_key.startswith("drift-2026-04-30-")
    assert request.tags["churn/trigger"] == "drift"

    again = sensor_tick(drift_sensor, instance, resources, loud.cursor)  # the same report: nothing new
    assert again.run_requests == []

    report(instance, "2026-05-01", drifted=True, psi=0.91)
    newer = sensor_tick(drift_sensor, instance, resources, again.cursor)
    [second] = newer.run_requests
    assert second.run_key.startswith("drift-2026-05-01-") and second.run_key != request.run_key
    assert drift_sensor.job_name == "retrain_job"
    assert drift_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_no_retraining_without_labels_in_the_warehouse(env, instance):
    _, resources = env
    report(instance, "2026-04-30", drifted=True, psi=0.83)
    skipped = sensor_tick(drift_sensor, instance, resources)
    assert skipped.skip_message == (
        "drift in drift_report 2026-04-30, but the warehouse holds no churn_labels day to train on"
    )


def test_outcomes_wait_for_a_scored_days_labels_then_run_once_per_matured_day(env, instance):
    settings, resources = env
    outcomes_sensor = DEFS.get_sensor_def("outcomes_sensor")
    assert sensor_tick(outcomes_sensor, instance, resources).skip_message == "no day is scored yet"
    mark(settings, "churn_predictions", "2026-03-30", "2026-03-31")
    mark(settings, "churn_labels", "2026-01-01", "2026-03-29")
    waiting = sensor_tick(outcomes_sensor, instance, resources)
    assert waiting.skip_message == "the scored day 2026-03-30 waits for its churn labels (its horizon has not closed)"
    mark(settings, "churn_labels", "2026-03-30", "2026-03-31")
    ready = sensor_tick(outcomes_sensor, instance, resources)
    assert [(r.partition_key, r.run_key) for r in ready.run_requests] == [
        ("2026-03-30", "outcomes-2026-03-30"),
        ("2026-03-31", "outcomes-2026-03-31"),
    ]
    assert outcomes_sensor.job_name == "outcomes_job"
    mark(settings, "prediction_outcomes", "2026-03-30", "2026-03-31")
    done = sensor_tick(outcomes_sensor, instance, resources)
    assert done.skip_message == "every scored day with labels has its outcomes"


def test_the_decay_sensor_waits_without_a_model_or_matured_days(env, instance):
    _, resources = env
    decay_sensor = DEFS.get_sensor_def("decay_sensor")
    skipped = sensor_tick(decay_sensor, instance, resources)
    assert skipped.skip_message == "no production model: nothing has been scored to judge"
    assert decay_sensor.job_name == "retrain_job"
