"""Daily churn predictions with the production model at run time."""

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import pandas as pd

from churn_assets.core.control import in_control
from churn_assets.core.modeling.scoring import rank_predictions, score_users
from churn_assets.core.retention.value import value_columns, with_value
from churn_assets.core.serving.snapshot import publish_snapshot
from churn_assets.core.warehouse.queries import scored_day_select
from churn_assets.defs.partitions import DailyGraph, partition_days
from churn_assets.defs.resources import ModelPolicy, RetentionPolicy, Warehouse
from churn_assets.defs.tables import frame_asset, require
from churn_assets.io.artifacts import ArtifactsResource
from churn_assets.wiring.metadata import by_partition, column_schema

GROUP = "predictions"
TOP_USERS = 10


def _score(
    engine, days, registry, version: str, policy: ModelPolicy, retention: RetentionPolicy, graph
) -> pd.DataFrame:
    """The days' users scored by ``version``, read from the warehouse in chunks (with the source types the model
    was trained on, from its card), valued, flagged control or targeted, ranked within each day."""
    card, model = registry.card(version), registry.load(version)
    select = scored_day_select(engine.schema, days[0], days[-1], card.type_features, graph.features)
    value_inputs = ["as_of_date", *value_columns(retention.value_model, graph.features.long)]
    scored, inputs = [], []
    for chunk in engine.iter_frames(select, policy.score_chunk_rows):
        scored.append(score_users(model, chunk, version, card, high=policy.risk_high, medium=policy.risk_medium))
        inputs.append(chunk[value_inputs])
    if not scored:
        return rank_predictions(pd.DataFrame())
    predictions = pd.concat(scored, ignore_index=True)
    valued = with_value(
        predictions,
        pd.concat(inputs, ignore_index=True),
        retention.value_model,
        graph.calendar.horizon_days,
        graph.features.long,
    )
    control = in_control(valued["user_id"], valued["as_of_date"], retention.control_share)
    return rank_predictions(valued.assign(control=control))


TOP_COLUMNS = [
    "user_id",
    "as_of_date",
    "churn_probability",
    "risk_tier",
    "value_at_risk",
    "control",
    "reason_1",
    "reason_2",
    "reason_3",
]


def _day_summary(predictions: pd.DataFrame) -> dict:
    """A day's tier counts and its riskiest users (the rows of that day only)."""
    tiers = predictions["risk_tier"].value_counts().reindex(["high", "medium", "low"], fill_value=0)
    top = predictions.nsmallest(TOP_USERS, ["rank"])[TOP_COLUMNS].round({"churn_probability": 4})
    return {
        **{f"tier_{tier}": int(n) for tier, n in tiers.items()},
        "value_at_risk": round(float(predictions["value_at_risk"].sum()), 2),
        "control_users": int(predictions["control"].sum()),
        "top_risk_users": dg.MetadataValue.md(top.to_markdown(index=False) if len(top) else "_no eligible users_"),
    }


def scoring_assets(graph: DailyGraph) -> list[dg.AssetsDefinition]:
    """churn_predictions over the graph's partitions."""

    @dg.asset(
        description=(
            "Every user of user_features (the eligible ones) scored as of day t with the production model at run "
            "time: churn_probability, risk_tier (high/medium/low), rank, model_version, the three features pushing "
            "the user's risk up most, customer_value (expected value over the horizon), value_at_risk "
            "(probability x value) and control (held out from retention work this month). The day is read from the "
            "warehouse in chunks; each day is also published to the artifact store as the snapshot the HTTP API "
            "(churn-assets serve) answers from. Refuses a day whose user_features are not computed."
        ),
        group_name=GROUP,
        **frame_asset(graph),
        deps=["user_features", "user_type_features", "production_model"],
        # a daily table: stale when a day passes without a new partition
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=30), warn_window=timedelta(hours=26)
        ),
    )
    def churn_predictions(
        context: dg.AssetExecutionContext,
        model_policy: ModelPolicy,
        retention: RetentionPolicy,
        artifacts: ArtifactsResource,
        warehouse: Warehouse,
    ) -> Iterator:
        with warehouse.session() as engine:
            days = partition_days(context)
            require(engine, f"churn_predictions {days[0]}..{days[-1]}", "user_features", days)
            registry = artifacts.registry()
            version = registry.production()
            if version is None:
                raise dg.Failure(f"no production model: {registry.why_no_production()}")
            if card_types := registry.card(version).type_features:
                require(engine, f"churn_predictions {days[0]}..{days[-1]}", "user_type_features", days)
                context.log.info(f"{version} reads {len(card_types)} source event type(s): {sorted(card_types)}")
            predictions = _score(engine, days, registry, version, model_policy, retention, graph)
            by_partition(context, predictions, extra=_day_summary)
            # the snapshot the HTTP API serves (core/serving/snapshot.py): written before the warehouse table, and
            # served only once the pointer moves, so the API never reads the warehouse
            served = publish_snapshot(artifacts.store(), predictions) if len(predictions) else None
            yield dg.MaterializeResult(
                value=predictions,
                metadata={
                    "dagster/column_schema": column_schema(predictions),
                    "model_version": version,
                    "value_model": retention.value_model,
                    "served_day": served or "",
                },
            )

    return [churn_predictions]
