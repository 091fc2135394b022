"""The code location: every asset, check, job, schedule and sensor, with the resources of the deployment.

The settings are resolved once, here, from the environment of the process that loads the code location (the
webserver, the daemon, a run, ``churn-assets``), and passed down: the asset and automation factories under
``defs/`` take the graph they shape, and no module reads the environment when it is imported. What a module
under ``defs/`` defines at module level (the jobs, and whatever ``dg scaffold defs`` adds there as a module) is
loaded from the folder.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

import churn_assets.defs
from churn_assets.settings import Settings, environment_settings
from churn_assets.wiring.beta import deliberate


# --8<-- [start:build_definitions]
def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything the code location holds, for ``settings``."""
    from churn_assets.defs.assets import activity, features, ingestion, labels, models, monitoring, retention, scoring
    from churn_assets.defs.automation import automation
    from churn_assets.defs.deployment import build_resources
    from churn_assets.defs.partitions import DailyGraph

    graph = DailyGraph.from_settings(settings)
    with deliberate():  # the asset decorators' single-run backfill policies (beta)
        assets = [
            *ingestion.ingestion_assets(graph),
            *activity.activity_assets(graph),
            *features.feature_assets(graph),
            *labels.label_assets(graph),
            *models.model_assets(graph),
            *scoring.scoring_assets(graph),
            *monitoring.monitoring_assets(graph, warn_psi=settings.drift_warn_psi, fail_psi=settings.drift_fail_psi),
            *retention.retention_assets(graph),
        ]
    schedules, sensors = automation(
        graph,
        running=settings.automation == "on",
        sensor_seconds=settings.sensor_seconds,
        schedule_hour=settings.schedule_hour,
        decay_days=settings.decay_days,
        decay_margin=settings.decay_margin,
        refresh_cron=settings.refresh_cron,
    )
    built = dg.Definitions(
        assets=assets,
        schedules=schedules,
        sensors=sensors,
        resources=build_resources(settings),
        # one process per run: the warehouse does the parallel work, and a DuckDB file has a single writer
        executor=dg.in_process_executor,
    )
    return dg.Definitions.merge(built, _defs_folder())


# --8<-- [end:build_definitions]


def _defs_folder() -> dg.Definitions:
    """What the modules under ``defs/`` define at module level (the jobs; anything ``dg scaffold defs`` adds as a
    Python module). Loaded as a package of modules rather than as a component tree: the component loader also
    discovers every component library installed (dagster-gcp's among them, with BigQuery's client) in each process
    that loads the code location, which is most of the time it takes to load it, for YAML components this
    project does not have (docs/development.md)."""
    with deliberate():  # the package loader is a preview API
        return dg.load_definitions_from_package_module(churn_assets.defs)


@dg.definitions
def defs() -> dg.Definitions:
    return _environment_definitions()


@cache
def _environment_definitions() -> dg.Definitions:
    """Built once per process, like the settings it is built from: ``churn-assets run`` executes each stage as a run
    of this code location, and every run would load it again."""
    return build_definitions(environment_settings())
