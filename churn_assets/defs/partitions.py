"""The daily partitions and the window mappings between them, built from the settings that shape the graph.

The first day, the last day, the feature windows and the label horizon decide which partitions exist and which
upstream days a day reads. ``definitions.py`` resolves the settings once and builds a ``DailyGraph`` from them;
the asset and automation factories take it, so no module reads the environment when it is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

import dagster as dg

from churn_assets.core.days import LabelCalendar
from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.settings import Settings
from churn_assets.wiring.beta import deliberate


@dataclass(frozen=True)
class DailyGraph:
    """What shapes the asset graph: the partition range, the feature windows, the label calendar, and the storage
    kind shown on the warehouse's assets."""

    start: date
    last: date  # the source's last day: CHURN_START_DATE + CHURN_DAYS - 1
    features: FeatureSpec
    calendar: LabelCalendar
    storage_kind: str  # "duckdb" or "bigquery"
    grace_days: int = 0  # a renewal within this many days of a period's end continues the subscription

    @classmethod
    def from_settings(cls, settings: Settings) -> DailyGraph:
        storage = {"local": "duckdb", "gcp": "bigquery"}[settings.deployment]
        return cls(
            settings.start_date,
            settings.last_day,
            settings.feature_spec,
            settings.calendar,
            storage,
            settings.renewal_grace_days,
        )

    @property
    def table_kinds(self) -> set[str]:
        """Kinds of an asset whose DataFrame an IO manager writes to the warehouse."""
        return {"pandas", self.storage_kind}

    @property
    def sql_kinds(self) -> set[str]:
        """Kinds of an asset computed by SQL inside the warehouse."""
        return {"sql", self.storage_kind}

    @cached_property
    def partitions(self) -> dg.DailyPartitionsDefinition:
        # The partitions end at the data: the source's last day. Dagster never lists a day that has not ended yet
        # either, so for a live source the last partition is yesterday (UTC) at most, and "Latest" or a backfill
        # never targets a day the source cannot have.
        return dg.DailyPartitionsDefinition(
            start_date=self.start.isoformat(),
            end_date=(self.last + timedelta(days=1)).isoformat(),  # exclusive
            timezone="UTC",
        )

    def last_partition(self) -> date | None:
        """The last partition that has ended (None while none has)."""
        key = self.partitions.get_last_partition_key()
        return date.fromisoformat(key) if key else None

    @cached_property
    def previous_day(self) -> dg.TimeWindowPartitionMapping:
        """user_state for day t continues user_state of t-1 (the first partition starts the chain)."""
        return _window(-1, -1)

    @cached_property
    def feature_window(self) -> dg.TimeWindowPartitionMapping:
        """user_features for day t reads user_daily of the lookback before t (none before the first partition)."""
        return _window(-(self.features.lookback_days - 1), 0)

    @cached_property
    def label_horizon(self) -> dg.TimeWindowPartitionMapping:
        """churn_labels for day t reads user_state of t+H (t+H+S under cancellation: see ``LabelCalendar``). Near the
        end of the partition range Dagster hands nothing without complaint, so the labels asset checks it itself."""
        horizon = self.calendar.decided_days
        return _window(horizon, horizon)

    @cached_property
    def training_window(self) -> dg.TimeWindowPartitionMapping:
        """training_set for day T reads user_features and churn_labels of the training window ending on T."""
        return _window(-(self.calendar.train_days - 1), 0)


def _window(start_offset: int, end_offset: int) -> dg.TimeWindowPartitionMapping:
    with deliberate():  # beta: mappings that allow missing upstream days (the first partitions have none)
        return dg.TimeWindowPartitionMapping(
            start_offset=start_offset, end_offset=end_offset, allow_nonexistent_upstream_partitions=True
        )


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days of the run's partition or partition range."""
    return [date.fromisoformat(k) for k in context.partition_keys]
