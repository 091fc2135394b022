"""Training set, candidate models, and the promotion of a production model."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import dagster as dg
import pandas as pd
from pydantic import Field

from churn_assets.core.days import day_range
from churn_assets.core.modeling.promotion import Bars, NothingToJudge, judge_latest
from churn_assets.core.modeling.training import (
    CANDIDATES,
    OPTIONAL_CANDIDATES,
    chosen_candidates,
    trainable_outcome,
    training_sample,
)
from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.core.warehouse.queries import label_days_select, training_extract_select, training_summary_select
from churn_assets.core.warehouse.sql import ts
from churn_assets.core.warehouse.types import type_pivot_select
from churn_assets.defs.partitions import DailyGraph
from churn_assets.defs.resources import ModelPolicy, Warehouse
from churn_assets.defs.tables import require, sql_asset, write_days
from churn_assets.io.artifacts import ArtifactsResource
from churn_assets.io.warehouse import ranked_types
from churn_assets.wiring.checks import CheckDef, check_result, check_specs
from churn_assets.wiring.model_metadata import code_version, model_metadata

GROUP = "models"


class ModelConfig(dg.Config):
    """Launchpad parameters of a training run: which candidates compete (all by default)."""

    candidates: list[str] = Field(
        default_factory=lambda: list(CANDIDATES),
        description=f"Candidate models to train and choose from; any non-empty subset of {list(CANDIDATES)}, and "
        f"{list(OPTIONAL_CANDIDATES)} (a stack of the learners, fitted four times over).",
    )


TRAINABLE_CHECK = CheckDef(
    "trainable",
    "The label-complete days of the window hold a training and a test window (with the label-horizon gap "
    "between them), each with at least 20 churned and 20 retained rows. Blocks training otherwise.",
)


def training_set_config(default_days: int) -> type[dg.Config]:
    """The training set's Launchpad parameters, defaulting to the setting (``CHURN_TRAIN_DAYS``)."""

    class TrainingSetConfig(dg.Config):
        """Launchpad parameters of a training set; the window ends on the partition day."""

        train_days: int = Field(
            default=default_days,
            ge=1,
            description=(
                f"Label days in the training window, ending on the partition day (CHURN_TRAIN_DAYS, {default_days})."
            ),
        )

    return TrainingSetConfig


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


def _with_type_features(engine, training_set: pd.DataFrame, end: date, policy: ModelPolicy, spec: FeatureSpec):
    """The training set with the columns of its window's most frequent source types (``CHURN_TYPE_FEATURES``),
    and those types with their columns' prefix (recorded in the card)."""
    first = training_set["as_of_date"].min().date() if len(training_set) else end
    types = ranked_types(engine, first, end, policy.type_features)
    if not types:
        return training_set, {}
    keys = f"SELECT user_id, as_of_date FROM {engine.schema}.training_set WHERE training_window_end = {ts(end)}"
    pivot = engine.query(type_pivot_select(engine.schema, keys, types, spec))
    return training_set.merge(pivot, on=["user_id", "as_of_date"], how="left").fillna(
        {c: 0 for c in pivot.columns[2:]}
    ), types


