"""The sensors that run the jobs when the data is there, and the weekly retraining.

What exists is read from the warehouse (``partition_log``), never from the Dagster instance, so the CLI, the
stock ``dagster``/``dg`` commands and the daemon agree whatever ``DAGSTER_HOME`` is.

* ``daily_refresh_sensor``: the earliest partition day without features, once the source holds its events
  (``ChurnSource.waiting_for``) -> daily_job (daily_data_job while no model is in production).
* ``daily_refresh_schedule`` (daily, ``CHURN_SCHEDULE_HOUR`` UTC): the same decision as the refresh sensor, at a
  fixed hour (what a team that plans around a daily cut-off expects to see under Schedules); the sensor stays the
  trigger that reacts when the data lands. Both tag their runs with the day and skip a day that has a run, so the
  two never refresh a day twice.
* ``labels_sensor``: the label days whose horizon the warehouse holds, in one ranged run of labels_job.
* ``weekly_retrain_schedule`` (Mondays, ``CHURN_SCHEDULE_HOUR`` UTC): training_set -> churn_model ->
  production_model for the latest labelled day.
* ``drift_sensor``: on each new drift_report materialization, one retraining run when drift crossed the
  fail threshold, with a run key tied to that report; otherwise a skip reason that says why. The early warning.
* ``outcomes_sensor``: prediction_outcomes of each scored day once its labels exist (one run per day, ever).
* ``decay_sensor``: one retraining run per production version when the realized ROC-AUC of its last
  ``CHURN_DECAY_DAYS`` matured days falls more than ``CHURN_DECAY_MARGIN`` below its test ROC-AUC; otherwise a
  skip reason naming both figures. The measured verdict, where drift is a proxy.

Sensors and the schedule start running with the code location unless ``CHURN_AUTOMATION=off``.
"""

import dagster as dg

from churn_assets.core.monitoring.readiness import OUTCOME_INPUTS, matured_days, next_label_range, next_refresh_day
from churn_assets.core.warehouse.queries import realized_select
from churn_assets.defs.jobs import DATA_ASSETS, daily_data_job, daily_job, labels_job, outcomes_job, retrain_job
from churn_assets.defs.partitions import DailyGraph
from churn_assets.defs.resources import ChurnSource, Warehouse
from churn_assets.io.artifacts import ArtifactsResource
from churn_assets.wiring.runs import range_tags

DAY_TAG = "churn/refresh_day"
LABELS_TAG = "churn/label_days"
IN_FLIGHT = {dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}  # fmt: skip


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


