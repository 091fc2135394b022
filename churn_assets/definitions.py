"""The code location: every asset, check and job, with the resources of the configured deployment."""

from __future__ import annotations

import warnings

import dagster as dg

# Single-run backfill policies and partitioned asset checks are used deliberately; Dagster marks them beta and
# preview and would warn on every load. Silenced while these definitions are built, nowhere else.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    warnings.simplefilter("ignore", dg.PreviewWarning)
    from churn_assets.assets import activity, features, ingestion, labels, models, monitoring, scoring
    from churn_assets.automation import JOBS, SCHEDULES, SENSORS
    from churn_assets.deployment import build_resources
    from churn_assets.partitions import SETTINGS

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingestion, activity, features, labels, models, scoring, monitoring]),
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=build_resources(SETTINGS),
    # one process per run: the warehouse does the parallel work, and a DuckDB file has a single writer
    executor=dg.in_process_executor,
)
