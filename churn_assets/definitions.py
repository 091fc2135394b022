"""The code location: every asset, check and job, with the resources of the configured deployment."""

from __future__ import annotations

import dagster as dg

from churn_assets.wiring.beta import deliberate

with deliberate():  # the asset decorators' single-run backfill policies (beta)
    from churn_assets.defs.assets import activity, features, ingestion, labels, models, monitoring, scoring
    from churn_assets.defs.automation import JOBS, SCHEDULES, SENSORS
    from churn_assets.defs.deployment import build_resources
    from churn_assets.settings import environment_settings

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingestion, activity, features, labels, models, scoring, monitoring]),
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=build_resources(environment_settings()),
    # one process per run: the warehouse does the parallel work, and a DuckDB file has a single writer
    executor=dg.in_process_executor,
)
