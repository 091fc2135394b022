"""A run launched by the daemon whose process dies is marked failed by the daemon's run monitoring.

The refresh sensor launches the first day of a per-day export once its file lands. While that run is STARTED its
process is stopped, and then killed with the code server that started it (SIGKILL, as the OS's out-of-memory
killer does when it takes a process tree): no process is left to report the failure, and the run must not stay
STARTED forever. The instance's launcher (``wiring/run_launcher.MonitoredRunLauncher``) tells run monitoring the
worker is gone, and the run fails with the process named.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg

from churn_assets.cli.instance import instance_yaml
from churn_assets_tests.helpers import ROOT, clean_env, dagster_services, wait_for


def test_a_daemon_launched_run_whose_process_is_killed_is_marked_failed(tmp_path):
    (tmp_path / "export").mkdir()
    rows = "".join(f"e{i},u{i % 20},2026-01-01T{i % 24:02d}:{i % 60:02d}:00Z,session,5,0\n" for i in range(2000))
    (tmp_path / "export" / "events_2026-01-01.csv").write_text(
        "event_id,user_id,event_time,event_type,minutes,amount\n" + rows
    )
    (tmp_path / "users.csv").write_text(
        "user_id,signup_time,plan,country,channel\n"
        + "".join(f"u{i},2025-12-01T00:00:00Z,basic,US,ads\n" for i in range(20))
    )
    home = tmp_path / "dagster"
    home.mkdir()
    config = instance_yaml(False, home).replace("poll_interval_seconds: 60", "poll_interval_seconds: 2")
    (home / "dagster.yaml").write_text(config)
    env = clean_env() | {
        "DAGSTER_HOME": str(home),
        "CHURN_DATA_DIR": str(tmp_path / "churn"),
        "CHURN_EVENTS_FILE": str(tmp_path / "export" / "events_{date}.csv"),
        "CHURN_USERS_FILE": str(tmp_path / "users.csv"),
        "CHURN_DAYS": "1",
        "CHURN_SENSOR_SECONDS": "5",
    }
    users = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "churn_assets.definitions",
         "--select", "raw_users"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert users.returncode == 0, users.stderr[-2000:]

    with dagster_services(env, tmp_path / "logs"), dg.DagsterInstance.from_config(str(home)) as instance:

        def started_worker():
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="daily_data_job"))
            if not runs or runs[0].status != dg.DagsterRunStatus.STARTED:
                return None
            events = instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            pids = [e.dagster_event.engine_event_data.metadata.get("pid") for e in events if e.dagster_event]
            pid = next((p for p in pids if p is not None), None)
            return (runs[0], int(pid.value)) if pid else None

        run, pid = wait_for("the daemon's run of 2026-01-01 to start", started_worker, timeout=180, every=0.1)
        os.kill(pid, signal.SIGSTOP)  # frozen mid-run, so it cannot finish first
        assert run.tags["churn/refresh_day"] == "2026-01-01"  # launched by the refresh sensor
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        parent = int(next(line for line in status if line.startswith("PPid:")).split()[1])
        os.kill(parent, signal.SIGKILL)  # the code server first: it would otherwise report its child's exit
        os.kill(pid, signal.SIGKILL)

        def failed():
            now = instance.get_run_by_id(run.run_id)
            return now if now.status == dg.DagsterRunStatus.FAILURE else None

        wait_for("run monitoring to mark the run failed", failed, timeout=120)
        said = [entry.message for entry in instance.all_logs(run.run_id)]
        assert any(f"the run worker process {pid} is gone (killed or crashed)" in line for line in said), said[-3:]


def test_a_re_execution_is_not_judged_by_the_pid_its_parent_run_carried(tmp_path):
    """A run re-executed from the UI copies its parent's tags, among them the pid of the ``churn-assets run`` that
    made the parent and has long exited: its own worker's pid, in its event log, is the one that counts."""
    import socket

    from dagster._core.events import EngineEventData  # how a run worker records its pid

    from churn_assets.core.processes import HOST_TAG, PID_TAG
    from churn_assets.wiring.internals import WorkerStatus

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(False, home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        tags = {PID_TAG: str(gone.pid), HOST_TAG: socket.gethostname()}
        parent = instance.add_run(dg.DagsterRun(job_name="daily_data_job", run_id="parent", tags=tags))
        child = instance.add_run(
            dg.DagsterRun(
                job_name="daily_data_job",
                run_id="child",
                tags={**tags, "dagster/parent_run_id": parent.run_id},
                status=dg.DagsterRunStatus.STARTED,
            )
        )
        launcher = instance.run_launcher
        # no event yet: the copied tag is not evidence of anything
        assert launcher.check_run_worker_health(child).status == WorkerStatus.RUNNING
        # the worker says its pid: alive, then gone
        instance.report_engine_event("Executing steps in process", child, EngineEventData({"pid": str(os.getpid())}))
        assert launcher.check_run_worker_health(child).status == WorkerStatus.RUNNING
        dead = instance.add_run(
            dg.DagsterRun(job_name="daily_data_job", run_id="dead", status=dg.DagsterRunStatus.STARTED)
        )
        instance.report_engine_event("Executing steps in process", dead, EngineEventData({"pid": str(gone.pid)}))
        assert launcher.check_run_worker_health(dead).status == WorkerStatus.FAILED
        # the command's own run, before its first event: judged by the tag
        own = instance.add_run(dg.DagsterRun(job_name="daily_data_job", run_id="own", tags=tags))
        assert launcher.check_run_worker_health(own).status == WorkerStatus.FAILED
