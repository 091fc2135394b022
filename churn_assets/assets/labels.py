"""30-day forward churn labels for eligible users, refused while the horizon is incomplete."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import pandas as pd

from churn_assets.checks import check_result, check_specs
from churn_assets.core.labels import compute_churn_labels
from churn_assets.core.quality import label_rate_outcome
from churn_assets.deployment import TABLE_KINDS
from churn_assets.metadata import by_partition, table_metadata
from churn_assets.partitions import LABEL_HORIZON_DAYS, daily_partitions, label_horizon, partition_days

GROUP = "labels"
RATE_CHECK = (
    "label_rate_plausible",
    "Not every eligible user churned: that would mean the horizon's activity data is missing or broken.",
)


def _positive_rate(labels: pd.DataFrame) -> float:
    return round(float(labels["churned"].mean()), 6) if len(labels) else 0.0


@dg.asset(
    description=(
        f"As of day t: churned = no active day in t+1 ... t+{LABEL_HORIZON_DAYS}, for eligible users only "
        "(active in the 30 days up to t). Refuses to run while any day of the horizon is not materialized."
    ),
    group_name=GROUP,
    kinds=TABLE_KINDS,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={"partition_expr": "as_of_date"},
    ins={"user_features": dg.AssetIn(), "user_daily": dg.AssetIn(partition_mapping=label_horizon)},
    check_specs=check_specs("churn_labels", [RATE_CHECK]),
)
def churn_labels(context: dg.AssetExecutionContext, user_features: pd.DataFrame, user_daily: pd.DataFrame) -> Iterator:
    days = partition_days(context)
    # A day counts as available only if Dagster hands it to us and it has been materialized.
    handed = set(context.asset_partition_keys_for_input("user_daily"))
    materialized = context.instance.get_materialized_partitions(dg.AssetKey("user_daily"))
    available = {date.fromisoformat(k) for k in handed & materialized}
    labels = compute_churn_labels(user_features, user_daily, days, LABEL_HORIZON_DAYS, available)
    by_partition(context, labels, extra=lambda rows: {"positive_rate": _positive_rate(rows)})
    yield dg.MaterializeResult(
        value=labels,
        metadata=table_metadata(
            labels,
            positive_rate=_positive_rate(labels),
            horizon_days=LABEL_HORIZON_DAYS,
        ),
    )
    yield check_result("churn_labels", RATE_CHECK[0], label_rate_outcome(labels))
