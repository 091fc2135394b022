"""Features of the users that can be scored or labelled on day t, computed in the warehouse."""

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg

from churn_assets.core.days import day_range
from churn_assets.core.quality import feature_table_outcome
from churn_assets.core.warehouse.features import user_features_selects
from churn_assets.core.warehouse.queries import feature_summary_select
from churn_assets.core.warehouse.types import user_type_features_select
from churn_assets.defs.partitions import DailyGraph, partition_days
from churn_assets.defs.resources import ChurnSource, Warehouse
from churn_assets.defs.tables import require, sql_asset, write_days
from churn_assets.wiring.checks import CheckDef, check_result, check_specs

GROUP = "features"
COMPLETE_CHECK = CheckDef("complete_and_unique", "One row per (user, day), no missing value, no negative count.")


def feature_assets(graph: DailyGraph) -> list[dg.AssetsDefinition]:
    """user_features over the graph's partitions and feature windows."""
    windows = ", ".join(str(w) for w in graph.features.windows)
    spec = graph.features
    who = (
        "the subscribers a subscription period covers at the end of t (CHURN_DEFINITION=cancellation), with their "
        "subscription's state from subscription_state"
        if spec.cancellation
        else f"the users active in the last {spec.eligibility_days} days"
    )
    state_deps = ["user_state", "subscription_state"] if spec.cancellation else ["user_state"]

    @dg.asset(
        description=(
            f"Features as of the end of day t of {who} (the "
            f"ones that can be scored or labelled): activity over {windows} days from user_daily, per-kind counts, "
            "value sums, trends, engagement_score, and lifetime recency, frequency, value and mean gap between active "
            "days from user_state. Refuses to run while a day of its window is missing. SQL in the warehouse."
        ),
        group_name=GROUP,
        **sql_asset(graph, "user_features"),
        deps=[dg.AssetDep("user_daily", partition_mapping=graph.feature_window), *state_deps, "raw_users"],
        check_specs=check_specs("user_features", [COMPLETE_CHECK]),
    )
    def user_features(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator:
        days = partition_days(context)
        with warehouse.session() as engine:
            window = day_range(max(graph.start, days[0] - timedelta(days=graph.features.lookback_days - 1)), days[-1])
            require(engine, f"user_features {days[0]}..{days[-1]}", "user_daily", window)
            for table in state_deps:
                require(engine, f"user_features {days[0]}..{days[-1]}", table, days)
            chunks = engine.feature_chunks(days[0], days[-1], graph.features)
            selects = user_features_selects(engine.schema, chunks, graph.features)
            yield write_days(context, engine, "user_features", days, selects, graph.features)
            summary = engine.query(feature_summary_select(engine.schema, days[0], days[-1], graph.features))
            yield check_result("user_features", COMPLETE_CHECK.name, feature_table_outcome(summary))

    @dg.asset(
        description=(
            f"For the users of user_features on day t: events per source event type (as the source names it, types "
            f"mapped to ignore left out) over the last {spec.short} and {spec.long} days, and the {spec.short}-day "
            "trend; one row per user, day and type. The most frequent types become model inputs when a model is "
            "trained (CHURN_TYPE_FEATURES, recorded in its card). SQL in the warehouse."
        ),
        group_name=GROUP,
        **sql_asset(graph, "user_type_features"),
        deps=["user_features", dg.AssetDep("raw_events", partition_mapping=graph.feature_window)],
    )
    def user_type_features(
        context: dg.AssetExecutionContext, warehouse: Warehouse, source: ChurnSource
    ) -> dg.MaterializeResult:
        days = partition_days(context)
        with warehouse.session() as engine:
            require(engine, f"user_type_features {days[0]}..{days[-1]}", "user_features", days)
            select = user_type_features_select(engine.schema, days[0], days[-1], spec, source.vocabulary)
            return write_days(context, engine, "user_type_features", days, [select], spec)

    return [user_features, user_type_features]
