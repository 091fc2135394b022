"""Features of the users that can be scored or labelled on day t, computed in the warehouse."""

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg

from churn_assets.core.days import day_range
from churn_assets.core.quality import feature_table_outcome
from churn_assets.core.warehouse.features import user_features_selects
from churn_assets.core.warehouse.queries import feature_summary_select
from churn_assets.defs.partitions import DailyGraph, partition_days
from churn_assets.defs.resources import Warehouse
from churn_assets.defs.tables import require, sql_asset, write_days
from churn_assets.wiring.checks import CheckDef, check_result, check_specs

GROUP = "features"
COMPLETE_CHECK = CheckDef("complete_and_unique", "One row per (user, day), no missing value, no negative count.")


def feature_assets(graph: DailyGraph) -> list[dg.AssetsDefinition]:
    """user_features over the graph's partitions and feature windows."""
    windows = ", ".join(str(w) for w in graph.features.windows)
    eligible = graph.features.eligibility_days

    @dg.asset(
        description=(
            f"Features as of the end of day t of the users active in the last {eligible} days (the "
            f"ones that can be scored or labelled): activity over {windows} days from user_daily, per-type counts, "
            "value sums, trends, engagement_score, and lifetime recency, frequency, value and mean gap between active "
            "days from user_state. Refuses to run while a day of its window is missing. SQL in the warehouse."
        ),
        group_name=GROUP,
        **sql_asset(graph, "user_features"),
        deps=[dg.AssetDep("user_daily", partition_mapping=graph.feature_window), "user_state", "raw_users"],
        check_specs=check_specs("user_features", [COMPLETE_CHECK]),
    )
    def user_features(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator:
        days = partition_days(context)
        engine = warehouse.engine()
        window = day_range(max(graph.start, days[0] - timedelta(days=graph.features.lookback_days - 1)), days[-1])
        require(engine, f"user_features {days[0]}..{days[-1]}", "user_daily", window)
        require(engine, f"user_features {days[0]}..{days[-1]}", "user_state", days)
        selects = user_features_selects(engine.schema, days[0], days[-1], graph.features, engine.chunk_days)
        yield write_days(context, engine, "user_features", days, selects, graph.features)
        summary = engine.query(feature_summary_select(engine.schema, days[0], days[-1], graph.features))
        yield check_result("user_features", COMPLETE_CHECK.name, feature_table_outcome(summary))

    return [user_features]
