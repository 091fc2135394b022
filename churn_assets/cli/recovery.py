"""What `churn-assets run` does when a run cannot finish: runs left behind by a dead process, and errors a
user can act on, told in one line instead of a traceback."""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path

from churn_assets.core.processes import HOST_TAG, PID_TAG, process_alive

# Who runs a CLI run: if that process dies (SIGKILL, power loss), the daemon's run monitoring (wiring/run_launcher.py)
# or the next start marks the run failed (core/processes.py).
PROCESS_TAGS = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
DISK_FULL = ("no space left on device", "database or disk is full", "disk i/o error")


def mark_dead_runs_failed(instance) -> list[str]:
    """Runs this command created on this host whose process is gone (killed, crashed) are still STARTED in the
    instance, or NOT_STARTED when it died between creating and starting them; mark them failed so the UI does not
    show them running or waiting forever. Returns a line per run."""
    import dagster as dg

    waiting = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
    lines = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, *waiting])):
        pid = run.tags.get(PID_TAG)
        if run.tags.get(HOST_TAG) != PROCESS_TAGS[HOST_TAG] or not pid or process_alive(int(pid)):
            continue
        left = "waiting to start" if run.status in waiting else "running"
        instance.report_run_failed(run, message=f"the churn-assets process {pid} that ran it died")
        lines.append(f"run {run.run_id[:8]} ({run.job_name}) was left {left} by a process that died: marked failed")
    return lines


def is_disk_full(error: BaseException | str) -> bool:
    """An out-of-space error, as an OSError or as the text a library made of it (SQLite, DuckDB)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(marker in str(error).lower() for marker in DISK_FULL)


def user_error(exc: BaseException) -> str | None:
    """One line for an error a user can fix (credentials, disk, warehouse file), or None."""
    from churn_assets.io.duckdb import WarehouseError

    chain = [exc]
    while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    for error in chain:
        if isinstance(error, WarehouseError):
            return str(error)
        if is_disk_full(error):
            home = Path(os.environ.get("DAGSTER_HOME", "."))
            free = shutil.disk_usage(home if home.exists() else Path(".")).free
            return (
                f"the disk under {home.parent} is full ({free // 1024:,} KiB free): {str(error).splitlines()[0]}. "
                "Free some space and run again: every partition is still either old or new."
            )
        if type(error).__name__ == "DefaultCredentialsError":
            return (
                "no Google Cloud credentials for CHURN_DEPLOYMENT=gcp: set CHURN_GCP_CREDENTIALS_B64 to a base64 "
                "service-account key, or provide Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS)"
            )
    return None
