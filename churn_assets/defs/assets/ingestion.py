"""Raw users, daily raw events and subscription periods, validated on arrival, with rejected rows kept in
quarantine."""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from churn_assets.core.intake.rules import EVENT_RULES, USER_RULES, Validated, describe_rules, validate_users
from churn_assets.core.intake.run_checks import (
    RECENT_DAYS,
    VALID_DAY,
    VALID_ROWS,
    refuse_empty,
    refuse_shrink,
    refuse_unmapped,
    validate_range,
)
from churn_assets.core.intake.subscriptions import SUBSCRIPTION_RULES, validate_subscriptions
from churn_assets.core.warehouse.sql import RAW_TYPES
from churn_assets.defs.partitions import DailyGraph, partition_days
from churn_assets.defs.resources import ChurnSource, QualityPolicy, Warehouse
from churn_assets.io.warehouse import Engine
from churn_assets.wiring.checks import CheckDef, check_result, check_specs, partition_check_events
from churn_assets.wiring.metadata import by_partition, column_schema, table_metadata

GROUP = "ingestion"
VALID_ROWS_HELP = (
    "Every row passes the validation rules; failing rows are kept in the quarantine table with their reason. "
    "WARN while the rejected share is tolerable, ERROR (blocking) above it. Rules: "
)


def _selected(context: dg.AssetExecutionContext, table: str, rejected: int) -> set[str]:
    """The outputs of ``table`` and its quarantine this run writes (either can be selected alone). Rejected rows
    are never dropped: a run that rejects rows must write the quarantine that keeps them."""
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if rejected and table in selected and f"{table}_quarantine" not in selected:
        raise dg.Failure(
            f"{table}: {rejected} row(s) were rejected, and {table}_quarantine, which keeps them with their reason, "
            "is not selected: materialize both"
        )
    return selected


def _table_and_quarantine(
    context: dg.AssetExecutionContext, table: str, validated: Validated, quality: QualityPolicy, **metadata
) -> Iterator:
    """An unpartitioned table's accepted rows, its quarantine and its ``valid_rows`` check, each as selected."""
    selected = _selected(context, table, len(validated.rejected))
    if table in selected:
        metadata["dropped_columns"] = list(validated.dropped_columns)
        yield dg.MaterializeResult(
            asset_key=table, value=validated.clean, metadata=table_metadata(validated.clean, **metadata)
        )
    if f"{table}_quarantine" in selected:
        yield dg.MaterializeResult(
            asset_key=f"{table}_quarantine",
            value=validated.rejected,
            metadata=table_metadata(validated.rejected, rejected_by_reason=validated.rejected_by_reason),
        )
    if dg.AssetCheckKey(dg.AssetKey(table), VALID_ROWS) in context.selected_asset_check_keys:
        yield check_result(table, VALID_ROWS, validated.outcome(quality.max_reject_share))


def _events_by_type(rows: pd.DataFrame) -> dict:
    return {"events_by_type": dg.MetadataValue.json(rows["event_type"].value_counts().to_dict())}


def _rejected(rows: pd.DataFrame) -> dict:
    if rows.empty:  # most days reject nothing, and counting nothing with pandas costs a day as much as counting
        return {"rejected_by_reason": dg.MetadataValue.json({}), "unmapped_event_types": dg.MetadataValue.json({})}
    unmapped = rows.loc[rows["reason"] == "unmapped_event_type", "event_type"].value_counts()
    return {
        "rejected_by_reason": dg.MetadataValue.json(rows["reason"].value_counts().to_dict()),
        "unmapped_event_types": dg.MetadataValue.json({str(k): int(v) for k, v in unmapped.items()}),
    }


def recent_accepted_counts(engine: Engine, before: date) -> dict[str, int]:
    """Accepted rows of the days before ``before`` that the warehouse holds (partition_log), whichever Dagster
    instance wrote them."""
    counts = engine.row_counts("raw_events", before - timedelta(days=RECENT_DAYS), before - timedelta(days=1))
    return {day.isoformat(): n for day, n in counts.items()}


def _refuse_shrink(engine: Engine, source: str, raw: dict, accepted: dict[str, int], max_shrink: float) -> None:
    days = sorted(raw)
    refuse_empty(sum(len(f) for f in raw.values()), max_shrink=max_shrink, source=source, first=days[0], last=days[-1])
    held = {day.isoformat(): rows for day, rows in engine.row_counts("raw_events", days[0], days[-1]).items()}
    refuse_shrink(held, accepted, max_shrink=max_shrink, source=source)


