"""The warehouse layer's tests run on two engines: a DuckDB file and a dataset in the BigQuery emulator.

The same GoogleSQL runs on both (translated for DuckDB); each test states the exact expected values.
"""

from __future__ import annotations

import uuid

import pytest

from churn_assets.io.bigquery_engine import BigQueryEngine
from churn_assets.io.duckdb_engine import DuckDBEngine
from churn_assets.io.warehouse import Engine


@pytest.fixture(params=["duckdb", "bigquery"])
def engine(request, tmp_path) -> Engine:
    if request.param == "duckdb":
        return DuckDBEngine(str(tmp_path / "warehouse.duckdb"), "churn")
    request.getfixturevalue("bq_emulator")
    return BigQueryEngine("churn-test", f"layer_{uuid.uuid4().hex[:10]}", None)
