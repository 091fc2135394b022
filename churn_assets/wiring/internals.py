"""The one module that uses Dagster's internal APIs, each for something its public API cannot do yet.

1. Running a job of the code location in this process, recorded as the code location's own run.

``churn-assets run`` executes its stages in its own process (a run per stage costs no process start-up and
no second load of the definitions), yet its runs must look in the Dagster UI exactly like runs launched
there: under Jobs -> <job> -> Runs, on the Overview timeline, and re-executable without a "different version"
warning. The UI finds a job's runs by the code location that launched them (the run's remote origin and its
``.dagster/repository`` tag), which ``JobDefinition.execute_in_process`` and the public ``execute_job`` do not
record. Dagster has no public API for "create this run as location X's and execute it here", so this module
is the one place that uses its internal ones:

* the workspace file's code location origin (``WorkspaceFileTarget``), the same one the webserver and the
  daemon load;
* ``create_run_for_job`` with that origin, and ``execute_run`` on a reconstructable job of the same module.

2. Pointing a partition's check evaluation at the partition's materialization (``target_materialization``).
Dagster counts a partitioned check as passed or failed only while its evaluation targets the partition's latest
materialization. ``AssetCheckResult`` finds that target for a single partition key; for a partition range the
evaluations are ``AssetCheckEvaluation``s, and the target's type is not exported.

3. The base types of the warehouse IO managers. ``io/duckdb.py`` and ``io/bigquery.py`` are
dagster-duckdb-pandas' and dagster-gcp-pandas' IO managers with adjustments (empty tables kept, one transaction
per write, the days in ``partition_log``). Those libraries build them on Dagster's table IO manager
(``DbIOManager``, ``DbTypeHandler``, ``TableSlice``) and their own clients, none of which is exported; to adjust
them is to use these names. dagster-gcp's are imported on first use, as only the gcp deployment needs them.

4. The result of a run worker's health check (``CheckRunHealthResult``, ``WorkerStatus``). The daemon's run
monitoring marks a run failed when its run launcher says the worker is gone; Dagster's default launcher cannot
say, so a killed run stayed STARTED forever. ``wiring/run_launcher.py`` extends the public ``DefaultRunLauncher``
with that check, and the check's result types are not exported.

5. Dagster's SQLite storage, to keep the event log's databases open (``wiring/instance_storage.py``). An
instance's storage is a configurable class named in its ``dagster.yaml``, Dagster's extension point for it; the
SQLite classes it extends (``DagsterSqliteStorage``, ``SqliteEventLogStorage``), the engine factory they use
and the event log's table (``SqlEventLogStorageTable``, for a batch's rows) are not exported.

Everything else in the package uses public Dagster APIs only.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster._core.storage.event_log import SqlEventLogStorageTable, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster_duckdb.io_manager import DuckDbClient

__all__ = [
    "CheckRunHealthResult",
    "DagsterSqliteStorage",
    "SqliteEventLogStorage",
    "SqlEventLogStorageTable",
    "create_engine",
    "WorkerStatus",
    "DbIOManager",
    "DbTypeHandler",
    "DuckDbClient",
    "TableSlice",
    "execute_in_location",
    "target_materialization",
]

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = ROOT / "workspace.yaml"
MODULE = "churn_assets.definitions"
LOCATION = "churn_assets"  # as in workspace.yaml


@cache
def _location():
    """The code location origin of workspace.yaml (in a checkout), or of the module itself (an installed copy)."""
    from dagster._core.workspace.load_target import ModuleTarget, WorkspaceFileTarget

    if WORKSPACE.exists():
        [origin] = WorkspaceFileTarget(paths=[str(WORKSPACE)]).create_origins()
        return origin
    [origin] = ModuleTarget(MODULE, "defs", None, LOCATION).create_origins()
    return origin


def execute_in_location(
    defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, tags: Mapping[str, str], run_config: dict
):
    """Create the run of ``job_name`` as the code location's and execute it here; the ``JobExecutionResult``."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.execution.api import execute_run
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin

    job_def = defs.resolve_job_def(job_name)
    repository = RemoteRepositoryOrigin(_location(), defs.get_repository_def().name)
    recon = ReconstructableRepository.for_module(MODULE, "defs", str(ROOT)).get_reconstructable_job(job_name)
    run = instance.create_run_for_job(
        job_def=job_def,
        run_config=run_config,
        tags=tags,
        remote_job_origin=RemoteJobOrigin(repository, job_name),
        job_code_origin=recon.get_python_origin(),
    )
    return execute_run(recon, run, instance)


def target_materialization(record) -> AssetCheckEvaluationTargetMaterializationData:
    """The target of a check evaluation: a materialization's event log record."""
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )


def __getattr__(name: str):
    """dagster-gcp's BigQuery client and its DELETE of a table slice, imported when the gcp deployment asks."""
    if name in ("BigQueryClient", "bigquery_cleanup_statement"):
        from dagster_gcp.bigquery.io_manager import BigQueryClient, _get_cleanup_statement

        return BigQueryClient if name == "BigQueryClient" else _get_cleanup_statement
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
