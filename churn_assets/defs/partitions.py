"""The daily partitions and the window mappings between them.

Settings that shape the graph itself (first day, label horizon, feature windows) are read once, when
the definitions load; everything else reaches assets through resources.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from churn_assets.settings import environment_settings
from churn_assets.wiring.beta import deliberate

_SETTINGS = environment_settings()
LABEL_HORIZON_DAYS = _SETTINGS.label_horizon_days
TRAIN_DAYS = _SETTINGS.train_days
FEATURES = _SETTINGS.feature_spec
START_DATE = _SETTINGS.start_date

# The partitions end at the data: the source's last day (CHURN_START_DATE + CHURN_DAYS - 1). Dagster never lists a
# day that has not ended yet either, so for a live source the last partition is yesterday (UTC) at most, and
# "Latest" or a backfill never targets a day the source cannot have.
LAST_DAY = _SETTINGS.start_date + timedelta(days=_SETTINGS.days - 1)
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_SETTINGS.start_date.isoformat(),
    end_date=(LAST_DAY + timedelta(days=1)).isoformat(),  # exclusive
    timezone="UTC",
)

with deliberate():  # beta: mappings that allow missing upstream days (the first partitions have none)
    # user_state for day t continues user_state of t-1 (the first partition starts the chain).
    previous_day = dg.TimeWindowPartitionMapping(
        start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
    )
    # user_features for day t reads user_daily of the lookback before t (none before the first partition).
    feature_window = dg.TimeWindowPartitionMapping(
        start_offset=-(FEATURES.lookback_days - 1), end_offset=0, allow_nonexistent_upstream_partitions=True
    )
    # churn_labels for day t reads user_state of t+H: the last active day as of the horizon's end. Near the end of
    # the partition range Dagster hands nothing without complaint, so the labels asset checks the horizon itself.
    label_horizon = dg.TimeWindowPartitionMapping(
        start_offset=LABEL_HORIZON_DAYS, end_offset=LABEL_HORIZON_DAYS, allow_nonexistent_upstream_partitions=True
    )

    # training_set for day T reads user_features and churn_labels of T-89 ... T (the training window).
    training_window = dg.TimeWindowPartitionMapping(
        start_offset=-(TRAIN_DAYS - 1), end_offset=0, allow_nonexistent_upstream_partitions=True
    )


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days of the run's partition or partition range."""
    return [date.fromisoformat(k) for k in context.partition_keys]
