"""What a person running the pipeline needs to read about its checks: each failed or warning check once.

A check that fails on 181 days is one finding: the asset, the check, its severity, the days (as ranges),
the first day's reason, the rows it rejected over all those days by reason, and a few example values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from churn_assets.core.days import describe_days

EXAMPLES_SHOWN = 3


@dataclass(frozen=True)
class CheckFinding:
    """One check evaluation, as plain data (the CLI reads them from a run's events)."""

    asset: str
    check: str
    passed: bool
    severity: str  # "WARN" or "ERROR"
    description: str
    partition: str | None = None
    metadata: Mapping = field(default_factory=dict)


def summarize_findings(findings: Iterable[CheckFinding], source: str | None = None) -> list[str]:
    """Lines describing the checks that did not pass: errors first, each (asset, check, severity) once."""
    groups: dict[tuple[str, str, str], list[CheckFinding]] = {}
    for f in findings:
        if not f.passed:
            groups.setdefault((f.asset, f.check, f.severity), []).append(f)
    lines: list[str] = []
    for (asset, check, severity), group in sorted(groups.items(), key=lambda kv: (kv[0][2] != "ERROR", kv[0])):
        group = sorted(group, key=lambda f: f.partition or "")
        days = [date.fromisoformat(f.partition) for f in group if f.partition]
        where = f" on {describe_days(days)}" if days else ""
        lines.append(f"{severity} {asset} check {check}{where}")
        first = group[0]
        lines.append(f"  {first.partition + ': ' if first.partition else ''}{first.description}")
        rejected: dict[str, int] = {}
        rows = 0
        examples: dict[str, list[str]] = {}
        for f in group:
            for reason, n in (f.metadata.get("rejected_by_reason") or {}).items():
                rejected[reason] = rejected.get(reason, 0) + int(n)
            rows += int(f.metadata.get("rows") or 0)
            for reason, shown in (f.metadata.get("examples") or {}).items():
                examples.setdefault(reason, [])
                examples[reason] += shown[: EXAMPLES_SHOWN - len(examples[reason])]
        if len(group) > 1 and rejected:
            by_reason = ", ".join(f"{reason} {n:,}" for reason, n in sorted(rejected.items(), key=lambda x: -x[1]))
            lines.append(f"  over those days: {sum(rejected.values()):,} of {rows:,} rows quarantined ({by_reason})")
        for reason, shown in examples.items():
            lines.append(f"  e.g. {reason}: " + "; ".join(shown))
        if source and asset.startswith("raw_"):
            lines.append(f"  source: {source}")
    return lines
