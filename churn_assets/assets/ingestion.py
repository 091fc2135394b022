"""Raw users and daily raw events, validated on arrival, with rejected rows kept in quarantine."""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from churn_assets.checks import check_result, check_specs, partition_check_events
from churn_assets.core.validation import (
    EVENT_RULES,
    RECENT_DAYS,
    USER_RULES,
    VALID_ROWS,
    VOLUME_CHECK,
    describe_rules,
    validate_range,
    validate_users,
)
from churn_assets.deployment import TABLE_KINDS
from churn_assets.io.warehouse import Engine
from churn_assets.metadata import by_partition, table_metadata
from churn_assets.partitions import daily_partitions, partition_days
from churn_assets.resources import ChurnSource, QualityPolicy, Warehouse

GROUP = "ingestion"
VALID_ROWS_HELP = (
    "Every row passes the validation rules; failing rows are kept in the quarantine table with their reason. "
    "WARN while the rejected share is tolerable, ERROR (blocking) above it. Rules: "
)


@dg.multi_asset(
    outs={
        "raw_users": dg.AssetOut(
            description="One row per user: user_id, signup_time (UTC), plan, country, acquisition channel.",
            group_name=GROUP,
            kinds=TABLE_KINDS,
        ),
        "raw_users_quarantine": dg.AssetOut(
            description="User rows rejected by validation, as text, with the reason.",
            group_name=GROUP,
            kinds=TABLE_KINDS,
        ),
    },
    check_specs=check_specs("raw_users", [(VALID_ROWS, VALID_ROWS_HELP + describe_rules(USER_RULES))]),
)
def raw_users(context: dg.AssetExecutionContext, source: ChurnSource, quality: QualityPolicy) -> Iterator:
    validated = validate_users(source.read_users())
    context.log.info(f"{validated.total} users from {source.describe()}, {len(validated.rejected)} rejected")
    yield dg.MaterializeResult(
        asset_key="raw_users",
        value=validated.clean,
        metadata=table_metadata(
            validated.clean, source=source.describe(), dropped_columns=list(validated.dropped_columns)
        ),
    )
    yield dg.MaterializeResult(
        asset_key="raw_users_quarantine",
        value=validated.rejected,
        metadata=table_metadata(validated.rejected, rejected_by_reason=validated.rejected_by_reason),
    )
    yield check_result("raw_users", VALID_ROWS, validated.outcome(quality.max_reject_share))


def recent_accepted_counts(engine: Engine, before: date) -> dict[str, int]:
    """Accepted rows of the days before ``before`` that the warehouse holds (partition_log), whichever Dagster
    instance wrote them."""
    counts = engine.row_counts("raw_events", before - timedelta(days=RECENT_DAYS), before - timedelta(days=1))
    return {day.isoformat(): n for day, n in counts.items()}


@dg.multi_asset(
    outs={
        "raw_events": dg.AssetOut(
            description="Activity events of a UTC day: event_id, user_id, event_time, event_type, minutes, amount.",
            group_name=GROUP,
            kinds=TABLE_KINDS,
            metadata={"partition_expr": "event_time"},
        ),
        "raw_events_quarantine": dg.AssetOut(
            description="Event rows rejected by validation, as text, with the reason and the partition's day.",
            group_name=GROUP,
            kinds=TABLE_KINDS,
            metadata={"partition_expr": "partition_time"},
        ),
    },
    ins={"raw_users": dg.AssetIn()},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=check_specs(
        "raw_events",
        [
            (VALID_ROWS, VALID_ROWS_HELP + describe_rules(EVENT_RULES)),
            (
                VOLUME_CHECK,
                "The day's accepted rows against the median of the 7 days before: WARN outside a factor of it "
                "(CHURN_VOLUME_TOLERANCE); ERROR (blocking) only on a collapse under a tenth of it.",
            ),
        ],
        partitions_def=daily_partitions,
    ),
)
def raw_events(
    context: dg.AssetExecutionContext,
    source: ChurnSource,
    quality: QualityPolicy,
    warehouse: Warehouse,
    raw_users: pd.DataFrame,
) -> Iterator:
    days = partition_days(context)
    raw = {day: source.read_events(day) for day in days}
    # ids the warehouse already holds on other days are duplicates (a re-exported or overlapping file)
    ids = pd.concat([frame["event_id"].astype(str) for frame in raw.values()]).unique()
    stored = warehouse.engine().keys_elsewhere("raw_events", "event_id", "event_time", ids, days[0], days[-1])
    before = recent_accepted_counts(warehouse.engine(), days[0])
    run = validate_range(
        raw, raw_users, source.vocabulary, stored, before, quality.max_reject_share, quality.volume_tolerance
    )
    events, quarantine = run.events, run.quarantine
    by_reason = quarantine["reason"].value_counts().to_dict() if len(quarantine) else {}
    context.log.info(f"{len(events)} events accepted, {len(quarantine)} quarantined over {len(days)} day(s)")
    if run.unmapped:  # once per run, whatever the number of days
        context.log.warning(source.vocabulary.hint(run.unmapped))
    by_partition(context, events, "raw_events")
    by_partition(context, quarantine, "raw_events_quarantine")
    yield dg.MaterializeResult(
        asset_key="raw_events",
        value=events,
        metadata=table_metadata(
            events,
            source=source.describe(),
            dropped_columns=list(run.dropped_columns),
            events_by_type=dg.MetadataValue.json(events["event_type"].value_counts().to_dict()),
        ),
    )
    yield dg.MaterializeResult(
        asset_key="raw_events_quarantine",
        value=quarantine,
        metadata=table_metadata(
            quarantine,
            rejected_by_reason=dg.MetadataValue.json(by_reason),
            unmapped_event_types=dg.MetadataValue.json(run.unmapped),
        ),
    )
    yield from partition_check_events(context, "raw_events", run.outcomes)
