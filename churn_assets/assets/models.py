"""Training set, candidate models, and the promotion of a production model."""

import base64
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from importlib.metadata import version as package_version

import dagster as dg
import pandas as pd
from pydantic import Field

from churn_assets.assets.activity import SQL_KINDS
from churn_assets.checks import CheckDef, check_result, check_specs
from churn_assets.core.days import day_range
from churn_assets.core.promotion import Bars, promote_if_better
from churn_assets.core.queries import label_days_select, training_extract_select, training_summary_select
from churn_assets.core.training import CANDIDATES, TARGET, chosen_candidates, trainable_outcome, training_sample
from churn_assets.partitions import (
    FEATURES,
    LABEL_HORIZON_DAYS,
    START_DATE,
    TRAIN_DAYS,
    daily_partitions,
    training_window,
)
from churn_assets.resources import ArtifactsResource, ModelPolicy, Warehouse
from churn_assets.tables import require, sql_table, write_days

GROUP = "models"


class TrainingSetConfig(dg.Config):
    """Launchpad parameters of a training set; the window ends on the partition day."""

    train_days: int = Field(
        default=TRAIN_DAYS,
        ge=1,
        description=f"Label days in the training window, ending on the partition day (CHURN_TRAIN_DAYS, {TRAIN_DAYS}).",
    )


class ModelConfig(dg.Config):
    """Launchpad parameters of a training run: which candidates compete (all by default)."""

    candidates: list[str] = Field(
        default_factory=lambda: list(CANDIDATES),
        description=f"Candidate models to train and choose from; any non-empty subset of {list(CANDIDATES)}.",
    )


TRAINABLE_CHECK = CheckDef(
    "trainable",
    "The label-complete days of the window hold a training and a test window (with the label-horizon gap "
    "between them), each with at least 20 churned and 20 retained rows. Blocks training otherwise.",
)


@dg.asset(
    description=(
        f"user_features joined with churn_labels over the {TRAIN_DAYS} label days up to T (the partition; a run's "
        "train_days in the launchpad changes it), sampled "
        "inside the warehouse to at most CHURN_TRAINING_MAX_ROWS rows, stratified by day and label (the same rows "
        "on every run and engine). `training_window_end` = T."
    ),
    group_name=GROUP,
    kinds=SQL_KINDS,
    partitions_def=daily_partitions,
    metadata=sql_table("training_set"),
    deps=[
        dg.AssetDep("user_features", partition_mapping=training_window),
        dg.AssetDep("churn_labels", partition_mapping=training_window),
    ],
    check_specs=check_specs("training_set", [TRAINABLE_CHECK]),
)
def training_set(
    context: dg.AssetExecutionContext, config: TrainingSetConfig, warehouse: Warehouse, model_policy: ModelPolicy
) -> Iterator:
    end = date.fromisoformat(context.partition_key)
    window = day_range(max(START_DATE, end - timedelta(days=config.train_days - 1)), end)
    engine = warehouse.engine()
    require(engine, f"the training set ending {end}", "churn_labels", window)
    label_days = engine.query(label_days_select(engine.schema, window[0], end))
    labelled = int(label_days["rows"].sum())
    sample = training_sample(labelled, model_policy.training_max_rows)
    select = training_extract_select(engine.schema, window[0], end, FEATURES, sample["fraction"])
    write_days(context, engine, "training_set", [end], [select], FEATURES)
    summary = engine.query(training_summary_select(engine.schema, end))
    yield dg.MaterializeResult(
        metadata={
            "window_first": window[0].isoformat(),
            "window_last": end.isoformat(),
            "train_days": config.train_days,
            "label_days": int(summary["label_days"].iloc[0]),
            "positive_rate": round(float(summary["positive_rate"].iloc[0] or 0.0), 6),
            "sampling": dg.MetadataValue.json(sample),
        }
    )
    # too short or too thin to train and test is said here, with the numbers, and blocks the model's step
    outcome = trainable_outcome(label_days, end, model_policy.test_days, LABEL_HORIZON_DAYS)
    yield check_result("training_set", TRAINABLE_CHECK.name, outcome)


def _image(png: bytes, title: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})")


def _metrics_table(result) -> str:
    columns = ["pr_auc", "roc_auc", "f1", "precision", "recall", "brier", "lift_top_decile", "threshold"]
    table = pd.DataFrame(result.metrics).T[columns].round(4)
    table.insert(0, "held_out_pr_auc", pd.Series({n: round(m["pr_auc"], 4) for n, m in result.validation.items()}))
    table.insert(0, "fit_s", pd.Series(result.fit_seconds))
    table.index = [f"**{n}** (chosen)" if n == result.best else n for n in table.index]
    return table.to_markdown()


def _training_set_metadata(context: dg.AssetExecutionContext) -> dict:
    """The metadata of this partition's latest training set."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("training_set"), asset_partitions=[context.partition_key]),
        limit=1,
    ).records
    mat = records[0].asset_materialization if records else None
    return {k: v.value for k, v in mat.metadata.items()} if mat else {}


def _sampling(context: dg.AssetExecutionContext) -> dict:
    """How the training set of this partition was sampled."""
    return dict(_training_set_metadata(context).get("sampling") or {})


def _training_window(context: dg.AssetExecutionContext) -> dict:
    """The training set's window as it was launched (its own train_days)."""
    meta = _training_set_metadata(context)
    return {k: meta[k] for k in ("window_first", "train_days") if k in meta}


def _code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return f"churn_assets {package_version('churn_assets')} ({commit})"


