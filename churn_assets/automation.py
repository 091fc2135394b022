"""Jobs, schedules and the drift sensor.

* ``daily_schedule`` (``CHURN_SCHEDULE_HOUR``, UTC): yesterday's raw_events → user_daily → user_state → user_features
  → churn_predictions → drift_report.
* ``daily_labels_schedule`` (same hour): the churn_labels day whose 30-day horizon the previous daily run
  completed (yesterday - 31: its horizon ends the day before yesterday, so it never races today's run).
* ``weekly_retrain_schedule`` (Mondays, an hour later): training_set → churn_model → production_model for
  the latest materialized churn_labels day.
* ``drift_sensor``: on each new drift_report materialization, one retraining run when drift crossed the
  fail threshold, with a run key tied to that report; otherwise a skip reason that says why.

Schedules and the sensor start running with the code location unless ``CHURN_AUTOMATION=off``.
"""

from datetime import datetime, timedelta

import dagster as dg

from churn_assets.partitions import LABEL_HORIZON_DAYS, SETTINGS

DATA_ASSETS = ["raw_events", "raw_events_quarantine", "user_daily", "user_state", "user_features"]
DAILY_ASSETS = [*DATA_ASSETS, "churn_predictions", "drift_report"]
RETRAIN_ASSETS = ["training_set", "churn_model", "production_model"]

users_job = dg.define_asset_job(
    "users_job",
    selection=dg.AssetSelection.assets("raw_users", "raw_users_quarantine"),
    description="Load and validate the user table.",
)
daily_data_job = dg.define_asset_job(
    "daily_data_job",
    selection=dg.AssetSelection.assets(*DATA_ASSETS),
    description="Events of a day (or a range, in one run) to per-user aggregates and rolling features.",
)
labels_job = dg.define_asset_job(
    "labels_job",
    selection=dg.AssetSelection.assets("churn_labels"),
    description="Churn labels of days whose label horizon is complete.",
)
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets("training_set", "churn_model"),
    description="Build the training set of a window ending on a label-complete day and train the candidates.",
)
promotion_job = dg.define_asset_job(
    "promotion_job",
    selection=dg.AssetSelection.assets("production_model"),
    description="Judge the newest trained model against production and promote it if it is better.",
)
predictions_job = dg.define_asset_job(
    "predictions_job",
    selection=dg.AssetSelection.assets("churn_predictions"),
    description="Score every eligible user of a day with the production model.",
)
drift_job = dg.define_asset_job(
    "drift_job",
    selection=dg.AssetSelection.assets("drift_report"),
    description="Compare a scored day with the production model's training reference.",
)
daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    description="The daily refresh of a day: data, features, predictions and the drift report.",
)
retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.assets(*RETRAIN_ASSETS),
    description="Retrain on the window ending on a label-complete day, then judge the model for promotion.",
)

AUTOMATION_STATUS = SETTINGS.automation == "on"
SCHEDULE_STATUS = dg.DefaultScheduleStatus.RUNNING if AUTOMATION_STATUS else dg.DefaultScheduleStatus.STOPPED
SENSOR_STATUS = dg.DefaultSensorStatus.RUNNING if AUTOMATION_STATUS else dg.DefaultSensorStatus.STOPPED


def _day(moment: datetime, days_back: int) -> str:
    return (moment.date() - timedelta(days=days_back)).isoformat()


@dg.schedule(
    job=daily_job,
    cron_schedule=f"0 {SETTINGS.schedule_hour} * * *",
    execution_timezone="UTC",
    default_status=SCHEDULE_STATUS,
    description="Yesterday's data, features, predictions and drift report.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    yesterday = _day(context.scheduled_execution_time, 1)
    return dg.RunRequest(run_key=f"daily-{yesterday}", partition_key=yesterday)


@dg.schedule(
    job=labels_job,
    cron_schedule=f"0 {SETTINGS.schedule_hour} * * *",
    execution_timezone="UTC",
    default_status=SCHEDULE_STATUS,
    description="The label day whose 30-day horizon the previous daily run completed (yesterday - 31).",
)
def daily_labels_schedule(context: dg.ScheduleEvaluationContext):
    label_day = _day(context.scheduled_execution_time, LABEL_HORIZON_DAYS + 2)
    if label_day < SETTINGS.start_date.isoformat():
        return dg.SkipReason(f"{label_day} is before the first partition: no label day yet")
    return dg.RunRequest(run_key=f"labels-{label_day}", partition_key=label_day)


def latest_label_day(instance: dg.DagsterInstance) -> str | None:
    days = instance.get_materialized_partitions(dg.AssetKey("churn_labels"))
    return max(days) if days else None


@dg.schedule(
    job=retrain_job,
    cron_schedule=f"0 {(SETTINGS.schedule_hour + 1) % 24} * * 1",
    execution_timezone="UTC",
    default_status=SCHEDULE_STATUS,
    description="Weekly retraining on the latest label-complete window, then promotion.",
)
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext):
    day = latest_label_day(context.instance)
    if day is None:
        return dg.SkipReason("no churn_labels partition is materialized yet: nothing to train on")
    return dg.RunRequest(run_key=f"weekly-{_day(context.scheduled_execution_time, 0)}", partition_key=day)


@dg.asset_sensor(
    asset_key=dg.AssetKey("drift_report"),
    job=retrain_job,
    minimum_interval_seconds=15,
    default_status=SENSOR_STATUS,
    description="Retrains once per drift report whose important features crossed the fail threshold.",
)
def drift_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    mat = asset_event.asset_materialization
    meta = mat.metadata if mat else {}
    detected = meta.get("drift_detected")
    psi = meta.get("max_important_psi")
    report = f"drift_report {mat.partition if mat else '?'}"
    if detected is None or not detected.value:
        level = f"max important PSI {psi.value:.3f}" if psi is not None else "no PSI recorded"
        return dg.SkipReason(f"no drift in {report}: {level} is below the fail threshold")
    day = latest_label_day(context.instance)
    if day is None:
        return dg.SkipReason(f"drift in {report}, but no churn_labels partition to train on")
    return dg.RunRequest(
        run_key=f"drift-{mat.partition}-{asset_event.timestamp:.6f}",  # one run per report, ever
        partition_key=day,
        tags={"churn/trigger": "drift", "churn/drift_report": mat.partition or ""},
    )


JOBS = [
    users_job,
    daily_data_job,
    labels_job,
    training_job,
    promotion_job,
    predictions_job,
    drift_job,
    daily_job,
    retrain_job,
]
SCHEDULES = [daily_schedule, daily_labels_schedule, weekly_retrain_schedule]
SENSORS = [drift_sensor]
