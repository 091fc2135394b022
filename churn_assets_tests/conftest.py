"""Shared fixtures: a real Dagster instance, a DuckDB warehouse in a temporary directory, the emulators.

Helpers that are not fixtures are in helpers.py."""

from __future__ import annotations

import contextvars
import fcntl
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from churn_assets.core.processes import restore_interrupts
from churn_assets.core.registry.model_registry import ModelRegistry
from churn_assets.definitions import build_definitions
from churn_assets.defs.deployment import build_resources
from churn_assets.defs.partitions import DailyGraph
from churn_assets.io.bigquery_engine import bigquery_client
from churn_assets.settings import Settings
from churn_assets.wiring.runs import range_tags
from churn_assets_tests.helpers import (
    RUN_ENVIRONMENT,
    cli,
    embedded_instance,
    free_port,
    new_gcp_settings,
    start_bigquery_emulator,
    stop,
    wait_for_port,
)

# The suite tests the defaults: a developer's own CHURN_* settings (or DAGSTER_HOME) must not reach a process under
# test (subprocesses start from helpers.clean_env) or a command that reads this process's environment.
for _name in [n for n in os.environ if n.startswith("CHURN_") or n == "DAGSTER_HOME"]:
    del os.environ[_name]
# In-process runs record their events as the command's runs do (helpers.embedded_instance for the storage).
os.environ.update(RUN_ENVIRONMENT)

# The in-process definitions: the defaults but one. The partitions end at the source's last day (CHURN_START_DATE +
# CHURN_DAYS), and the model fixtures need 40 days beyond the demo's 120 (partitions 2026-01-01 ... 2026-06-09).
SUITE_SETTINGS = Settings(days=160)
DEFS = build_definitions(SUITE_SETTINGS)
GRAPH = DailyGraph.from_settings(SUITE_SETTINGS)
ALL_ASSETS = list(DEFS.assets)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with embedded_instance() as inst:
        yield inst