def ingestion_assets(graph: DailyGraph) -> list[dg.AssetsDefinition]:
    """raw_users, raw_events over the graph's partitions and raw_subscriptions (with their quarantines)."""

    @dg.multi_asset(
        outs={
            "raw_users": dg.AssetOut(
                description="One row per user: user_id, signup_time (UTC), plan, country, acquisition channel.",
                group_name=GROUP,
                kinds=graph.table_kinds,
                is_required=False,  # each can be selected alone
            ),
            "raw_users_quarantine": dg.AssetOut(
                description="User rows rejected by validation, as text, with the reason.",
                group_name=GROUP,
                kinds=graph.table_kinds,
                is_required=False,  # each can be selected alone
            ),
        },
        check_specs=check_specs("raw_users", [CheckDef(VALID_ROWS, VALID_ROWS_HELP + describe_rules(USER_RULES))]),
        can_subset=True,
    )
    def raw_users(context: dg.AssetExecutionContext, source: ChurnSource, quality: QualityPolicy) -> Iterator:
        validated = validate_users(source.read_users())
        context.log.info(f"{validated.total} users from {source.describe()}, {len(validated.rejected)} rejected")
        yield from _table_and_quarantine(context, "raw_users", validated, quality, source=source.describe())

    @dg.multi_asset(
        outs={
            "raw_events": dg.AssetOut(
                description="Activity events of a UTC day: event_id, user_id, event_time, event_type, minutes, amount.",
                group_name=GROUP,
                kinds=graph.table_kinds,
                is_required=False,  # each can be selected alone
                metadata={
                    "partition_expr": "event_time",
                    "dagster/column_schema": column_schema(RAW_TYPES["raw_events"]),
                },
            ),
            "raw_events_quarantine": dg.AssetOut(
                description="Event rows rejected by validation, as text, with the reason and the partition's day.",
                group_name=GROUP,
                kinds=graph.table_kinds,
                is_required=False,  # each can be selected alone
                metadata={
                    "partition_expr": "partition_time",
                    "dagster/column_schema": column_schema(RAW_TYPES["raw_events_quarantine"]),
                },
            ),
        },
        ins={"raw_users": dg.AssetIn()},
        partitions_def=graph.partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=check_specs(
            "raw_events",
            [
                CheckDef(
                    VALID_DAY,
                    VALID_ROWS_HELP
                    + describe_rules(EVENT_RULES)
                    + ". And the day's accepted rows against the median of the 7 days before: WARN outside a factor "
                    "of it (CHURN_VOLUME_TOLERANCE); ERROR (blocking) only on a collapse under a tenth of it.",
                )
            ],
            partitions_def=graph.partitions,
        ),
        can_subset=True,
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
        # a log in another vocabulary is refused from one count, before days are validated and rows quarantined
        refuse_unmapped(raw, source.vocabulary, max_reject_share=quality.max_reject_share, source=source.describe())
        with warehouse.session() as engine:  # the reads below and the writes of what it yields share one database
            # ids the warehouse already holds on other days are duplicates (a re-exported or overlapping file)
            ids = pd.concat([frame["event_id"].astype(str) for frame in raw.values()]).unique()
            stored = engine.keys_elsewhere("raw_events", "event_id", "event_time", ids, days[0], days[-1])
            before = recent_accepted_counts(engine, days[0])
            run = validate_range(
                raw, raw_users, source.vocabulary, stored, before, quality.max_reject_share, quality.volume_tolerance
            )
            # a re-run never shrinks stored history silently: checked before anything is yielded, so nothing is written
            _refuse_shrink(engine, source.describe(), raw, run.accepted, quality.max_shrink)
            events, quarantine = run.events, run.quarantine
            context.log.info(f"{len(events)} events accepted, {len(quarantine)} quarantined over {len(days)} day(s)")
            if run.unmapped:  # once per run, whatever the number of days
                context.log.warning(source.vocabulary.hint(run.unmapped))
            selected = _selected(context, "raw_events", len(quarantine))
            # each day its own counts, preview and breakdowns; what holds for the whole run once
            if "raw_events" in selected:
                by_partition(context, events, "raw_events", extra=_events_by_type)
                metadata = {"source": source.describe(), "dropped_columns": list(run.dropped_columns)}
                yield dg.MaterializeResult(asset_key="raw_events", value=events, metadata=metadata)
            if "raw_events_quarantine" in selected:
                by_partition(context, quarantine, "raw_events_quarantine", extra=_rejected)
                yield dg.MaterializeResult(asset_key="raw_events_quarantine", value=quarantine)
            yield from partition_check_events(context, "raw_events", run.outcomes)

    @dg.multi_asset(
        outs={
            "raw_subscriptions": dg.AssetOut(
                description=(
                    "Subscription periods: user_id, start_time, end_time (empty: still running), plan, mrr; one row "
                    "per billing period or per subscription. Empty for a source without subscriptions."
                ),
                group_name=GROUP,
                kinds=graph.table_kinds,
                is_required=False,  # each can be selected alone
                metadata={"dagster/column_schema": column_schema(RAW_TYPES["raw_subscriptions"])},
            ),
            "raw_subscriptions_quarantine": dg.AssetOut(
                description="Subscription periods rejected by validation, as text, with the reason.",
                group_name=GROUP,
                kinds=graph.table_kinds,
                is_required=False,  # each can be selected alone
                metadata={"dagster/column_schema": column_schema(RAW_TYPES["raw_subscriptions_quarantine"])},
            ),
        },
        ins={"raw_users": dg.AssetIn()},
        check_specs=check_specs(
            "raw_subscriptions", [CheckDef(VALID_ROWS, VALID_ROWS_HELP + describe_rules(SUBSCRIPTION_RULES))]
        ),
        can_subset=True,
    )
    def raw_subscriptions(
        context: dg.AssetExecutionContext, source: ChurnSource, quality: QualityPolicy, raw_users: pd.DataFrame
    ) -> Iterator:
        validated = validate_subscriptions(source.read_subscriptions(), raw_users)
        where = source.describe_subscriptions()
        context.log.info(f"{validated.total} subscription periods from {where}, {len(validated.rejected)} rejected")
        subscribers = int(validated.clean["user_id"].nunique())
        yield from _table_and_quarantine(
            context, "raw_subscriptions", validated, quality, source=where, subscribers=subscribers
        )

    return [raw_users, raw_events, raw_subscriptions]
