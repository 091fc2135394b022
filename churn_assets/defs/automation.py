"""Jobs, the sensors that run them when the data is there, and the weekly retraining.

What exists is read from the warehouse (``partition_log``), never from the Dagster instance, so the CLI, the
stock ``dagster``/``dg`` commands and the daemon agree whatever ``DAGSTER_HOME`` is.

* ``daily_refresh_sensor``: the earliest partition day without features, once the source holds its events
  (``ChurnSource.waiting_for``) -> daily_job (daily_data_job while no model is in production).
* ``labels_sensor``: the label days whose horizon the warehouse holds, in one ranged run of labels_job.
* ``weekly_retrain_schedule`` (Mondays, ``CHURN_SCHEDULE_HOUR`` UTC): training_set -> churn_model ->
  production_model for the latest labelled day.
* ``drift_sensor``: on each new drift_report materialization, one retraining run when drift crossed the
  fail threshold, with a run key tied to that report; otherwise a skip reason that says why.

Sensors and the schedule start running with the code location unless ``CHURN_AUTOMATION=off``.
"""

from datetime import date

import dagster as dg

from churn_assets.core.monitoring.readiness import next_label_range, next_refresh_day
from churn_assets.defs.partitions import LABEL_HORIZON_DAYS, START_DATE, daily_partitions
from churn_assets.defs.resources import ChurnSource, Warehouse
from churn_assets.io.artifacts import ArtifactsResource
from churn_assets.settings import environment_settings
from churn_assets.wiring.runs import range_tags

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
    description="Compare a scored day with the reference of the model that scored it (a sample of its test window).",
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

AUTOMATION_STATUS = environment_settings().automation == "on"
SENSOR_SECONDS = environment_settings().sensor_seconds
SCHEDULE_STATUS = dg.DefaultScheduleStatus.RUNNING if AUTOMATION_STATUS else dg.DefaultScheduleStatus.STOPPED
SENSOR_STATUS = dg.DefaultSensorStatus.RUNNING if AUTOMATION_STATUS else dg.DefaultSensorStatus.STOPPED
DAY_TAG = "churn/refresh_day"
LABELS_TAG = "churn/label_days"
IN_FLIGHT = {dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}  # fmt: skip


NO_PARTITION = f"no partition has ended yet: the first is {START_DATE} (UTC)"


def _last_partition() -> date | None:
    key = daily_partitions.get_last_partition_key()
    return date.fromisoformat(key) if key else None


def _earlier_run(instance: dg.DagsterInstance, tag: str, value: str) -> str | None:
    """Why a day must wait when a run for it exists already: still going, or failed (re-execute it once fixed)."""
    runs = instance.get_runs(dg.RunsFilter(tags={tag: value}), limit=1)
    if not runs:
        return None
    run = runs[0]
    if run.status in IN_FLIGHT:
        return f"run {run.run_id[:8]} for {value} is {run.status.value.lower()}"
    if run.status != dg.DagsterRunStatus.SUCCESS:
        return f"run {run.run_id[:8]} for {value} {run.status.value.lower()}: fix the cause and re-execute it"
    return None


@dg.sensor(
    jobs=[daily_job, daily_data_job],
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=SENSOR_STATUS,
    description=(
        "The daily refresh once a day's events have arrived in the source: the earliest day of the partitions "
        "without features (daily_job: data, features, predictions and the drift report; daily_data_job while "
        "there is no production model). Otherwise a skip reason naming the day it waits for."
    ),
)
def daily_refresh_sensor(
    context: dg.SensorEvaluationContext, source: ChurnSource, warehouse: Warehouse, artifacts: ArtifactsResource
):
    first, last = START_DATE, _last_partition()
    if last is None:
        return dg.SkipReason(NO_PARTITION)
    done = warehouse.engine().written_days("user_features", first, last)
    plan = next_refresh_day(first, last, done, source.waiting_for)
    if plan.first is None:
        return dg.SkipReason(plan.reason)
    day = plan.first.isoformat()
    busy = _earlier_run(context.instance, DAY_TAG, day)
    if busy:
        return dg.SkipReason(f"{day} waits: {busy}")
    job = daily_job if artifacts.registry().production() else daily_data_job
    return dg.RunRequest(partition_key=day, job_name=job.name, tags={DAY_TAG: day})


@dg.sensor(
    job=labels_job,
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=SENSOR_STATUS,
    description=(
        f"Churn labels of the days whose {LABEL_HORIZON_DAYS}-day horizon is complete in the warehouse (features of "
        f"the day, user_state of the day + {LABEL_HORIZON_DAYS}), in one ranged run; otherwise why none is ready."
    ),
)
def labels_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse):
    first, last = START_DATE, _last_partition()
    if last is None:
        return dg.SkipReason(NO_PARTITION)
    engine = warehouse.engine()
    plan = next_label_range(
        first,
        last,
        LABEL_HORIZON_DAYS,
        engine.written_days("user_features", first, last),
        engine.written_days("user_state", first, last),
        engine.written_days("churn_labels", first, last),
    )
    if plan.first is None:
        return dg.SkipReason(plan.reason)
    span = f"{plan.first}..{plan.last}"
    busy = _earlier_run(context.instance, LABELS_TAG, span)
    if busy:
        return dg.SkipReason(f"labels {span} wait: {busy}")
    return dg.RunRequest(tags={**range_tags(plan.first.isoformat(), plan.last.isoformat()), LABELS_TAG: span})


def latest_label_day(warehouse: Warehouse) -> str | None:
    """The newest churn_labels day the warehouse holds, whichever Dagster instance wrote it."""
    last = _last_partition()
    days = warehouse.engine().written_days("churn_labels", START_DATE, last) if last else set()
    return max(days).isoformat() if days else None


@dg.schedule(
    job=retrain_job,
    cron_schedule=f"0 {environment_settings().schedule_hour} * * 1",
    execution_timezone="UTC",
    default_status=SCHEDULE_STATUS,
    description="Weekly retraining on the latest label-complete window in the warehouse, then promotion.",
)
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext, warehouse: Warehouse):
    day = latest_label_day(warehouse)
    if day is None:
        return dg.SkipReason("the warehouse holds no churn_labels day yet: nothing to train on")
    return dg.RunRequest(run_key=f"weekly-{context.scheduled_execution_time.date()}", partition_key=day)


@dg.asset_sensor(
    asset_key=dg.AssetKey("drift_report"),
    job=retrain_job,
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=SENSOR_STATUS,
    description="Retrains once per drift report whose important features crossed the fail threshold.",
)
def drift_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry, warehouse: Warehouse):
    mat = asset_event.asset_materialization
    meta = mat.metadata if mat else {}
    detected = meta.get("drift_detected")
    psi = meta.get("max_important_psi")
    report = f"drift_report {mat.partition if mat else '?'}"
    if detected is None or not detected.value:
        level = f"max important PSI {psi.value:.3f}" if psi is not None else "no PSI recorded"
        return dg.SkipReason(f"no drift in {report}: {level} is below the fail threshold")
    day = latest_label_day(warehouse)
    if day is None:
        return dg.SkipReason(f"drift in {report}, but the warehouse holds no churn_labels day to train on")
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
SCHEDULES = [weekly_retrain_schedule]
SENSORS = [daily_refresh_sensor, labels_sensor, drift_sensor]
