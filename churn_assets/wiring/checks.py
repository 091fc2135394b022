"""Turning plain Outcomes (``core/quality.py``) into Dagster asset check evaluations.

Checks run inside the asset that produces the data, on the rows as they arrive, and travel with
the materialization. Checks of the raw data (a day's rows can be bad on their own) and of the drift
report are partitioned: every partition gets its own evaluation, also in single-run backfills.
Dagster attaches an ``AssetCheckResult`` to a single partition key only, so for a partition range
``partition_check_events`` records one ``AssetCheckEvaluation`` per partition itself. Checks of derived
tables (``user_features``, ``churn_labels``) guard this project's own transformations: they judge a
run's whole output once and name the days that fail (``check_result``).
A failed ERROR evaluation of a blocking check fails the step, so downstream assets do not run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import dagster as dg

from churn_assets.core.quality import Outcome
from churn_assets.wiring.beta import deliberate
from churn_assets.wiring.internals import target_materialization


@dataclass(frozen=True)
class CheckDef:
    """A check of an asset: its name and what it guarantees (shown in the UI)."""

    name: str
    description: str


_SEVERITY = {"WARN": dg.AssetCheckSeverity.WARN, "ERROR": dg.AssetCheckSeverity.ERROR}


def check_specs(
    asset: str,
    checks: Iterable[CheckDef],
    partitions_def: dg.PartitionsDefinition | None = None,
    blocking: bool = True,
) -> list[dg.AssetCheckSpec]:
    """The specs of one asset's checks."""
    with deliberate():  # preview: partitioned checks
        return [
            dg.AssetCheckSpec(
                c.name, asset=asset, description=c.description, blocking=blocking, partitions_def=partitions_def
            )
            for c in checks
        ]


def check_result(asset: str, name: str, outcome: Outcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=outcome.passed,
        severity=_SEVERITY[outcome.severity],
        description=outcome.description,
        metadata=outcome.metadata,
    )


def partition_check_events(
    context: dg.AssetExecutionContext,
    asset: str,
    outcomes_by_partition: Mapping[str, Mapping[str, Outcome]],
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """One evaluation per (partition, check), then the checks' outputs. Yield after the asset's result."""
    asset_key = dg.AssetKey(asset)
    selected = {k for k in context.selected_asset_check_keys if k.asset_key == asset_key}
    specs = {spec.key: spec for spec in context.assets_def.check_specs}
    targets = _materializations(context, asset_key, list(outcomes_by_partition))
    for partition, outcomes in outcomes_by_partition.items():
        for name, outcome in outcomes.items():
            key = dg.AssetCheckKey(asset_key, name)
            if key not in selected:
                continue
            yield dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=name,
                passed=outcome.passed,
                severity=_SEVERITY[outcome.severity],
                description=outcome.description,
                metadata=outcome.metadata,
                blocking=specs[key].blocking,
                partition=partition,
                target_materialization_data=targets.get(partition),
            )
    for key in sorted(selected, key=lambda k: k.name):
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))


def _materializations(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, partitions: list[str]) -> dict:
    """The materialization each partition's evaluation judges: this run's, just recorded. Dagster marks a
    partition's check passed or failed only while its evaluation targets the partition's latest materialization
    (an AssetCheckResult finds it for one partition key; for a range it is found here, as Dagster does)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions), limit=len(partitions)
    ).records
    return {r.partition_key: target_materialization(r) for r in records if r.run_id == context.run.run_id}
