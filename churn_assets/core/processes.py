"""Who executes a run: the tags a ``churn-assets run`` puts on the runs it creates, and whether a process lives.

Dagster-free, so the command reads them without importing Dagster; the daemon's health check of run workers
(``wiring/run_launcher.py``) and the command's recovery of runs a dead process left (``cli/recovery.py``) share them.
"""

from __future__ import annotations

import os
import signal

PID_TAG, HOST_TAG = "churn/pid", "churn/host"


def restore_interrupts() -> None:
    """Give SIGINT back its default where this process was started with it ignored, as a script's background job
    (`command &`) is. The ignore passes to every child, and Dagster's processes take SIGTERM as they take SIGINT,
    so the servers this process starts would ignore `kill` too."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        pass
    return True
