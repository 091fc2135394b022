"""Rolling 7/14/30-day user features, each day computed from its own window of user_daily."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from churn_assets.checks import check_result, check_specs
from churn_assets.core.features import NUMERIC_FEATURES, WINDOW_DAYS, compute_user_features
from churn_assets.core.quality import feature_table_outcome
from churn_assets.deployment import TABLE_KINDS
from churn_assets.metadata import by_partition, table_metadata
from churn_assets.partitions import daily_partitions, feature_window, partition_days

GROUP = "features"
COMPLETE_CHECK = ("complete_and_unique", "One row per (user, day), no missing value, no negative count.")


@dg.asset(
    description=(
        f"Features of every user signed up by the end of day t, from user_daily of the {WINDOW_DAYS} days up to t "
        "only: activity over 7/14/30 days, per-type counts, value sums, trends (last 7 days vs the 7 before), "
        "recency, tenure and engagement_score. Users idle in the window get zeros."
    ),
    group_name=GROUP,
    kinds=TABLE_KINDS,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={"partition_expr": "as_of_date"},
    ins={"user_daily": dg.AssetIn(partition_mapping=feature_window), "raw_users": dg.AssetIn()},
    check_specs=check_specs("user_features", [COMPLETE_CHECK]),
)
def user_features(context: dg.AssetExecutionContext, user_daily: pd.DataFrame, raw_users: pd.DataFrame) -> Iterator:
    days = partition_days(context)
    features = compute_user_features(user_daily, raw_users, days)
    idle = int((features["active_days_30"] == 0).sum())
    by_partition(context, features)
    yield dg.MaterializeResult(
        value=features,
        metadata=table_metadata(features, users_idle_in_window=idle, window_rows_read=len(user_daily)),
    )
    yield check_result("user_features", COMPLETE_CHECK[0], feature_table_outcome(features, NUMERIC_FEATURES))
