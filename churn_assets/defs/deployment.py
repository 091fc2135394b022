"""Resource sets per deployment, under the same keys, so asset code never branches on where it runs.

``CHURN_DEPLOYMENT=local`` (the default) keeps everything under ``CHURN_DATA_DIR``: a DuckDB
warehouse file (schema ``churn``), an artifact folder, and the Dagster instance. ``warehouse`` runs the
data layer's SQL in that warehouse; ``io_manager`` moves the tables that pandas produces (raw data,
predictions, drift report) and that models read.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from churn_assets.core.retention.value import value_model_for
from churn_assets.defs.resources import (
    BigQueryWarehouse,
    ChurnSource,
    DriftPolicy,
    DuckDBWarehouse,
    ModelPolicy,
    QualityPolicy,
    RetentionPolicy,
)
from churn_assets.io.artifacts import LocalArtifactsResource
from churn_assets.io.duckdb import WarehouseIOManager
from churn_assets.settings import Settings

WAREHOUSE_SCHEMA = "churn"


def source_from(settings: Settings, credentials: dg.EnvVar | None = None) -> ChurnSource:
    return ChurnSource(
        users=settings.users,
        start_date=settings.start_date.isoformat(),
        days=settings.days,
        signup_days=settings.simulation().signup_days,
        seed=settings.seed,
        profile=settings.profile,
        events_file=settings.events_file,
        users_file=settings.users_file,
        events_query=settings.events_query,
        bq_project=settings.gcp_project,
        bq_location=settings.bq_location,
        credentials_b64=credentials,
        drift_from=settings.drift_from.isoformat() if settings.drift_from else None,
        event_types=settings.event_types,
        subscriptions_file=settings.subscriptions_file,
        subscriptions_query=settings.subscriptions_query,
        control_share=settings.control_share,
        retention_effect=settings.sim_retention_effect,
    )


def model_policy_from(settings: Settings) -> ModelPolicy:
    return ModelPolicy(
        test_days=settings.test_days,
        promotion_margin=settings.promotion_margin,
        promotion_floor_roc_auc=settings.promotion_floor_roc_auc,
        baseline_margin=settings.baseline_margin,
        risk_high=settings.risk_high,
        risk_medium=settings.risk_medium,
        training_max_rows=settings.training_max_rows,
        type_features=settings.type_features,
    )


def shared_resources(settings: Settings) -> dict[str, Any]:
    """Resources every deployment has alike: the source and the policies."""
    return {
        "source": source_from(settings),
        "quality": QualityPolicy(
            max_reject_share=settings.max_reject_share,
            volume_tolerance=settings.volume_tolerance,
            max_shrink=settings.max_shrink,
        ),
        "model_policy": model_policy_from(settings),
        "retention": RetentionPolicy(
            value_model=value_model_for(settings.feature_spec.cancellation, settings.has_subscriptions),
            control_share=settings.control_share,
            call_list_size=settings.call_list_size,
            call_cost=settings.call_cost,
            call_budget=settings.call_budget,
        ),
        "drift_policy": DriftPolicy(
            warn_psi=settings.drift_warn_psi,
            fail_psi=settings.drift_fail_psi,
            top_features=settings.drift_top_features,
        ),
    }


def gcp_resources(settings: Settings) -> dict[str, Any]:
    """BigQuery tables and GCS artifacts; the emulators are used when their standard variables are set.

    The service-account key reaches the resources as ``dg.EnvVar``: Dagster records the variable's name in its
    resource config, run snapshots and UI, and reads the value only inside the process that runs a step.
    """
    from dagster_gcp import GCSResource

    from churn_assets.io.bigquery import BigQueryWarehouseIOManager
    from churn_assets.io.gcs import GCSArtifactsResource

    credentials = dg.EnvVar(settings.gcp_credentials_var) if settings.gcp_credentials_var else None
    return {
        **shared_resources(settings),
        "source": source_from(settings, credentials),
        "warehouse": BigQueryWarehouse(
            project=settings.gcp_project,
            dataset=settings.bq_dataset,
            location=settings.bq_location,
            credentials_b64=credentials,
            retry_seconds=settings.bq_retry_seconds,
        ),
        "io_manager": BigQueryWarehouseIOManager(
            project=settings.gcp_project,
            dataset=settings.bq_dataset,
            location=settings.bq_location,
            gcp_credentials=credentials,
            retry_seconds=settings.bq_retry_seconds,
        ),
        "artifacts": GCSArtifactsResource(
            gcs=GCSResource(project=settings.gcp_project),
            bucket=settings.gcs_bucket,
            prefix=settings.gcs_prefix,
            credentials_b64=credentials,
        ),
    }


def local_resources(settings: Settings) -> dict[str, Any]:
    """DuckDB file and artifact folder under the data directory. Nothing is created here: loading definitions
    (the webserver, ``dagster definitions validate``) must not write; the first write creates what it needs."""
    return {
        **shared_resources(settings),
        "warehouse": DuckDBWarehouse(
            database=str(settings.warehouse_path),
            schema_name=WAREHOUSE_SCHEMA,
            memory_limit=settings.duckdb_memory_limit,
        ),
        "io_manager": WarehouseIOManager(database=str(settings.warehouse_path), schema=WAREHOUSE_SCHEMA),
        "artifacts": LocalArtifactsResource(root=str(settings.artifacts_dir.resolve()), serve_url=settings.serve_url),
    }


def build_resources(settings: Settings) -> dict[str, Any]:
    builders = {"local": local_resources, "gcp": gcp_resources}
    return builders[settings.deployment](settings)


def resolved_resource(settings: Settings, name: str) -> Any:
    """One resource of the deployment with its configuration resolved (``dg.EnvVar`` values read), as in a run:
    for the commands that work outside a run (``model``, ``serve``, ``evaluate``)."""
    with dg.build_resources({name: build_resources(settings)[name]}) as resources:
        return getattr(resources, name)