@dg.asset(
    description=(
        "Trains the candidates (logistic regression with and without SMOTE, gradient boosting, BG/NBD) on the "
        "training window's users but a held-out quarter; the held-out users calibrate each and choose the best "
        "(log loss). Judged on the latest label-complete days beside recency alone and BG/NBD; the test window "
        "ends the label horizon after training and chooses nothing."
    ),
    group_name=GROUP,
    kinds={"scikitlearn", "python"},
    partitions_def=daily_partitions,
)
def churn_model(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    training_set: pd.DataFrame,
    model_policy: ModelPolicy,
    artifacts: ArtifactsResource,
) -> dg.MaterializeResult:
    # imported here: scikit-learn, imbalanced-learn and matplotlib take seconds to import, and every
    # process that loads the definitions (webserver, daemon, each run) would pay for it
    from churn_assets.core.card import train_model

    candidates = chosen_candidates(config.candidates)  # an unknown name fails here, before any fit
    window_last = date.fromisoformat(context.partition_key)
    trained = train_model(training_set, window_last, FEATURES, model_policy, LABEL_HORIZON_DAYS, candidates)
    launch = {"window_last": context.partition_key, "candidates": candidates, **_training_window(context)}
    card = trained.card | {"training_sample": _sampling(context), "code_version": _code_version(), "launch": launch}
    version, created = artifacts.registry().register(trained.result.model, card, trained.frames)
    context.log.info(f"model {version} ({card['candidate']}) {'registered' if created else 'already registered'}")
    link = artifacts.link(f"models/{version}/card.json", f"/v1/models/{version}/card")
    return dg.MaterializeResult(metadata=_model_metadata(version, created, card, trained.result, link))


def _model_metadata(version: str, created: bool, card: dict, result, card_link: str) -> dict:
    from churn_assets.core.plots import calibration_png, pr_curves_png

    y, best = result.y_test, card["metrics"]
    return {
        "model_version": version,
        "newly_registered": created,
        "chosen_candidate": result.best,
        "test_pr_auc": round(best["pr_auc"], 4),
        "test_roc_auc": round(best["roc_auc"], 4),
        **{
            f"{name}_{metric}": card["baselines"][name][metric]
            for name in ("recency", "bg_nbd")
            for metric in ("pr_auc", "roc_auc")
        },
        "baselines": dg.MetadataValue.json(card["baselines"]),
        "calibration_error": card["calibration"]["ece"],
        "recently_active": dg.MetadataValue.json(card["segments"]),
        "tiers_ordered": card["calibration"]["tiers_ordered"],
        "test_churn_rate_by_tier": dg.MetadataValue.json(
            {name: t["churn_rate"] for name, t in card["calibration"]["tiers"].items()}
        ),
        "candidates": dg.MetadataValue.md(_metrics_table(result)),
        "windows": dg.MetadataValue.json(card["windows"]),
        "pr_curve": _image(pr_curves_png(y, result.test_scores), "precision-recall"),
        "calibration": _image(calibration_png(y, result.test_scores[result.best], result.best), "calibration"),
        "model_card": dg.MetadataValue.url(card_link),
    }


@dg.asset(
    description=(
        "The production model pointer. The newest registered model replaces production only if its risk tiers are "
        "ordered on its test window and it beats the current production model, re-scored on the same test window, "
        "by the PR-AUC margin; the first model must beat recency alone by the ROC-AUC baseline margin and clear the "
        "ROC-AUC floor. Every version is judged once and the decision recorded in the registry, so a "
        "rollback is not undone by the next run."
    ),
    group_name=GROUP,
    kinds={"python"},
    deps=[churn_model],
)
def production_model(
    context: dg.AssetExecutionContext, model_policy: ModelPolicy, artifacts: ArtifactsResource
) -> dg.MaterializeResult:
    from churn_assets.core.models import evaluate, predict_proba

    registry = artifacts.registry()
    candidate = registry.latest()
    if candidate is None:
        raise dg.Failure("no trained model in the registry: materialize churn_model first")
    current = registry.production()
    earlier = registry.decision(candidate)
    if candidate == current or earlier is not None:
        reason = "already production" if candidate == current else f"already judged: {earlier['reason']}"
        return dg.MaterializeResult(
            metadata={
                "production_version": current or "",
                "candidate_version": candidate,
                "promoted": False,
                "reason": reason,
            }
        )
    card = registry.card(candidate)
    test = registry.frame(candidate, "test_set")
    production_metrics = None
    if current is not None:
        scores = predict_proba(registry.load(current), test, registry.card(current)["features"])
        production_metrics = evaluate(test[TARGET].to_numpy(), scores, registry.card(current)["threshold"])
    bars = Bars(model_policy.promotion_margin, model_policy.promotion_floor_roc_auc, model_policy.baseline_margin)
    decision = promote_if_better(
        card["metrics"], production_metrics, bars, card["baselines"]["recency"], card["calibration"]
    )
    registry.record_decision(candidate, decision.promote, decision.reason)
    if decision.promote:
        registry.promote(candidate, decision.reason)
    context.log.info(f"{candidate}: {'promoted' if decision.promote else 'not promoted'}: {decision.reason}")
    metadata = {
        "production_version": registry.production() or "",
        "candidate_version": candidate,
        "previous_version": current or "",
        "promoted": decision.promote,
        "reason": decision.reason,
        "candidate_pr_auc": round(card["metrics"]["pr_auc"], 4),
    }
    if production_metrics:
        metadata["production_pr_auc_same_window"] = round(production_metrics["pr_auc"], 4)
    return dg.MaterializeResult(metadata=metadata)