def automation(
    graph: DailyGraph,
    *,
    running: bool,
    sensor_seconds: int,
    schedule_hour: int,
    decay_days: int = 7,
    decay_margin: float = 0.05,
    refresh_cron: str = "",
) -> tuple[list[dg.ScheduleDefinition], list[dg.SensorDefinition]]:
    """The schedule and the sensors over the graph's partitions. ``running``: they start with the code location
    (``CHURN_AUTOMATION=on``); ``sensor_seconds``: the sensors' interval; ``schedule_hour``: the hour (UTC) of
    the daily refresh and of the weekly retraining; ``decay_days`` and ``decay_margin``: the decay sensor's
    rule; ``refresh_cron``: the refresh schedule's own cron, when not daily at ``schedule_hour``."""
    schedule_status = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    sensor_status = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED
    horizon = graph.calendar.decided_days  # a label waits for its horizon and, for cancellations, the grace
    no_partition = f"no partition has ended yet: the first is {graph.start} (UTC)"

    def refresh(instance, source: ChurnSource, warehouse: Warehouse, artifacts: ArtifactsResource):
        """The refresh of the earliest day without features whose events the source holds, or why none: the one
        decision of the sensor and the schedule."""
        first, last = graph.start, graph.last_partition()
        if last is None:
            return dg.SkipReason(no_partition)
        done = warehouse.engine().written_days("user_features", first, last)
        plan = next_refresh_day(first, last, done, source.waiting_for)
        if plan.first is None:
            return dg.SkipReason(plan.reason)
        day = plan.first.isoformat()
        busy = _earlier_run(instance, DAY_TAG, day)
        if busy:
            return dg.SkipReason(f"{day} waits: {busy}")
        job = daily_job if artifacts.registry().production() else daily_data_job
        return dg.RunRequest(partition_key=day, job_name=job.name, tags={DAY_TAG: day})

    @dg.sensor(
        jobs=[daily_job, daily_data_job],
        minimum_interval_seconds=sensor_seconds,
        default_status=sensor_status,
        description=(
            "The daily refresh once a day's events have arrived in the source: the earliest day of the partitions "
            "without features (daily_job: data, features, predictions and the drift report; daily_data_job while "
            "there is no production model). Otherwise a skip reason naming the day it waits for."
        ),
    )
    def daily_refresh_sensor(
        context: dg.SensorEvaluationContext, source: ChurnSource, warehouse: Warehouse, artifacts: ArtifactsResource
    ):
        return refresh(context.instance, source, warehouse, artifacts)

    @dg.schedule(
        job=daily_job,
        cron_schedule=refresh_cron or f"0 {schedule_hour} * * *",
        execution_timezone="UTC",
        default_status=schedule_status,
        description=(
            "The daily refresh at a fixed hour: the same decision as daily_refresh_sensor (the earliest day without "
            "features whose events have arrived, or a skip reason naming the day it waits for). A day with a run "
            "from either is skipped, so the two never refresh a day twice."
        ),
    )
    def daily_refresh_schedule(
        context: dg.ScheduleEvaluationContext, source: ChurnSource, warehouse: Warehouse, artifacts: ArtifactsResource
    ):
        decided = refresh(context.instance, source, warehouse, artifacts)
        if isinstance(decided, dg.RunRequest) and decided.job_name == daily_data_job.name:
            # a schedule targets one job: without a production model, daily_job's data assets only
            keys = [dg.AssetKey(name) for name in DATA_ASSETS]
            return dg.RunRequest(partition_key=decided.partition_key, tags=decided.tags, asset_selection=keys)
        return decided

    @dg.sensor(
        job=labels_job,
        minimum_interval_seconds=sensor_seconds,
        default_status=sensor_status,
        description=(
            f"Churn labels of the days whose {horizon}-day horizon is complete in the warehouse (features of "
            f"the day, user_state of the day + {horizon}), in one ranged run; otherwise why none is ready."
        ),
    )
    def labels_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse):
        first, last = graph.start, graph.last_partition()
        if last is None:
            return dg.SkipReason(no_partition)
        engine = warehouse.engine()
        plan = next_label_range(
            first,
            last,
            horizon_days=horizon,
            features=engine.written_days("user_features", first, last),
            states=engine.written_days("user_state", first, last),
            labels=engine.written_days("churn_labels", first, last),
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
        last = graph.last_partition()
        days = warehouse.engine().written_days("churn_labels", graph.start, last) if last else set()
        return max(days).isoformat() if days else None

    @dg.schedule(
        job=retrain_job,
        cron_schedule=f"0 {schedule_hour} * * 1",
        execution_timezone="UTC",
        default_status=schedule_status,
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
        minimum_interval_seconds=sensor_seconds,
        default_status=sensor_status,
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

    @dg.sensor(
        job=outcomes_job,
        minimum_interval_seconds=sensor_seconds,
        default_status=sensor_status,
        description=(
            "prediction_outcomes of each scored day once its churn labels exist (its horizon has closed): one run "
            "per day; otherwise which scored day waits for its labels."
        ),
    )
    def outcomes_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse):
        first, last = graph.start, graph.last_partition()
        if last is None:
            return dg.SkipReason(no_partition)
        engine = warehouse.engine()
        days, reason = matured_days(*(engine.written_days(t, first, last) for t in OUTCOME_INPUTS))
        if not days:
            return dg.SkipReason(reason)
        return [dg.RunRequest(run_key=f"outcomes-{d}", partition_key=d.isoformat()) for d in days]

    @dg.sensor(
        job=retrain_job,
        minimum_interval_seconds=sensor_seconds,
        default_status=sensor_status,
        description=(
            f"Retrains once per production version when the realized ROC-AUC of its last {decay_days} matured days "
            f"(prediction_outcomes) is more than {decay_margin} below its test ROC-AUC; otherwise both figures."
        ),
    )
    def decay_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse, artifacts: ArtifactsResource):
        registry = artifacts.registry()
        version = registry.production()
        if version is None:
            return dg.SkipReason("no production model: nothing has been scored to judge")
        engine = warehouse.engine()
        if not engine.table_exists("prediction_outcomes"):
            return dg.SkipReason("no scored day has matured yet: prediction_outcomes is empty")
        from churn_assets.core.retention.outcomes import decay  # scikit-learn: loaded by the tick that needs it

        test = registry.card(version).metrics.get("roc_auc")
        if test is None:
            return dg.SkipReason(f"{version} has no test ROC-AUC on its card to compare with")
        verdict = decay(engine.query(realized_select(engine.schema)), version, test, decay_days, decay_margin)
        if not verdict.decayed:
            return dg.SkipReason(verdict.describe())
        day = latest_label_day(warehouse)
        if day is None:
            return dg.SkipReason(f"{verdict.describe()}, but the warehouse holds no churn_labels day to train on")
        context.log.info(verdict.describe())
        return dg.RunRequest(
            run_key=f"decay-{version}",  # one retraining per production version, however long the decay lasts
            partition_key=day,
            tags={"churn/trigger": "decay", "churn/decayed_version": version},
        )

    sensors = [daily_refresh_sensor, labels_sensor, drift_sensor, outcomes_sensor, decay_sensor]
    return [daily_refresh_schedule, weekly_retrain_schedule], sensors
