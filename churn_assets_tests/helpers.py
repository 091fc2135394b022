"""Helpers of the tests: processes, ports, servers, a browser, errors; no fixtures (those are in conftest.py)."""

import fnmatch
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import yaml

from churn_assets.cli.commands import EVENT_BATCH_SIZE
from churn_assets.cli.instance import SQLITE
from churn_assets.cli.main import RANGE_PLANNED_EVENTS

ROOT = Path(__file__).resolve().parents[1]
# What `churn-assets` sets for the runs it starts (cli/main.py, cli/commands.py), set for in-process runs alike: a
# ranged run plans each asset once and writes its materializations in batches
RUN_ENVIRONMENT = RANGE_PLANNED_EVENTS | dict([EVENT_BATCH_SIZE])


@contextmanager
def embedded_instance() -> Iterator[dg.DagsterInstance]:
    """A throwaway Dagster instance stored as ``churn-assets`` stores a data directory's (the SQLite event log with
    its databases kept open, ``wiring/instance_storage.py``): in-process runs record their events as the command's
    runs do, at a third of the cost of Dagster's default test instance."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as home:
        storage = yaml.safe_load(SQLITE.format(home=json.dumps(home)))["storage"]
        with dg.instance_for_test(overrides={"storage": storage}, temp_dir=home) as instance:
            yield instance


# every table the assets write to the warehouse
TABLES = (
    "raw_users",
    "raw_users_quarantine",
    "raw_events",
    "raw_events_quarantine",
    "raw_subscriptions",
    "raw_subscriptions_quarantine",
    "user_daily",
    "user_state",
    "subscription_state",
    "user_features",
    "user_type_features",
    "churn_labels",
    "training_set",
    "churn_predictions",
    "call_list",
    "drift_report",
)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any CHURN_* setting, DAGSTER_HOME or the in-process runs' switches, plus
    ``extra``: what a subprocess under test starts from (a command sets what it needs itself)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME")) and k not in RUN_ENVIRONMENT
    }
    return env | extra


def browser_dom(url: str) -> str:
    """The page at ``url`` as headless Chromium renders it (its scripts run), as the DOM's HTML."""
    browser = shutil.which("chromium")
    assert browser, "headless Chromium is needed: apt-get install chromium (Debian package)"
    page = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert page.returncode == 0, page.stderr[-2000:]
    return page.stdout


def root_error(result: dg.ExecuteInProcessResult):
    """The innermost error of a run's first failed step: the one that names the problem."""
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return error


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{what} did not start on port {port}") from None
            time.sleep(0.2)


def start_bigquery_emulator(port: int, data_dir: Path | None = None) -> subprocess.Popen:
    """The BigQuery emulator through the project's launcher, on a loopback port."""
    command = [
        sys.executable,
        "-m",
        "churn_assets.io.emulators",
        "bigquery",
        "--port",
        str(port),
        "--project",
        "churn-test",
    ]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, "bqemulator")
    return process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_gcp_settings() -> dict:
    """Settings of the gcp deployment against the emulators, with a dataset and bucket of its own."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = f"churn-{uuid.uuid4().hex[:12]}"
    storage.Client(project="churn-test", credentials=AnonymousCredentials()).create_bucket(bucket)
    return {
        "deployment": "gcp",
        "gcp_project": "churn-test",
        "bq_dataset": f"churn_{uuid.uuid4().hex[:8]}",
        "gcs_bucket": bucket,
        "gcs_prefix": "churn",
    }


def wait_for(what: str, check, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def server_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def dagster_services(env: dict, logs: Path, daemon: bool = True) -> Iterator[int]:
    """dagster-webserver (and the daemon) from workspace.yaml on a free loopback port; every process is stopped."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    workspace = str(ROOT / "workspace.yaml")
    commands = {"webserver": ["dagster-webserver", "-w", workspace, "-h", "127.0.0.1", "-p", str(port)]}
    if daemon:
        commands["daemon"] = ["dagster-daemon", "run", "-w", workspace]
    processes = []
    try:
        for name, command in commands.items():
            out = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            processes.append(
                subprocess.Popen(
                    command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        wait_for("the webserver", lambda: server_up(port), timeout=120)
        yield port
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL what has not stopped within ``timeout`` seconds: a fixture's teardown (an emulator
    the session shared) is not what a test judges, and must not leave a process behind."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def cli(*args, **extra_env) -> subprocess.CompletedProcess:
    """The `churn-assets` command as a user runs it, in a clean environment plus ``extra_env``."""
    return subprocess.run(
        ["churn-assets", *args], capture_output=True, text=True, env=clean_env() | extra_env, timeout=300
    )


class Server:
    """`churn-assets serve` (or ``command``'s) on ``port`` of loopback (or ``host``), ready to answer; ``stop``
    returns its output."""

    def __init__(self, data: Path, port: int, host: str = "127.0.0.1", command: str = "churn-assets", **env: str):
        self.url = f"http://127.0.0.1:{port}"
        base = clean_env()
        self.process = subprocess.Popen(
            [command, "serve", "--data-dir", str(data), "--host", host, "--port", str(port)]
            + ["--refresh-seconds", "0.2"],
            env=base | env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"the API did not start: {self.process.stdout.read()}")

    def stop(self) -> str:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=20)
        return out


def feature_rows(data: Path, day: str, n: int) -> list[dict]:
    """``n`` rows of day ``day``'s features, as the production model of the data directory ``data`` takes them
    (its per-source-type columns included), for posting to the API."""
    import json
    from datetime import date

    from churn_assets.core.registry.artifacts import LocalArtifactStore
    from churn_assets.core.registry.model_registry import ModelRegistry
    from churn_assets.core.warehouse.feature_spec import FeatureSpec
    from churn_assets.core.warehouse.queries import scored_day_select
    from churn_assets.io.duckdb_engine import DuckDBEngine

    registry = ModelRegistry(LocalArtifactStore(data / "artifacts"))
    card = registry.card(registry.production())
    spec = FeatureSpec(tuple(card.feature_windows), card.eligibility_days or 30)
    engine = DuckDBEngine(str(data / "warehouse.duckdb"), "churn")
    as_of = date.fromisoformat(day[:10])
    frame = engine.query(scored_day_select(engine.schema, as_of, as_of, card.type_features, spec)).head(n)
    return json.loads(frame[card.features].to_json(orient="records"))


# The container image (Dockerfile, .dockerignore), read as a builder would


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def instruction(name: str) -> list[str]:
    return [args for op, args in dockerfile() if op == name]


def build_context() -> list[str]:
    """The working tree's files (those git does not ignore, committed or not) that the build context admits
    (.dockerignore: exclude all, then re-include by pattern)."""
    patterns = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    listing = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listing, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    admitted = []
    for path in tracked.splitlines():
        keep = True
        for pattern in patterns:
            negated, glob = pattern.startswith("!"), pattern.lstrip("!")
            hit = (
                fnmatch.fnmatch(path, glob)
                or fnmatch.fnmatch(path.split("/")[0], glob)
                or (glob.startswith("**/") and f"/{glob[3:]}/" in f"/{path}")
            )
            if hit:
                keep = negated
        if keep:
            admitted.append(path)
    return admitted
