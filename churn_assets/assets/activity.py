"""Per-user daily aggregates of the accepted events."""

import dagster as dg
import pandas as pd

from churn_assets.core.aggregate import aggregate_user_daily
from churn_assets.deployment import TABLE_KINDS
from churn_assets.metadata import by_partition, table_metadata
from churn_assets.partitions import daily_partitions

GROUP = "activity"


@dg.asset(
    description=(
        "Sparse per-user aggregates of one UTC day (users with any event that day): counts by event type, "
        "sums of minutes and amount, and `active` (a session, feature use or support ticket)."
    ),
    group_name=GROUP,
    kinds=TABLE_KINDS,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={"partition_expr": "activity_date"},
)
def user_daily(context: dg.AssetExecutionContext, raw_events: pd.DataFrame) -> dg.MaterializeResult:
    daily = aggregate_user_daily(raw_events)
    by_partition(context, daily)
    return dg.MaterializeResult(
        value=daily,
        metadata=table_metadata(daily, active_user_days=int(daily["active"].sum())),
    )