class Warehouse:
    """Runs assets through Dagster against a warehouse (a DuckDB file, or a BigQuery dataset with a GCS artifact
    prefix on the emulators) and reads the tables back."""

    def __init__(self, data_dir: Path, instance: dg.DagsterInstance, **settings):
        if isinstance(settings.get("drift_from"), str):
            settings["drift_from"] = date.fromisoformat(settings["drift_from"])
        self.settings = Settings(data_dir=data_dir, **settings)
        self.resources = build_resources(self.settings)
        self.instance = instance

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.resources["artifacts"].store())

    def but(self, instance: dg.DagsterInstance | None = None, **changes) -> Warehouse:
        """The same warehouse with other settings (e.g. a drift from some day), on this instance or ``instance``."""
        values = {f.name: getattr(self.settings, f.name) for f in fields(Settings)} | changes
        return Warehouse(values.pop("data_dir"), instance or self.instance, **values)

    def fork(self, data_dir: Path, instance: dg.DagsterInstance) -> Warehouse:
        """A copy of every table and artifact, for a test that changes them: tests sharing a built warehouse then
        pass in any order. On gcp the copy is a dataset and an artifact prefix of its own."""
        if self.settings.deployment == "local":
            shutil.copytree(self.settings.data_dir, data_dir)
            return self.but(instance, data_dir=data_dir)
        suffix = uuid.uuid4().hex[:8]
        copy = self.but(instance, data_dir=data_dir, bq_dataset=f"churn_{suffix}", gcs_prefix=f"fork-{suffix}")
        client = bigquery_client(self.settings.gcp_project, None)
        source, target = (f"{self.settings.gcp_project}.{w.settings.bq_dataset}" for w in (self, copy))
        client.query(f"CREATE SCHEMA `{target}`").result()
        for name in (table.table_id for table in client.list_tables(source)):
            client.query(f"CREATE TABLE `{target}.{name}` AS SELECT * FROM `{source}.{name}`").result()
        old, new = self.resources["artifacts"].store(), copy.resources["artifacts"].store()
        for key in old.list(""):
            new.write_bytes(key, old.read_bytes(key))
        return copy

    def materialize(
        self,
        selection: list[str],
        first: str | None = None,
        last: str | None = None,
        raise_on_error: bool = True,
        run_config: dict | None = None,
    ) -> dg.ExecuteInProcessResult:
        tags = range_tags(first, last or first) if first else {}
        # Each run starts from a fresh context: Dagster keeps the entered instance's state storage in a context
        # variable, and after a failed in-process run its resets can come out of order and leave the variable on
        # an instance already gone ("Attempted to resolve undefined DagsterInstance weakref" in a later run of
        # the same test, seen once in a full suite). A run never needs the caller's context: its instance is given.
        return contextvars.Context().run(
            dg.materialize,
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
            client = bigquery_client(self.settings.gcp_project, None)
            table = f"`{self.settings.gcp_project}.{self.settings.bq_dataset}.{name}`"
            frame = client.query(f"select * from {table} {where}").to_dataframe(create_bqstorage_client=False)
            frame.columns = [c.lower() for c in frame.columns]
            return frame
        with duckdb.connect(str(self.settings.warehouse_path), read_only=True) as conn:
            return conn.execute(f"select * from churn.{name} {where}").df()

    def execute(self, statement: str) -> None:
        """One statement on the warehouse (``{table}`` prefixes become its schema), as an operator would run it."""
        if self.settings.deployment == "gcp":
            prefix = f"`{self.settings.gcp_project}.{self.settings.bq_dataset}`."
            bigquery_client(self.settings.gcp_project, None).query(statement.format(table=prefix)).result()
            return
        with duckdb.connect(str(self.settings.warehouse_path)) as conn:
            conn.execute(statement.format(table="churn."))

    def check_evaluations(self, result: dg.ExecuteInProcessResult) -> list:
        return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


@pytest.fixture
def own(built: Warehouse, tmp_path: Path) -> Iterator[Warehouse]:
    """A copy of the module's ``built`` warehouse, artifacts and all, on an instance of its own, for a test that
    changes it: the tests sharing a built warehouse then pass in any order."""
    with embedded_instance() as instance:
        yield built.fork(tmp_path / "own", instance)


@pytest.fixture
def warehouse(tmp_path: Path, instance: dg.DagsterInstance) -> Warehouse:
    return Warehouse(tmp_path / "data", instance, users=300)


@dataclass(frozen=True)
class FinishedRun:
    """One `churn-assets run` of the command tests' size (300 users, 90 days): its exit code and output, the
    directory it wrote and the port its metadata links point at (``CHURN_SERVE_URL``)."""

    data: Path
    port: int
    returncode: int
    stdout: str
    stderr: str

    def copy(self, to: Path) -> Path:
        """A copy of the data directory at ``to`` (instance, warehouse and artifacts), for a test that writes to it
        or serves it; the run itself stays as it was for the tests after. The instance's ``dagster.yaml`` names its
        own directory, as the command rewrites it for a moved data directory: nothing reads or writes the run's."""
        assert self.returncode == 0, self.stdout[-3000:] + self.stderr[-3000:]
        shutil.copytree(self.data, to)
        config = to / "dagster" / "dagster.yaml"
        config.write_text(config.read_text().replace(f'"{self.data / "dagster"}"', f'"{to / "dagster"}"'))
        assert f'"{to / "dagster"}"' in config.read_text()
        return to


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> FinishedRun:
    """The pipeline run that the command, dev and serving tests start from, run once per session: by whichever
    worker asks first (a file lock in the session's temporary root, which both workers share); the others wait."""
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    record = root / "finished-run.json"
    with open(root / "finished-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            data, port = root / "finished-run", free_port()
            out = cli("run", "--data-dir", str(data), "--users", "300", "--days", "90",
                      CHURN_SERVE_URL=f"http://127.0.0.1:{port}")  # fmt: skip
            record.write_text(json.dumps({"data": str(data), "port": port, "returncode": out.returncode,
                                          "stdout": out.stdout, "stderr": out.stderr}))  # fmt: skip
    run = json.loads(record.read_text())
    return FinishedRun(**(run | {"data": Path(run["data"])}))


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
        stop(process, timeout=20)
        if previous is None:
            os.environ.pop("BIGQUERY_EMULATOR_HOST", None)
        else:
            os.environ["BIGQUERY_EMULATOR_HOST"] = previous


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
        stop(process)
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


# The longest test files first: the two workers take whole files in collection order, so a long file collected
# last would leave one worker idle while the other finishes it. (Measured per file, --durations=0 summed; the
# command tests build the session's finished_run, which the dev and serving tests later copy.)
LONGEST_FIRST = (
    "assets/test_models.py",
    "integration/test_cli.py",
    "integration/test_services.py",
    "integration/test_floors.py",
    "integration/test_bench.py",
    "integration/test_readiness.py",
    "integration/test_gcp.py",
    "integration/test_growth.py",
    "integration/test_dev.py",
    "assets/test_pipeline.py",
    "integration/test_serving.py",
    "assets/test_bad_input.py",
    "integration/test_evaluate.py",
    "integration/test_real_logs.py",
    "integration/test_cancellation.py",
    "integration/test_serving_faults.py",
    "integration/test_gcp_faults.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """The suite started as a background job of a script (`pytest &`) ignores SIGINT, and so would every server it
    starts. Restored here, in the main process and in each worker, so that the servers' stopping is tested, not
    the shell's habit."""
    restore_interrupts()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        return next((i for i, name in enumerate(LONGEST_FIRST) if path.endswith(name)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the order within a file, and of the other files, is kept
