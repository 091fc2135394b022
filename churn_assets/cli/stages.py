"""One stage of ``churn-assets run``: a Dagster job run in process, and what a person needs to read about it.

``run_stage`` launches the job (over a partition range when given) and returns its assets' metadata and its
check evaluations as plain ``CheckFinding``s; ``RunNotes`` and ``print_findings`` turn a whole command's worth
of them into lines said once; the memory helpers measure each stage's peak and release what the stages
before it left.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import io
import sys
import time
from collections import Counter
from pathlib import Path

from churn_assets.cli.recovery import PROCESS_TAGS, is_disk_full, user_error
from churn_assets.core.intake.findings import CheckFinding, summarize_findings
from churn_assets.settings import Settings

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
CHECK_EVENT = "ASSET_CHECK_EVALUATION"
UNMAPPED = "unmapped_event_types"
BLOCKED = "DagsterAssetCheckFailedError"


def run_stage(defs, instance, job_name: str, first: str | None, last: str | None) -> tuple[bool, dict, list, float]:
    """Run one job of the code location in this process (over a partition range when given); return success,
    metadata by asset, check findings, seconds. An asset's metadata is that of its last partition in the run,
    with the rows and unmapped event types of all its partitions."""
    # Dagster is imported by the command that runs a stage, not by every churn-assets command
    from churn_assets.wiring.internals import execute_in_location
    from churn_assets.wiring.metadata import ROW_COUNT
    from churn_assets.wiring.runs import PARTITION_TAG, range_tags

    tags = range_tags(first, last) if first and first != last else {}
    tags |= PROCESS_TAGS
    started = time.perf_counter()
    # Dagster writes storage errors straight to stderr before raising them; when the error is one we explain
    # in one line (a full disk), its repetitions are noise. Anything else is replayed as it was.
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            if first and first == last:
                tags[PARTITION_TAG] = first
            result = execute_in_location(defs, instance, job_name, tags, QUIET_LOGS)
    except Exception as exc:
        if user_error(exc) is None:
            sys.stderr.write(captured.getvalue())
        raise
    failures = [e for e in result.all_events if e.is_step_failure]
    causes = [(e.step_key, _root_cause(e.step_failure_data.error)) for e in failures]
    full = next((cause for _, cause in causes if is_disk_full(cause)), None)
    if full is not None:  # a step that ran out of space: the same one line as anywhere else
        raise OSError(errno.ENOSPC, full)
    sys.stderr.write(captured.getvalue())
    metadata: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        name, values = mat.asset_key.to_user_string(), {k: v.value for k, v in mat.metadata.items()}
        earlier = metadata.get(name, {})
        if ROW_COUNT in values:
            values[ROW_COUNT] += earlier.get(ROW_COUNT, 0)
        if UNMAPPED in values:  # a count per event type, per partition: the run's is their sum
            values[UNMAPPED] = dict(Counter(earlier.get(UNMAPPED) or {}) + Counter(values[UNMAPPED] or {}))
        metadata[name] = values
    findings = [_finding(e.event_specific_data) for e in result.all_events if e.event_type_value == CHECK_EVENT]
    for event, (step, cause) in zip(failures, causes, strict=True):
        if event.step_failure_data.error and event.step_failure_data.error.cls_name == BLOCKED:
            cause = "a blocking check failed (below)"  # Dagster's message lists the check once per day
        print(f"    step {step} failed: {cause}")
    if not result.success and not failures:
        print(f"    run failed: {run_failure_cause(result.all_events)}")
    return result.success, metadata, findings, time.perf_counter() - started


class RunNotes:
    """What the runs' metadata says once for the whole command: unmapped event types, unused source columns."""

    def __init__(self) -> None:
        self.unmapped: dict[str, int] = {}
        self.dropped: dict[str, list[str]] = {}

    def add(self, metadata: dict[str, dict]) -> None:
        for event_type, n in (metadata.get("raw_events_quarantine", {}).get("unmapped_event_types") or {}).items():
            self.unmapped[event_type] = self.unmapped.get(event_type, 0) + int(n)
        for table in ("raw_users", "raw_events", "raw_subscriptions"):
            for column in metadata.get(table, {}).get("dropped_columns") or []:
                self.dropped.setdefault(table, [])
                if column not in self.dropped[table]:
                    self.dropped[table].append(column)


def print_findings(findings: list[CheckFinding], notes: RunNotes, settings: Settings) -> None:
    from churn_assets.core.intake.vocabulary import Vocabulary
    from churn_assets.defs.deployment import source_from

    source = source_from(settings).describe()
    lines = summarize_findings(findings, source)
    if lines:
        print("Checks that did not pass:")
        print("\n".join(f"  {line}" for line in lines))
    if notes.unmapped:
        print(f"  {Vocabulary.parse(settings.event_types).hint(notes.unmapped)}")
    for table, columns in notes.dropped.items():
        print(f"  note: {table} ignores the source column(s) {columns} (not used by the pipeline)")


def _finding(evaluation) -> CheckFinding:
    return CheckFinding(
        asset=evaluation.asset_key.to_user_string(),
        check=evaluation.check_name,
        passed=evaluation.passed,
        severity=evaluation.severity.value,
        description=evaluation.description or "",
        partition=evaluation.partition,
        metadata={k: v.value for k, v in evaluation.metadata.items()},
    )


def release_memory(above_mb: float = 768) -> None:
    """Free what the runs before left: a finished run's frames sit in reference cycles that the collector, which
    counts objects and not bytes, may not visit for a long time (at 100,000 users each events run added to the
    next one's peak), and glibc keeps freed heap pages unless asked to return them. A full collection walks the
    whole heap, so a process under ``above_mb`` (the demo's) skips it."""
    if (_status_mb("VmRSS") or 0) < above_mb:
        return
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def reset_peak_rss() -> None:
    """Start a new peak-RSS measurement for this process (Linux: VmHWM restarts from the current size)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float | None:
    """This process's peak resident set since the last reset, where the system reports one (Linux)."""
    return _status_mb("VmHWM")


def _status_mb(field: str) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return None


def run_failure_cause(events) -> str:
    """Why a run failed outside its steps: a resource that could not start, else the run's own failure."""
    errors = [e.event_specific_data.error for e in events if e.is_resource_init_failure]
    errors += [e.event_specific_data.error for e in events if e.is_run_failure]
    return _root_cause(errors[0] if errors else None)


def _root_cause(error) -> str:
    """The innermost error message: the one that names the problem, not Dagster's wrapping of it."""
    if error is None:
        return "unknown error"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()
