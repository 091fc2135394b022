"""Drift of the inputs and of the predictions against the production model's training reference."""

from collections.abc import Iterator

import dagster as dg
import numpy as np
import pandas as pd

from churn_assets.assets.scoring import churn_predictions
from churn_assets.checks import check_specs, partition_check_events
from churn_assets.core.drift import drift_table, watched_features
from churn_assets.core.quality import Outcome
from churn_assets.core.training import numeric_features
from churn_assets.deployment import TABLE_KINDS
from churn_assets.metadata import table_metadata
from churn_assets.partitions import SETTINGS, daily_partitions, partition_days
from churn_assets.resources import ArtifactsResource, DriftPolicy, Warehouse
from churn_assets.tables import require

GROUP = "monitoring"
PREVIEW_COLUMNS = ["feature", "psi", "important", "drifted", "reference_mean", "current_mean"]
DRIFT_RULE = (
    "The drift sensor acts on max_important_psi (PSI over deciles of the reference, the important features and the "
    "prediction) reaching the fail threshold. Evidently's figures cover the same columns with its own per-column "
    "tests (K-S, Wasserstein), which flag small shifts in large samples that PSI rates low: read them, the "
    "sensor does not."
)
PREDICTION = "churn_probability"
STABLE_CHECK = (
    "important_features_stable",
    f"PSI of the model's important features and of the predictions: WARN from the warn threshold "
    f"({SETTINGS.drift_warn_psi}, CHURN_DRIFT_WARN_PSI), ERROR from the fail threshold ({SETTINGS.drift_fail_psi}, "
    "CHURN_DRIFT_FAIL_PSI).",
)


def drift_outcome(table: pd.DataFrame, warn: float, fail: float) -> Outcome:
    watched = table[table["important"]]
    worst = watched.iloc[0] if len(watched) else None
    meta = {
        "max_important_psi": float(worst["psi"]) if worst is not None else 0.0,
        "features_at_warn": watched.loc[watched["psi"] >= warn, "feature"].tolist(),
    }
    if worst is None or worst["psi"] < warn:
        return Outcome(True, "WARN", f"all important features below PSI {warn}", meta)
    severity = "ERROR" if worst["psi"] >= fail else "WARN"
    return Outcome(False, severity, f"{worst['feature']} has PSI {worst['psi']:.3f} (warn {warn}, fail {fail})", meta)


@dg.asset(
    description=(
        "Compares day t's eligible users' features and predicted churn probabilities with the training reference "
        "of the model that scored them: population stability index per feature (this table), and an Evidently "
        "data-drift report (HTML in the artifact store, linked from the materialization)."
    ),
    group_name=GROUP,
    kinds={"pandas", "evidently", *TABLE_KINDS},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={"partition_expr": "as_of_date"},
    ins={"user_features": dg.AssetIn(), "churn_predictions": dg.AssetIn(key=churn_predictions.key)},
    check_specs=check_specs("drift_report", [STABLE_CHECK], partitions_def=daily_partitions, blocking=False),
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
        outcome = drift_outcome(table, drift_policy.warn_psi, drift_policy.fail_psi)
        tables.append(table)
        outcomes[day] = {STABLE_CHECK[0]: outcome}
        summary = {
            **table_metadata(table.round(4), preview_rows=10, preview_columns=PREVIEW_COLUMNS),
            **report,
            "max_psi": round(float(table["psi"].max()), 4),
            "max_important_psi": round(outcome.metadata["max_important_psi"], 4),
            "drifted_features": table.loc[table["drifted"], "feature"].tolist(),
            "drift_detected": bool((table["drifted"] & table["important"]).any()),
            "drift_rule": DRIFT_RULE,
        }
        # every day of a ranged run has its own table, figures and report link, as a one-day run has
        context.add_asset_metadata(summary, partition_key=day)
    yield dg.MaterializeResult(value=pd.concat(tables, ignore_index=True))
    yield from partition_check_events(context, "drift_report", outcomes)


def _day_report(
    day: str, features: pd.DataFrame, predictions: pd.DataFrame, artifacts: ArtifactsResource, policy: DriftPolicy
) -> tuple[pd.DataFrame, dict]:
    """The PSI table of one day, and the Evidently report written to the artifact store."""
    # imported here: Evidently and scikit-learn take seconds to import, and every process that loads
    # the definitions (webserver, daemon, each run) would pay for it
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from churn_assets.core.models import predict_proba

    versions = predictions["model_version"].unique().tolist()
    if len(versions) != 1:
        raise dg.Failure(f"drift_report {day}: expected predictions of one model version, found {versions}")
    version = versions[0]
    registry = artifacts.registry()
    card = registry.card(version)
    reference = registry.frame(version, "reference")
    names = card["features"]
    reference[PREDICTION] = predict_proba(registry.load(version), reference, names)
    current = features.merge(predictions[["user_id", PREDICTION]], on="user_id")
    important = [*watched_features(card.get("feature_importance"), names, policy.top_features), PREDICTION]
    table = drift_table(reference, current, [*names, PREDICTION], important, policy.fail_psi)
    table.insert(0, "as_of_date", pd.Timestamp(day, tz="UTC"))
    table["model_version"] = version

    # Evidently's report covers what the sensor watches (the important features and the prediction), so its
    # verdict and the PSI table's `important` rows speak of the same columns; every feature's PSI is in the table.
    numeric = numeric_features(important)  # the prediction last, as in `important`
    # Evidently correlates the current columns; a column that is constant on a day (no minutes in a purchase log)
    # has no deviation, and numpy would warn on each division by zero. The drift of such a column is still
    # judged, here and in the PSI table.
    with np.errstate(divide="ignore", invalid="ignore"):
        snapshot = Report([DataDriftPreset()]).run(current_data=current[numeric], reference_data=reference[numeric])
    evidently = snapshot.dict()["metrics"][0]["value"]
    key = f"reports/drift/{day}-{version}.html"
    store = artifacts.store()
    store.write_bytes(key, snapshot.get_html_str(as_iframe=False).encode())
    return table, {
        "model_version": version,
        "evidently_report": dg.MetadataValue.url(artifacts.link(key, f"/reports/drift/{day}")),
        "evidently_drift_share": round(float(evidently["share"]), 4),
        "evidently_drifted_columns": int(evidently["count"]),
    }
