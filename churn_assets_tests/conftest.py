"""Shared fixtures: a real Dagster instance and a DuckDB warehouse in a temporary directory."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

# The suite tests the defaults: a developer's own CHURN_* settings (or DAGSTER_HOME) must not change what the
# definitions load with, so they are cleared before the package reads the environment.
for _name in [n for n in os.environ if n.startswith("CHURN_") or n == "DAGSTER_HOME"]:
    del os.environ[_name]
# ...but one: the in-process definitions' partitions end at the source's last day (CHURN_START_DATE + CHURN_DAYS),
# and the model fixtures need 40 days beyond the demo's 120 (partitions 2026-01-01 ... 2026-06-09).
os.environ["CHURN_DAYS"] = "160"

from churn_assets.definitions import defs  # noqa: E402
from churn_assets.deployment import build_resources  # noqa: E402
from churn_assets.settings import Settings  # noqa: E402
from churn_assets.stages import RANGE_END_TAG, RANGE_START_TAG  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any CHURN_* setting or DAGSTER_HOME, plus ``extra``: what a subprocess
    under test starts from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME"))}
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


ALL_ASSETS = list(defs.assets)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


class Warehouse:
    """Runs assets through Dagster against a DuckDB file and reads the tables back."""

    def __init__(self, data_dir: Path, instance: dg.DagsterInstance, **settings):
        if isinstance(settings.get("drift_from"), str):
            settings["drift_from"] = date.fromisoformat(settings["drift_from"])
        self.settings = Settings(data_dir=data_dir, **settings)
        self.resources = build_resources(self.settings)
        self.instance = instance

    def materialize(
        self,
        selection: list[str],
        first: str | None = None,
        last: str | None = None,
        raise_on_error: bool = True,
        run_config: dict | None = None,
    ) -> dg.ExecuteInProcessResult:
        tags = {RANGE_START_TAG: first, RANGE_END_TAG: last or first} if first else {}
        return dg.materialize(
            ALL_ASSETS,
            selection=selection,
            resources=self.resources,
            instance=self.instance,
            tags=tags,
            raise_on_error=raise_on_error,
            run_config=run_config,
        )

    def table(self, name: str, where: str = "") -> pd.DataFrame:
        if self.settings.deployment == "gcp":
            from churn_assets.io.bigquery import bigquery_client

            client = bigquery_client(self.settings.gcp_project, None)
            table = f"`{self.settings.gcp_project}.{self.settings.bq_dataset}.{name}`"
            frame = client.query(f"select * from {table} {where}").to_dataframe(create_bqstorage_client=False)
            frame.columns = [c.lower() for c in frame.columns]
            return frame
        with duckdb.connect(str(self.settings.warehouse_path), read_only=True) as conn:
            return conn.execute(f"select * from churn.{name} {where}").df()

    def check_evaluations(self, result: dg.ExecuteInProcessResult) -> list:
        return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


@pytest.fixture
def warehouse(tmp_path: Path, instance: dg.DagsterInstance) -> Warehouse:
    return Warehouse(tmp_path / "data", instance, users=300)


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
        "churn_assets.emulators",
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


@pytest.fixture(scope="session")
def bq_emulator() -> Iterator[str]:
    """bqemulator (ephemeral) on a free loopback port for the session; sets BIGQUERY_EMULATOR_HOST."""
    port = free_port()
    process = start_bigquery_emulator(port)
    host = f"http://127.0.0.1:{port}"
    previous = os.environ.get("BIGQUERY_EMULATOR_HOST")
    os.environ["BIGQUERY_EMULATOR_HOST"] = host
    try:
        yield host
    finally:
        process.terminate()
        process.wait(timeout=20)
        if previous is None:
            os.environ.pop("BIGQUERY_EMULATOR_HOST", None)
        else:
            os.environ["BIGQUERY_EMULATOR_HOST"] = previous


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator on a free loopback port for the session; yields STORAGE_EMULATOR_HOST."""
    port = free_port()
    process = subprocess.Popen(
        ["gcp-storage-emulator", "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, process, "gcp-storage-emulator")
        previous = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = host  # read by google-cloud-storage clients
        yield host
    finally:
        process.terminate()
        process.wait(timeout=10)
        if "previous" in locals():
            if previous is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = previous


@pytest.fixture
def gcs_bucket(gcs_emulator) -> str:
    """A fresh bucket in the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = f"churn-{uuid.uuid4().hex[:12]}"
    storage.Client(project="churn-test", credentials=AnonymousCredentials()).create_bucket(name)
    return name


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


@pytest.fixture
def gcp_settings(bq_emulator, gcs_emulator) -> dict:
    return new_gcp_settings()


@pytest.fixture(scope="module", params=["local", "gcp"])
def deployment(request) -> dict:
    """Module-level parametrization: the embedded default, then the gcp deployment on the emulators."""
    if request.param == "local":
        return {}
    request.getfixturevalue("bq_emulator")
    request.getfixturevalue("gcs_emulator")
    return new_gcp_settings()


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
