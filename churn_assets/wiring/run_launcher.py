"""Dagster's default run launcher, with a health check of the run worker, so the daemon's run monitoring marks a
run whose process was killed (or crashed) as failed instead of leaving it STARTED forever.

A run's worker is the process that executes it: for a run launched by the daemon or the UI, the subprocess that
reports "Started process for run (pid: N)" in the run's event log; for a run of ``churn-assets run``, the command
itself, tagged ``churn/pid`` and ``churn/host`` when it creates the run. The instance's ``dagster.yaml`` names this
launcher (``churn-assets`` writes it into a new instance; see docs/monitoring.md).
"""

from __future__ import annotations

import socket

import dagster as dg

from churn_assets.core.processes import HOST_TAG, PID_TAG, process_alive
from churn_assets.wiring.internals import CheckRunHealthResult, WorkerStatus


def worker_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The pid of the process executing ``run`` on this host, or None while it has not said (or runs elsewhere).

    The run's own event log says it first (every executing process logs its pid); the ``churn/pid`` tag of a run
    ``churn-assets run`` created covers the moments before. A re-execution launched from the UI copies its
    parent's tags, the dead command's pid among them, so the tag counts only for a run without a parent."""
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        pid = entry.dagster_event.engine_event_data.metadata.get("pid") if entry.dagster_event else None
        if pid is not None:
            return int(pid.value)
    if PID_TAG in run.tags and "dagster/parent_run_id" not in run.tags:
        return int(run.tags[PID_TAG]) if run.tags.get(HOST_TAG) == socket.gethostname() else None
    return None


class MonitoredRunLauncher(dg.DefaultRunLauncher):
    """``DefaultRunLauncher`` whose run workers the daemon's run monitoring can check."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = worker_pid(self._instance, run)
        if pid is None or process_alive(pid):  # not said yet, or elsewhere: never failed on a guess
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"the run worker process {pid} is gone (killed or crashed)")
