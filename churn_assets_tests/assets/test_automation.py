"""Schedule and sensor ticks evaluated against a real Dagster instance."""

from datetime import UTC, datetime

import dagster as dg

from churn_assets.automation import (
    DAILY_ASSETS,
    daily_labels_schedule,
    daily_schedule,
    drift_sensor,
    weekly_retrain_schedule,
)
from churn_assets.definitions import defs

REPOSITORY = defs.get_repository_def()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_schedules_request_yesterday_and_the_label_day_whose_horizon_completed(instance):
    context = dg.build_schedule_context(
        instance=instance, repository_def=REPOSITORY, scheduled_execution_time=at("2026-05-02T06:00:00")
    )
    [data] = daily_schedule.evaluate_tick(context).run_requests
    assert (data.partition_key, data.run_key) == ("2026-05-01", "daily-2026-05-01")
    assert daily_schedule.job_name == "daily_job"
    job = defs.resolve_job_def("daily_job")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == set(DAILY_ASSETS)
    # 2026-03-31's horizon (04-01 ... 04-30) was completed by the run for 2026-04-30, the day before
    [labels] = daily_labels_schedule.evaluate_tick(context).run_requests
    assert (labels.partition_key, labels.run_key, daily_labels_schedule.job_name) == (
        "2026-03-31",
        "labels-2026-03-31",
        "labels_job",
    )
    for schedule in (daily_schedule, daily_labels_schedule):
        assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "UTC"
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_no_label_day_before_the_first_partition(instance):
    context = dg.build_schedule_context(
        instance=instance, repository_def=REPOSITORY, scheduled_execution_time=at("2026-01-10T06:00:00")
    )
    assert daily_schedule.evaluate_tick(context).run_requests[0].partition_key == "2026-01-09"
    skipped = daily_labels_schedule.evaluate_tick(context)
    assert skipped.skip_message == "2025-12-09 is before the first partition: no label day yet"


def test_weekly_retraining_uses_the_latest_label_day(instance):
    context = dg.build_schedule_context(
        instance=instance, repository_def=REPOSITORY, scheduled_execution_time=at("2026-05-04T07:00:00")
    )
    skipped = weekly_retrain_schedule.evaluate_tick(context)
    assert skipped.skip_message == "no churn_labels partition is materialized yet: nothing to train on"
    for day in ("2026-03-30", "2026-03-31"):
        instance.report_runless_asset_event(dg.AssetMaterialization("churn_labels", partition=day))
    [request] = weekly_retrain_schedule.evaluate_tick(context).run_requests
    assert (request.partition_key, request.run_key) == ("2026-03-31", "weekly-2026-05-04")
    assert weekly_retrain_schedule.cron_schedule == "0 7 * * 1"


def report(instance, day: str, drifted: bool, psi: float) -> None:
    metadata = {"drift_detected": drifted, "max_important_psi": psi}
    instance.report_runless_asset_event(dg.AssetMaterialization("drift_report", partition=day, metadata=metadata))


def tick(instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return drift_sensor.evaluate_tick(context)


def test_drift_sensor_requests_one_retraining_per_drifted_report(instance):
    instance.report_runless_asset_event(dg.AssetMaterialization("churn_labels", partition="2026-03-31"))
    report(instance, "2026-04-29", drifted=False, psi=0.04)
    quiet = tick(instance, None)
    assert quiet.run_requests == []
    assert quiet.skip_message == (
        "no drift in drift_report 2026-04-29: max important PSI 0.040 is below the fail threshold"
    )

    report(instance, "2026-04-30", drifted=True, psi=0.83)
    loud = tick(instance, quiet.cursor)
    [request] = loud.run_requests
    assert request.partition_key == "2026-03-31"
    assert request.run_key.startswith("drift-2026-04-30-")
    assert request.tags["churn/trigger"] == "drift"

    again = tick(instance, loud.cursor)  # the same report: nothing new
    assert again.run_requests == []

    report(instance, "2026-05-01", drifted=True, psi=0.91)
    newer = tick(instance, again.cursor)
    [second] = newer.run_requests
    assert second.run_key.startswith("drift-2026-05-01-") and second.run_key != request.run_key
    assert drift_sensor.job_name == "retrain_job"
    assert drift_sensor.default_status == dg.DefaultSensorStatus.RUNNING
