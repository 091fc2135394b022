"""The gcp deployment against local emulators: the same assets, tables in BigQuery, artifacts in GCS."""

import dagster as dg
import pandas as pd

from churn_assets_tests.conftest import Warehouse

DATA = ["raw_events", "raw_events_quarantine", "user_daily", "user_features"]


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)


def test_data_graph_on_bigquery_equals_the_embedded_default(tmp_path, gcp_settings):
    with dg.instance_for_test() as local_instance, dg.instance_for_test() as gcp_instance:
        local = Warehouse(tmp_path / "local", local_instance, users=150)
        gcp = Warehouse(tmp_path / "gcp", gcp_instance, users=150, **gcp_settings)
        for wh in (local, gcp):
            wh.materialize(["raw_users", "raw_users_quarantine"])
            assert wh.materialize(DATA, "2026-01-01", "2026-01-10").success
            assert wh.materialize(DATA, "2026-01-05").success  # a re-run replaces exactly that slice
        for table in ("raw_users", "raw_events", "user_daily", "user_features"):
            a, b = sorted_frame(local.table(table)), sorted_frame(gcp.table(table))
            pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=table)
        assert len(gcp.table("raw_events_quarantine")) == 0  # the empty quarantine table exists