def model_assets(graph: DailyGraph) -> list[dg.AssetsDefinition]:
    """training_set, churn_model and production_model over the graph's partitions and training window."""
    TrainingSetConfig = training_set_config(graph.calendar.train_days)
    horizon = graph.calendar.horizon_days

    @dg.asset(
        description=(
            f"user_features joined with churn_labels over the {graph.calendar.train_days} label days up to T (the "
            "partition; a run's train_days in the launchpad changes it), sampled "
            "inside the warehouse to at most CHURN_TRAINING_MAX_ROWS rows, stratified by day and label (the same rows "
            "on every run and engine). `training_window_end` = T."
        ),
        group_name=GROUP,
        **sql_asset(graph, "training_set", ranged=False),
        deps=[
            dg.AssetDep("user_features", partition_mapping=graph.training_window),
            dg.AssetDep("churn_labels", partition_mapping=graph.training_window),
        ],
        check_specs=check_specs("training_set", [TRAINABLE_CHECK]),
    )
    def training_set(
        context: dg.AssetExecutionContext, config: TrainingSetConfig, warehouse: Warehouse, model_policy: ModelPolicy
    ) -> Iterator:
        end = date.fromisoformat(context.partition_key)
        window = day_range(*graph.calendar.training_window(end, first_day=graph.start, train_days=config.train_days))
        with warehouse.session() as engine:
            require(engine, f"the training set ending {end}", "churn_labels", window)
            label_days = engine.query(label_days_select(engine.schema, window[0], end))
            labelled = int(label_days["rows"].sum())
            sample = training_sample(labelled, model_policy.training_max_rows)
            select = training_extract_select(engine.schema, window[0], end, graph.features, sample["fraction"])
            write_days(context, engine, "training_set", [end], [select], graph.features)
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
            outcome = trainable_outcome(
                label_days, end, test_days=model_policy.test_days, horizon_days=graph.calendar.decided_days
            )
            yield check_result("training_set", TRAINABLE_CHECK.name, outcome)

    @dg.asset(
        description=(
            "Trains the candidates (logistic regression with and without SMOTE, gradient boosting reading BG/NBD's "
            "view of each customer, BG/NBD) on the training window's users but a held-out quarter; the held-out "
            "users' latest days calibrate each and choose the best (log loss). Judged on the latest label-complete "
            "days beside the baselines; the test window ends the label horizon after training and chooses nothing; "
            "then the chosen model is recalibrated on it, the newest matured days."
        ),
        group_name=GROUP,
        kinds={"scikitlearn", "python"},
        partitions_def=graph.partitions,
        deps=[dg.AssetDep("user_type_features", partition_mapping=graph.training_window)],
    )
    def churn_model(
        context: dg.AssetExecutionContext,
        config: ModelConfig,
        training_set: pd.DataFrame,
        model_policy: ModelPolicy,
        artifacts: ArtifactsResource,
        warehouse: Warehouse,
    ) -> dg.MaterializeResult:
        # imported here: scikit-learn, imbalanced-learn and matplotlib take seconds to import, and every
        # process that loads the definitions (webserver, daemon, each run) would pay for it
        from churn_assets.core.modeling.trainer import train_model

        candidates = chosen_candidates(config.candidates)  # an unknown name fails here, before any fit
        window_last = date.fromisoformat(context.partition_key)
        engine = warehouse.engine()
        training_set, types = _with_type_features(engine, training_set, window_last, model_policy, graph.features)
        trained = train_model(
            training_set,
            window_last,
            graph.features,
            policy=model_policy,
            horizon=horizon,
            candidates=candidates,
            settle_days=graph.calendar.settle_days,
            type_features=types,
        )
        launch = {"window_last": context.partition_key, "candidates": candidates, **_training_window(context)}
        shared = {"training_sample": _sampling(context), "code_version": code_version(), "launch": launch}
        registry = artifacts.registry()
        card = replace(trained.card, **shared)
        if trained.fallback_card is not None:  # registered first: the trained model stays the newest
            fallback, _ = registry.register(trained.fallback_model, replace(trained.fallback_card, **shared), {
                "test_set": trained.test, "reference": trained.frames["reference"]
            })  # fmt: skip
            card = replace(card, fallback=fallback)
            context.log.info(
                f"baseline model {fallback} ({trained.fallback_card.candidate}) registered as the fallback"
            )
        version, created = registry.register(trained.result.model, card, trained.frames)
        context.log.info(f"model {version} ({card.candidate}) {'registered' if created else 'already registered'}")
        link = artifacts.link(f"models/{version}/card.html", f"/v1/models/{version}/card.html")
        return dg.MaterializeResult(metadata=model_metadata(version, created, card, trained.result, link))

    @dg.asset(
        description=(
            "The production model pointer. The newest registered model replaces production only if its risk tiers "
            "are ordered on its test window and it beats the current production model, re-scored on the same test "
            "window, by the PR-AUC margin; the first model must beat recency alone by the ROC-AUC baseline margin and "
            "clear the ROC-AUC floor. Every version is judged once and the decision recorded in the registry, so a "
            "rollback is not undone by the next run."
        ),
        group_name=GROUP,
        kinds={"python"},
        deps=[churn_model],
    )
    def production_model(
        context: dg.AssetExecutionContext, model_policy: ModelPolicy, artifacts: ArtifactsResource
    ) -> dg.MaterializeResult:
        bars = Bars(model_policy.promotion_margin, model_policy.promotion_floor_roc_auc, model_policy.baseline_margin)
        try:
            judged = judge_latest(artifacts.registry(), bars)
        except NothingToJudge as exc:
            raise dg.Failure(str(exc)) from None
        verdict = "promoted" if judged.promoted else "not promoted"
        context.log.info(f"{judged.candidate_version}: {verdict}: {judged.reason}")
        return dg.MaterializeResult(metadata=judged.as_metadata())

    return [training_set, churn_model, production_model]
