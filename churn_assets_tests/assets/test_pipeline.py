"""Materialize the data graph in-process through Dagster, against a DuckDB file, on the simulator.

One warehouse is built per deployment for the module; a test that changes it works on its own copy (``own``)."""

import dagster as dg
import pandas as pd
import pytest

from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC
from churn_assets.defs.jobs import DATA_ASSETS as DATA
from churn_assets_tests.conftest import Warehouse
from churn_assets_tests.helpers import embedded_instance, root_error, utc

FIRST, LAST = "2026-01-01", "2026-02-05"


@pytest.fixture(scope="module")
def built(tmp_path_factory, deployment) -> Warehouse:
    """300 simulated users, 36 days of data, labels for the first 6 days (their horizons are complete)."""
    with embedded_instance() as instance:
        wh = Warehouse(tmp_path_factory.mktemp("data"), instance, users=300, **deployment)
        wh.materialize(["raw_users", "raw_users_quarantine"])
        wh.data_run = wh.materialize(DATA, FIRST, LAST)
        wh.label_run = wh.materialize(["churn_labels"], "2026-01-01", "2026-01-06")
        yield wh


def test_range_runs_as_one_run_and_every_partition_is_materialized(built):
    assert built.data_run.success and built.label_run.success
    runs = built.instance.get_runs()
    assert len(runs) == 3  # users, the whole data range, the label range
    days = {k for k in pd.date_range(FIRST, LAST).strftime("%Y-%m-%d")}
    for asset in DATA:
        assert built.instance.get_materialized_partitions(dg.AssetKey(asset)) == days


def test_tables_are_consistent(built):
    users = built.table("raw_users")
    events = built.table("raw_events")
    daily = built.table("user_daily")
    features = built.table("user_features")
    assert len(users) == 300 and events["event_id"].is_unique
    assert events["user_id"].isin(users["user_id"]).all()
    assert len(built.table("raw_events_quarantine")) == 0
    # user_daily sums back to the events
    assert daily["events"].sum() == len(events)
    assert daily.duplicated(["user_id", "activity_date"]).sum() == 0
    # one feature row per eligible user per day: active in the 30 days up to the day
    assert list(features.columns) == list(DEFAULT_SPEC.columns)
    jan20 = features[features["as_of_date"] == utc("2026-01-20")]
    recent = daily[daily["active"] & daily["activity_date"].between(utc("2025-12-22"), utc("2026-01-20"))]
    assert sorted(jan20["user_id"]) == sorted(recent["user_id"].unique())
    assert 0 < len(jan20) < len(users)


def test_labels_only_for_eligible_users_and_match_the_activity(built):
    labels = built.table("churn_labels")
    features = built.table("user_features")
    daily = built.table("user_daily")
    jan5 = labels[labels["as_of_date"] == utc("2026-01-05")].set_index("user_id")["churned"]
    eligible = features[features["as_of_date"] == utc("2026-01-05")]
    assert sorted(jan5.index) == sorted(eligible["user_id"])
    horizon = daily[daily["active"] & daily["activity_date"].between(utc("2026-01-06"), utc("2026-02-04"))]
    expected = (~jan5.index.isin(horizon["user_id"])).astype(int)
    assert jan5.tolist() == expected.tolist()


def test_each_partition_gets_its_own_check_evaluations(built):
    evaluations = built.check_evaluations(built.data_run)
    raw = [e for e in evaluations if e.asset_key == dg.AssetKey("raw_events")]
    assert len(raw) == 36  # valid_day (the rules and the volume), once for every day
    assert {e.partition for e in raw} == set(pd.date_range(FIRST, LAST).strftime("%Y-%m-%d"))
    assert all(e.passed for e in evaluations)
    # the derived table's contract is judged once for the run's whole output
    [features] = [e for e in evaluations if e.asset_key == dg.AssetKey("user_features")]
    assert features.partition is None and features.passed
    assert features.metadata["rows"].value == len(built.table("user_features"))


def test_each_partition_of_a_ranged_run_reports_its_own_row_count(built):
    """Not the whole range's: Dagster copies a ranged run's output metadata onto every partition."""
    days = list(pd.date_range(FIRST, LAST).strftime("%Y-%m-%d"))
    for asset, column in [
        ("raw_events", "event_time"),
        ("user_daily", "activity_date"),
        ("user_features", "as_of_date"),
    ]:
        table = built.table(asset)
        per_day = table.groupby(table[column].dt.strftime("%Y-%m-%d")).size()
        mats = [m for m in built.data_run.asset_materializations_for_node(asset) if m.asset_key.path == [asset]]
        counts = {m.partition: m.metadata["dagster/row_count"].value for m in mats}
        assert counts == {d: int(per_day.get(d, 0)) for d in days}, asset
        assert sum(counts.values()) == len(table)
    labels = built.table("churn_labels")
    jan3 = labels[labels["as_of_date"] == utc("2026-01-03")]
    mats = {m.partition: m.metadata for m in built.label_run.asset_materializations_for_node("churn_labels")}
    assert len(mats) == 6
    assert mats["2026-01-03"]["dagster/row_count"].value == len(jan3)
    assert mats["2026-01-03"]["positive_rate"].value == round(float(jan3["churned"].mean()), 6)


def test_rematerializing_a_partition_gives_identical_rows_and_no_duplicates(own):
    where = "where activity_date = '2026-01-20'"
    before_daily = own.table("user_daily", where)
    before_events = own.table("raw_events").sort_values("event_id").reset_index(drop=True)
    result = own.materialize(DATA, "2026-01-20")
    assert result.success
    after_events = own.table("raw_events").sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(before_events, after_events)
    after_daily = own.table("user_daily", where)
    pd.testing.assert_frame_equal(
        before_daily.sort_values("user_id").reset_index(drop=True),
        after_daily.sort_values("user_id").reset_index(drop=True),
    )


