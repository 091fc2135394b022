"""Shared fixtures: a real Dagster instance and a DuckDB warehouse in a temporary directory."""

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from churn_assets.definitions import defs
from churn_assets.deployment import build_resources
from churn_assets.settings import Settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
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
    ) -> dg.ExecuteInProcessResult:
        tags = {RANGE_START_TAG: first, RANGE_END_TAG: last or first} if first else {}
        return dg.materialize(
            ALL_ASSETS,
            selection=selection,
            resources=self.resources,
            instance=self.instance,
            tags=tags,
            raise_on_error=raise_on_error,
        )

    def table(self, name: str, where: str = "") -> pd.DataFrame:
        with duckdb.connect(str(self.settings.warehouse_path), read_only=True) as conn:
            return conn.execute(f"select * from churn.{name} {where}").df()

    def check_evaluations(self, result: dg.ExecuteInProcessResult) -> list:
        return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


@pytest.fixture
def warehouse(tmp_path: Path, instance: dg.DagsterInstance) -> Warehouse:
    return Warehouse(tmp_path / "data", instance, users=300)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


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
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gcp-storage-emulator did not start") from None
                time.sleep(0.2)
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
