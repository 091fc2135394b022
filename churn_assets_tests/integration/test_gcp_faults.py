"""A BigQuery outage in the middle of a run: a clear failure, then an exact re-run."""

import threading
import time

import pandas as pd

from churn_assets.defs.jobs import DATA_ASSETS
from churn_assets_tests.conftest import Warehouse
from churn_assets_tests.helpers import (
    embedded_instance,
    free_port,
    new_gcp_settings,
    root_error,
    start_bigquery_emulator,
)

DATA = DATA_ASSETS
TABLES = ("raw_events", "user_daily", "user_state", "user_features")


def snapshot(wh: Warehouse) -> dict[str, pd.DataFrame]:
    out = {}
    for table in TABLES:
        frame = wh.table(table)
        out[table] = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    return out


def test_killing_bigquery_mid_run_fails_clearly_and_the_rerun_is_exact(tmp_path, gcs_emulator, monkeypatch):
    port = free_port()
    data_dir = tmp_path / "bigquery"
    data_dir.mkdir()
    emulator = start_bigquery_emulator(port, data_dir)  # persistent: its DuckDB file survives the kill
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        with embedded_instance() as instance:
            # the client gives up on the dead emulator after 5 s (CHURN_BQ_RETRY_SECONDS) instead of the default 45
            wh = Warehouse(tmp_path / "data", instance, users=200, bq_retry_seconds=5, **new_gcp_settings())
            wh.materialize(["raw_users", "raw_users_quarantine"])
            assert wh.materialize(DATA, "2026-01-01", "2026-01-12").success
            before = snapshot(wh)

            outcome = {}
            thread = threading.Thread(
                target=lambda: outcome.update(
                    run=wh.materialize(DATA, "2026-01-01", "2026-01-12", raise_on_error=False)
                )
            )
            runs_before = len(instance.get_runs())
            thread.start()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # kill it once this run has written raw_events
                runs = instance.get_runs()
                if len(runs) > runs_before:
                    events = instance.all_logs(runs[0].run_id)
                    if any(e.dagster_event and e.dagster_event.is_step_materialization for e in events):
                        break
                time.sleep(0.1)
            emulator.kill()
            emulator.wait(timeout=10)
            thread.join(timeout=300)
            result = outcome["run"]
            assert not result.success
            error = root_error(result)
            assert f"127.0.0.1:{port}" in error.message or "Connection refused" in error.message

            emulator = start_bigquery_emulator(port, data_dir)
            assert wh.materialize(DATA, "2026-01-01", "2026-01-12").success
            after = snapshot(wh)
            for table in TABLES:
                pd.testing.assert_frame_equal(before[table], after[table], obj=table)
            assert after["raw_events"]["event_id"].is_unique
    finally:
        emulator.terminate()
        emulator.wait(timeout=20)
