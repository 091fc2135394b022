"""Per-user daily aggregates of the accepted events, and each user's lifetime state, computed in the warehouse."""

from datetime import timedelta

import dagster as dg

from churn_assets.core.warehouse.daily import user_daily_select
from churn_assets.core.warehouse.sql import RAW_TYPES
from churn_assets.core.warehouse.state import user_state_selects
from churn_assets.core.warehouse.subscriptions import subscription_state_select
from churn_assets.defs.partitions import DailyGraph, partition_days
from churn_assets.defs.resources import ChurnSource, Warehouse
from churn_assets.defs.tables import require, sql_asset, write_days

GROUP = "activity"


def activity_assets(graph: DailyGraph) -> list[dg.AssetsDefinition]:
    """user_daily and user_state over the graph's partitions."""

    @dg.asset(
        description=(
            "Sparse per-user aggregates of one UTC day (users with any counted event that day): counts by event kind "
            "(the source's types mapped by CHURN_EVENT_TYPES), sums of minutes and of the value of purchases and "
            "payments, and `active` (a session, feature use, support ticket or purchase). Refuses a day whose "
            "raw_events are not loaded. SQL in the warehouse."
        ),
        group_name=GROUP,
        **sql_asset(graph, "user_daily"),
        deps=["raw_events"],
    )
    def user_daily(
        context: dg.AssetExecutionContext, warehouse: Warehouse, source: ChurnSource
    ) -> dg.MaterializeResult:
        days = partition_days(context)
        with warehouse.session() as engine:
            require(engine, f"user_daily {days[0]}..{days[-1]}", "raw_events", days)
            select = user_daily_select(engine.schema, days[0], days[-1], source.vocabulary)
            return write_days(context, engine, "user_daily", days, [select], graph.features)

    @dg.asset(
        description=(
            "Each user's lifetime aggregates as of the end of day t (first seen, first and last active day, active "
            "days, events, minutes, amount): user_state of t-1 plus user_daily of t, so a day costs O(users) whatever "
            "the length of history. A missing day t-1 is an error naming it; only the first partition starts empty."
        ),
        group_name=GROUP,
        **sql_asset(graph, "user_state"),
        deps=["user_daily", dg.AssetDep("user_state", partition_mapping=graph.previous_day)],
    )
    def user_state(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        days = partition_days(context)
        with warehouse.session() as engine:
            require(engine, f"user_state {days[0]}..{days[-1]}", "user_daily", days)
            before = [days[0] - timedelta(days=1)] if days[0] > graph.start else []
            require(engine, f"user_state {days[0]} (it continues the day before)", "user_state", before)
            selects = user_state_selects(engine.schema, days[0], days[-1], days[0] == graph.start, engine.chunk_days)
            return write_days(context, engine, "user_state", days, selects, graph.features)

    @dg.asset(
        description=(
            "Each subscriber's subscription as of the end of day t, from the periods that started by then: whether a "
            "period covers the end of t, the current streak's start (a renewal within CHURN_RENEWAL_GRACE_DAYS "
            "continues it), periods in the streak and in all, plan and MRR and its change against the period before, "
            "days to the period's end, the billing period's length and the lapses before. Empty for a source "
            "without subscriptions. SQL in the warehouse."
        ),
        group_name=GROUP,
        **sql_asset(graph, "subscription_state"),
        deps=["raw_subscriptions"],
    )
    def subscription_state(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        days = partition_days(context)
        with warehouse.session() as engine:
            if not engine.table_exists("raw_subscriptions"):
                if graph.features.cancellation:
                    raise dg.Failure(
                        "subscription_state needs raw_subscriptions (CHURN_DEFINITION=cancellation): materialize it "
                        "first (users_job)"
                    )
                # a source without subscriptions under the inactivity definition: the state is empty, not an error
                engine.ensure_table("raw_subscriptions", RAW_TYPES["raw_subscriptions"])
            select = subscription_state_select(engine.schema, days[0], days[-1], graph.grace_days)
            return write_days(context, engine, "subscription_state", days, [select], graph.features)

    return [user_daily, user_state, subscription_state]