def test_labels_refuse_an_incomplete_horizon_naming_the_missing_days(own):
    # data exists through 2026-02-05: the horizon of 2026-01-10 runs to 2026-02-09
    result = own.materialize(["churn_labels"], "2026-01-10", raise_on_error=False)
    assert not result.success
    error = root_error(result)
    assert (
        "Cannot compute churn labels 2026-01-10..2026-01-10 with a 30-day horizon: "
        "user_state is missing 2026-02-09 (1 day)"
    ) in error.message
    assert len(own.table("churn_labels", "where as_of_date = '2026-01-10'")) == 0


def root_message(result) -> str:
    error = root_error(result)
    return error.message


def test_a_gap_in_the_state_chain_is_an_error_naming_the_missing_day(own):
    # 2026-02-06 was never materialized: user_state of 2026-02-07 must not restart from zero
    result = own.materialize(DATA, "2026-02-07", raise_on_error=False)
    assert not result.success
    assert "user_state is missing 2026-02-06 (1 day)" in root_message(result)
    assert "2026-02-07" in own.instance.get_materialized_partitions(dg.AssetKey("user_daily"))
    assert "2026-02-07" not in own.instance.get_materialized_partitions(dg.AssetKey("user_state"))
    assert len(own.table("user_state", "where as_of_date = '2026-02-07'")) == 0


def test_features_refuse_a_window_with_missing_daily_days(own):
    # an operator drops a bad day of user_daily to reload it later
    engine = own.resources["warehouse"].engine()
    engine.run_transaction(
        [
            f"DELETE FROM {engine.schema}.user_daily WHERE activity_date = TIMESTAMP '2026-01-15 00:00:00+00'",
            f"DELETE FROM {engine.schema}.partition_log WHERE table_name = 'user_daily' "
            "AND partition_date = TIMESTAMP '2026-01-15 00:00:00+00'",
        ]
    )
    before = own.table("user_features", "where as_of_date = '2026-01-20'")
    result = own.materialize(["user_features"], "2026-01-20", raise_on_error=False)
    assert not result.success
    assert "Cannot compute user_features 2026-01-20..2026-01-20: user_daily is missing 2026-01-15 (1 day)" in (
        root_message(result)
    )
    assert len(own.table("user_features", "where as_of_date = '2026-01-20'")) == len(before)  # left as it was
    assert own.materialize(["user_daily"], "2026-01-15").success  # reloading the day restores the window
    assert own.materialize(["user_features"], "2026-01-20").success


def test_partition_slices_are_utc_days_whatever_the_machine_time_zone(tmp_path, instance, monkeypatch):
    # DuckDB reads timestamp strings in the session's zone; with TZ=Asia/Tokyo a slice would be 9 hours off.
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    wh = Warehouse(tmp_path / "data", instance, users=200)
    wh.materialize(["raw_users", "raw_users_quarantine"])
    wh.materialize(["raw_events", "raw_events_quarantine"], "2026-01-01", "2026-01-02")
    before = wh.table("raw_events").sort_values("event_id").reset_index(drop=True)
    wh.materialize(["raw_events", "raw_events_quarantine"], "2026-01-02")
    after = wh.table("raw_events").sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    days = after["event_time"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d")
    assert sorted(days.unique()) == ["2026-01-01", "2026-01-02"]


def test_the_column_schema_is_on_the_asset_once(built):
    from churn_assets_tests.conftest import DEFS as defs

    for asset, first_columns in (
        ("user_daily", ["user_id", "activity_date", "events"]),
        ("raw_events", ["event_id", "user_id", "event_time"]),
    ):
        node = defs.resolve_asset_graph().get(dg.AssetKey(asset))
        assert [c.name for c in node.metadata["dagster/column_schema"].columns][:3] == first_columns
        mats = [m for m in built.data_run.get_asset_materialization_events() if m.asset_key == dg.AssetKey(asset)]
        assert len(mats) == 36
        assert not any("dagster/column_schema" in m.materialization.metadata for m in mats)


def test_a_one_day_rerun_has_exactly_the_metadata_its_day_had_in_the_ranged_run(built, own):
    """Every figure of a ranged run's partition is its own: the same day alone reports the same, nothing more."""
    day = "2026-01-20"

    def by_asset(result) -> dict:
        return {
            m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()}
            for m in result.get_asset_materialization_events()
            for m in [m.step_materialization_data.materialization]
            if m.partition == day
        }

    where = own.settings.bq_dataset if own.settings.deployment == "gcp" else str(own.settings.data_dir)
    ranged = by_asset(built.data_run)
    alone = by_asset(own.materialize(DATA, day, day))
    assert sorted(alone) == sorted(DATA)
    for asset in DATA:
        # but one entry: Dagster's table IO manager records the SELECT of the run's whole slice as "Query"
        query = alone[asset].pop("Query", None)
        assert query is None or "'2026-01-20 00:00:00' AND" in query
        ranged[asset].pop("Query", None)
        for key in ("dagster/table_name", "warehouse"):  # where the table lives, where it names the copy
            if alone[asset].get(key) != ranged[asset].get(key):
                assert where in alone[asset].pop(key) and where not in ranged[asset].pop(key), asset
        assert alone[asset] == ranged[asset], asset
    daily = own.table("user_daily", f"where activity_date = '{day}'").sort_values("user_id").head(5)
    assert "| user_id" in alone["user_daily"]["preview"] and daily["user_id"].iloc[0] in alone["user_daily"]["preview"]
    assert alone["user_daily"]["dagster/row_count"] == len(own.table("user_daily", f"where activity_date = '{day}'"))
