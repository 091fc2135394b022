"""Check verdicts as plain data: each function judges a frame or a count and returns an Outcome.

The Dagster wiring (``churn_assets/wiring/checks.py``) turns an Outcome into an asset check evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Outcome:
    """A check's verdict, free of Dagster: the wiring turns it into an asset check evaluation."""

    passed: bool
    severity: str  # "WARN" or "ERROR"; only meaningful when not passed
    description: str
    metadata: dict = field(default_factory=dict)


def rows_outcome(
    rejected_by_reason: Mapping[str, int],
    total: int,
    max_reject_share: float,
    examples: Mapping[str, list[str]] | None = None,
) -> Outcome:
    """Validation of a batch of rows fails on any rejected row: WARN while the share is tolerable, ERROR above.

    Rejected rows are already in quarantine, so a few of them do not poison downstream assets;
    a large share means the source itself is broken, and then the check blocks.
    """
    rejected = sum(rejected_by_reason.values())
    share = rejected / total if total else 0.0
    meta = {
        "rejected_rows": rejected,
        "rows": total,
        "rejected_share": round(share, 6),
        "rejected_by_reason": {k: v for k, v in rejected_by_reason.items() if v},
    }
    if examples:
        meta["examples"] = dict(examples)
    if rejected == 0:
        return Outcome(True, "WARN", f"All {total} rows pass every rule.", meta)
    severity = "ERROR" if share > max_reject_share else "WARN"
    reasons = ", ".join(f"{n} {reason}" for reason, n in rejected_by_reason.items() if n)
    return Outcome(
        False,
        severity,
        f"{rejected} of {total} rows quarantined: {reasons} ({share:.2%}; blocking above {max_reject_share:.2%}).",
        meta,
    )


COLLAPSE_SHARE = 0.1  # a day under a tenth of its recent median has lost its data, not its customers


def row_count_outcome(
    count: int, recent_counts: Iterable[int], tolerance: float, min_history: int = 7, min_baseline: int = 30
) -> Outcome:
    """Compare a day's accepted rows with the median of the recent days.

    A customer base that shrinks or grows moves the median along with it, and a quiet Sunday or a busy sale
    day is real: outside [median/tolerance, median*tolerance] the check WARNs. Only a collapse blocks
    (ERROR): under ``COLLAPSE_SHARE`` of the median, a day that has lost its data. With fewer than
    ``min_history`` recent days, or a median under ``min_baseline`` rows, it passes and says so.
    """
    recent = [int(c) for c in recent_counts]
    meta: dict = {"row_count": int(count), "recent_counts": recent}
    if len(recent) < min_history:
        return Outcome(True, "ERROR", f"{count} rows; fewer than {min_history} recent days to compare.", meta)
    median = float(pd.Series(recent).median())
    meta["recent_median"] = median
    if median < min_baseline:
        return Outcome(True, "ERROR", f"{count} rows; recent median {median:g} is too small to judge.", meta)
    low, high = median / tolerance, median * tolerance
    compared = f"the median of the {len(recent)} days before is {median:g}"
    if low <= count <= high:
        return Outcome(True, "ERROR", f"{count} rows, within [{low:.0f}, {high:.0f}]: {compared}.", meta)
    if count < COLLAPSE_SHARE * median:
        return Outcome(
            False,
            "ERROR",
            f"{count} rows is a collapse: under {COLLAPSE_SHARE:.0%} of recent days ({compared}); "
            "the day's data is likely missing or cut short.",
            meta,
        )
    return Outcome(
        False,
        "WARN",
        f"{count} rows is far off recent days: {compared}, expected within [{low:.0f}, {high:.0f}] "
        f"(tolerance x{tolerance:g}); a collapse under {COLLAPSE_SHARE:.0%} would block.",
        meta,
    )


def combined(*outcomes: Outcome) -> Outcome:
    """Several verdicts as one check's: passed when every one passes, a failure as severe as the worst failed
    verdict, the descriptions in order and the metadata of all (their keys are distinct). A check evaluation is an
    event in the Dagster instance for every partition; one that says both costs half of two."""
    failed = [o for o in outcomes if not o.passed]
    judged = failed or outcomes
    severity = "ERROR" if any(o.severity == "ERROR" for o in judged) else "WARN"
    metadata: dict = {}
    for outcome in outcomes:
        metadata |= outcome.metadata
    return Outcome(not failed, severity, " ".join(o.description for o in outcomes), metadata)


def feature_table_outcome(summary: pd.DataFrame) -> Outcome:
    """One row per (user, day), no missing value, no negative count: else downstream is wrong.

    ``summary`` has one row per day (``day``, ``row_count``, ``duplicate_rows``, ``missing_values``,
    ``negative_values``), computed in the warehouse; a failure names the days that break a rule."""
    totals = {c: int(summary[c].sum()) for c in ("row_count", "duplicate_rows", "missing_values", "negative_values")}
    meta = {"rows": totals["row_count"], **{k: v for k, v in totals.items() if k != "row_count"}}
    bad = summary[(summary["duplicate_rows"] > 0) | (summary["missing_values"] > 0) | (summary["negative_values"] > 0)]
    if len(bad):
        meta["failing_days"] = sorted(pd.Timestamp(d).date().isoformat() for d in bad["day"])
        return Outcome(
            False,
            "ERROR",
            f"{totals['duplicate_rows']} duplicate (user, day) rows, {totals['missing_values']} missing values, "
            f"{totals['negative_values']} negative counts on {len(bad)} day(s), first {meta['failing_days'][0]}.",
            meta,
        )
    return Outcome(True, "ERROR", f"{totals['row_count']} rows, one per user and day, complete.", meta)


def label_rate_outcome(summary: pd.DataFrame, min_users: int = 50) -> Outcome:
    """Every eligible user of a day churning at once means its horizon's activity data is missing or broken.

    ``summary`` has one row per day (``day``, ``labelled``, ``churned``), computed in the warehouse; each day
    is judged on its own and the outcome names the days that fail. A day with fewer than ``min_users`` labels
    is too small to judge. (No churner at all is plausible, e.g. in a young product's first weeks, so it passes.)
    """
    summary = summary.sort_values("day")
    broken = summary[(summary["labelled"] >= min_users) & (summary["churned"] == summary["labelled"])]
    labelled, churned = int(summary["labelled"].sum()), int(summary["churned"].sum())
    rate = churned / labelled if labelled else 0.0
    meta = {
        "days": len(summary),
        "labelled_users": labelled,
        "positive_rate": round(rate, 6),
        "all_churned_days": [pd.Timestamp(d).date().isoformat() for d in broken["day"]],
    }
    if len(broken):
        first, n = meta["all_churned_days"][0], int(broken["labelled"].iloc[0])
        return Outcome(
            False,
            "ERROR",
            f"On {len(broken)} day(s) every eligible user is labelled churned (first {first}: all {n}): "
            "the horizon's activity data is likely empty or broken.",
            meta,
        )
    return Outcome(True, "ERROR", f"{labelled} labels over {len(summary)} day(s), {rate:.2%} churned.", meta)
