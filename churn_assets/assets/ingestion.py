"""Raw users and daily raw events, validated on arrival, with rejected rows kept in quarantine."""

import json
from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from churn_assets.checks import check_result, check_specs, partition_check_events
from churn_assets.core.quality import row_count_outcome
from churn_assets.core.validation import EVENT_RULES, USER_RULES, describe_rules, validate_events, validate_users
from churn_assets.deployment import TABLE_KINDS
from churn_assets.io.warehouse import Engine
from churn_assets.metadata import by_partition, table_metadata
from churn_assets.partitions import daily_partitions, partition_days
from churn_assets.resources import ChurnSource, QualityPolicy, Warehouse

GROUP = "ingestion"
RECENT_DAYS = 7
VALID_ROWS = "valid_rows"
ROW_COUNT = "row_count_in_range"
VALID_ROWS_HELP = (
    "Every row passes the validation rules; failing rows are kept in the quarantine table with their reason. "
    "WARN while the rejected share is tolerable, ERROR (blocking) above it. Rules: "
)
COUNTS_KEY = "accepted_rows_by_day"


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


def recent_accepted_counts(instance: dg.DagsterInstance, before: date) -> dict[str, int]:
    """Accepted rows of the days before ``before``, read from earlier materializations' metadata."""
    keys = [(before - timedelta(days=i)).isoformat() for i in range(1, RECENT_DAYS + 1)]
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_events"), asset_partitions=keys), limit=100
    ).records
    counts: dict[str, int] = {}
    for record in records:  # newest first: keep the latest count of each day
        mat = record.asset_materialization
        entry = mat.metadata.get(COUNTS_KEY) if mat else None
        if entry is not None and mat.partition not in counts:
            by_day = entry.value if isinstance(entry.value, dict) else json.loads(entry.value)
            if mat.partition in by_day:
                counts[mat.partition] = int(by_day[mat.partition])
    return counts


def ids_seen_elsewhere(raw: dict[date, pd.DataFrame], engine: Engine) -> dict[date, set[str]]:
    """Per day, its event ids that an earlier day of the run or another day in the warehouse already holds
    (a re-exported or overlapping file): those rows are duplicates, not new events."""
    days = sorted(raw)
    ids = pd.concat(
        [pd.DataFrame({"id": raw[d]["event_id"].astype(str), "day": i}) for i, d in enumerate(days)], ignore_index=True
    )
    stored = engine.keys_elsewhere("raw_events", "event_id", "event_time", ids["id"].unique(), days[0], days[-1])
    first_day = ids.groupby("id")["day"].transform("min")
    earlier = ids[(first_day < ids["day"]) | ids["id"].isin(stored)]
    return {d: set(earlier.loc[earlier["day"] == i, "id"]) for i, d in enumerate(days)}


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
                ROW_COUNT,
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
    counts = recent_accepted_counts(context.instance, days[0])
    vocabulary = source.vocabulary
    raw = {day: source.read_events(day) for day in days}
    elsewhere = ids_seen_elsewhere(raw, warehouse.engine())
    clean, rejected, outcomes, dropped = [], [], {}, {}
    for day in days:
        validated = validate_events(raw.pop(day), day, raw_users, vocabulary, elsewhere[day])
        dropped |= dict.fromkeys(validated.dropped_columns)
        key = day.isoformat()
        recent = [counts[k] for k in sorted(counts) if key > k >= (day - timedelta(days=RECENT_DAYS)).isoformat()]
        outcomes[key] = {
            VALID_ROWS: validated.outcome(quality.max_reject_share),
            ROW_COUNT: row_count_outcome(len(validated.clean), recent, quality.volume_tolerance),
        }
        counts[key] = len(validated.clean)
        clean.append(validated.clean)
        rejected.append(validated.rejected.assign(partition_time=pd.Timestamp(key, tz="UTC")))
    events = pd.concat(clean, ignore_index=True)
    quarantine = pd.concat(rejected, ignore_index=True)
    by_reason = quarantine["reason"].value_counts().to_dict() if len(quarantine) else {}
    context.log.info(f"{len(events)} events accepted, {len(quarantine)} quarantined over {len(days)} day(s)")
    unmapped = quarantine.loc[quarantine["reason"] == "unmapped_event_type", "event_type"].value_counts().to_dict()
    if unmapped:  # once per run, whatever the number of days
        context.log.warning(vocabulary.hint(unmapped))
    by_partition(context, events, "raw_events")
    by_partition(context, quarantine, "raw_events_quarantine")
    yield dg.MaterializeResult(
        asset_key="raw_events",
        value=events,
        metadata=table_metadata(
            events,
            source=source.describe(),
            dropped_columns=list(dropped),
            **{COUNTS_KEY: dg.MetadataValue.json({d.isoformat(): counts[d.isoformat()] for d in days})},
            events_by_type=dg.MetadataValue.json(events["event_type"].value_counts().to_dict()),
        ),
    )
    yield dg.MaterializeResult(
        asset_key="raw_events_quarantine",
        value=quarantine,
        metadata=table_metadata(
            quarantine,
            rejected_by_reason=dg.MetadataValue.json(by_reason),
            unmapped_event_types=dg.MetadataValue.json(unmapped),
        ),
    )
    yield from partition_check_events(context, "raw_events", outcomes)
