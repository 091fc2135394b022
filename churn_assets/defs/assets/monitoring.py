"""Drift of the inputs and of the predictions against the reference of the model that scored them."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from churn_assets.core.monitoring.day_drift import compare_day, drift_outcome, largest_shift
from churn_assets.defs.partitions import DailyGraph, partition_days
from churn_assets.defs.resources import DriftPolicy, Warehouse
from churn_assets.defs.tables import frame_asset, require
from churn_assets.io.artifacts import ArtifactsResource
from churn_assets.wiring.checks import CheckDef, check_specs, partition_check_events
from churn_assets.wiring.metadata import table_metadata

GROUP = "monitoring"
PREVIEW_COLUMNS = ["feature", "psi", "important", "drifted", "reference_mean", "current_mean"]
DRIFT_RULE = (
    "The drift sensor acts on max_important_psi (PSI over deciles of the reference, the important features and the "
    "prediction) reaching the fail threshold. Evidently's figures cover the same columns with its own per-column "
    "tests (K-S, Wasserstein), which flag small shifts in large samples that PSI rates low: read them, the "
    "sensor does not."
)
STABLE_CHECK = "important_features_stable"


def stable_check(warn_psi: float, fail_psi: float) -> CheckDef:
    return CheckDef(
        STABLE_CHECK,
        f"PSI of the model's important features and of the predictions: WARN from the warn threshold ({warn_psi}, "
        f"CHURN_DRIFT_WARN_PSI), ERROR from the fail threshold ({fail_psi}, CHURN_DRIFT_FAIL_PSI).",
    )


def _summary(table: pd.DataFrame, outcome, report: dict) -> dict:
    return {
        **table_metadata(table.round(4), preview_rows=10, preview_columns=PREVIEW_COLUMNS),
        **report,
        "max_psi": round(float(table["psi"].max()), 4),
        "max_important_psi": round(outcome.metadata["max_important_psi"], 4),
        # drifted: the watched columns at the fail threshold, so only where the verdict is drift
        "drifted_features": table.loc[table["drifted"], "feature"].tolist(),
        "drift_detected": bool(table["drifted"].any()),
        "largest_shift": largest_shift(table),
        "drift_rule": DRIFT_RULE,
    }


def _day_report(
    day: str, features: pd.DataFrame, predictions: pd.DataFrame, artifacts: ArtifactsResource, policy: DriftPolicy
) -> tuple[pd.DataFrame, dict]:
    """The PSI table of one day, and the Evidently report written to the artifact store and linked."""
    versions = predictions["model_version"].unique().tolist()
    if len(versions) != 1:
        raise dg.Failure(f"drift_report {day}: expected predictions of one model version, found {versions}")
    day_drift = compare_day(
        day, features, predictions, artifacts.registry(), versions[0], policy.top_features, policy.fail_psi
    )
    key = f"reports/drift/{day}-{day_drift.version}.html"
    artifacts.store().write_bytes(key, day_drift.html.encode())
    return day_drift.table, {
        "model_version": day_drift.version,
        "evidently_report": dg.MetadataValue.url(artifacts.link(key, f"/reports/drift/{day}")),
        "evidently_drift_share": day_drift.evidently_share,
        "evidently_drifted_columns": day_drift.evidently_drifted,
    }


def monitoring_assets(graph: DailyGraph, *, warn_psi: float, fail_psi: float) -> list[dg.AssetsDefinition]:
    """drift_report over the graph's partitions; ``warn_psi``/``fail_psi`` are quoted in its check."""

    @dg.asset(
        description=(
            "Compares day t's eligible users' features and predicted churn probabilities with the reference (a "
            "sample of the test window) of the model that scored them: population stability index per feature (this "
            "table), and an Evidently data-drift report (HTML in the artifact store, linked from the materialization)."
        ),
        group_name=GROUP,
        **frame_asset(graph, kinds={"pandas", "evidently"}),
        ins={"user_features": dg.AssetIn(), "churn_predictions": dg.AssetIn(key="churn_predictions")},
        check_specs=check_specs(
            "drift_report", [stable_check(warn_psi, fail_psi)], partitions_def=graph.partitions, blocking=False
        ),
    )
    def drift_report(
        context: dg.AssetExecutionContext,
        user_features: pd.DataFrame,
        churn_predictions: pd.DataFrame,
        artifacts: ArtifactsResource,
        drift_policy: DriftPolicy,
        warehouse: Warehouse,
    ) -> Iterator:
        days = partition_days(context)
        require(warehouse.engine(), f"drift_report {days[0]}..{days[-1]}", "churn_predictions", days)
        tables, outcomes = [], {}
        for day in context.partition_keys:
            stamp = pd.Timestamp(day, tz="UTC")
            table, report = _day_report(
                day,
                user_features[user_features["as_of_date"] == stamp],
                churn_predictions[churn_predictions["as_of_date"] == stamp],
                artifacts,
                drift_policy,
            )
            outcome = drift_outcome(table, warn=drift_policy.warn_psi, fail=drift_policy.fail_psi)
            tables.append(table)
            outcomes[day] = {STABLE_CHECK: outcome}
            # every day of a ranged run has its own table, figures and report link, as a one-day run has
            context.add_asset_metadata(_summary(table, outcome, report), partition_key=day)
        yield dg.MaterializeResult(value=pd.concat(tables, ignore_index=True))
        yield from partition_check_events(context, "drift_report", outcomes)

    return [drift_report]
