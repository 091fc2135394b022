"""A company's own purchase log through the real command: its vocabulary, its columns, its bad rows."""

from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from churn_assets.core.simulation.simulate import as_shop_export, simulate_events
from churn_assets.settings import Settings
from churn_assets_tests.helpers import cli

START = date(2025, 3, 1)  # a log of last year: without --start and --days, the run takes the file's days
DAYS = 120


@pytest.fixture(scope="module")
def orders(tmp_path_factory) -> str:
    """A shop's export: one row per order (its own type name, a quantity column, no event id, no users file),
    from the simulator's purchase profile, with one order of an impossible amount."""
    config = Settings(users=2000, start_date=START, days=DAYS, profile="purchase").simulation()
    events = pd.concat([simulate_events(config, START + timedelta(days=i)) for i in range(DAYS)], ignore_index=True)
    frame = as_shop_export(events)
    frame.loc[frame.index[-40], "amount"] = "1e308"
    path = tmp_path_factory.mktemp("shop") / "orders.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_an_unmapped_vocabulary_is_refused_at_once_with_the_setting_to_change(orders, tmp_path):
    out = cli("run", "--data-dir", str(tmp_path / "d"), "--events-file", orders)
    assert out.returncode == 1
    text = out.stdout
    # one count over the run's rows, before any day is validated: nothing quarantined, no check evaluated
    source = f"files(events={orders}, users=derived from events)"
    assert f"step raw_events failed: churn_assets.core.intake.run_checks.UnmappedTypesError: {source}: " in text
    assert "(100%, more than the 5% validation tolerates)" in text
    assert "refused before any day was validated or quarantined" in text
    assert "event types not in the vocabulary: 'order' (" in text and "CHURN_EVENT_TYPES='order=<kind>'" in text
    assert "valid_day" not in text and "Traceback" not in out.stdout + out.stderr
    with duckdb.connect(str(tmp_path / "d" / "warehouse.duckdb"), read_only=True) as conn:
        tables = {name for (name,) in conn.execute("select table_name from information_schema.tables").fetchall()}
    assert not {"raw_events", "raw_events_quarantine"} & tables


def test_a_purchase_log_with_one_setting_runs_end_to_end(orders, tmp_path):
    out = cli("run", "--data-dir", str(tmp_path / "d"), "--events-file", orders, CHURN_EVENT_TYPES="order=purchase")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "churn-assets run: 2025-03-01..2025-06-28 (120 days)" in text
    assert "range: the events file's first to last day (2025-03-01..2025-06-28)" in text
    for stage in ("[4/7] training set and candidate models", "[6/7] predictions", "[7/7] drift report"):
        assert stage in text
    assert "Production model: m-" in text and "Predictions 2025-06-28:" in text  # the file's last day scored
    # the impossible amount is quarantined and shown once, as a warning with the value
    assert "WARN raw_events check valid_day on 2025-06-" in text
    assert "value_out_of_bounds" in text and "amount='1e308'" in text
    assert "note: raw_events ignores the source column(s) ['quantity'] (not used by the pipeline)" in text
    assert "RuntimeWarning" not in out.stderr and "Traceback" not in out.stderr


def test_a_range_that_holds_none_of_the_files_days_is_refused_naming_both(orders, tmp_path):
    out = cli("run", "--data-dir", str(tmp_path / "d"), "--events-file", orders, "--start", "2026-01-01")
    assert (out.returncode, out.stderr.strip()) == (
        2,
        f"error: the range 2026-01-01..2026-04-30 holds none of the events of {orders}, which run from 2025-03-01 "
        "to 2025-06-28: leave out --start and --days to run the file's days, or choose days inside them",
    )
    assert "[1/" not in out.stdout  # refused before any stage


def test_an_unreadable_events_file_is_named_by_the_command(tmp_path):
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(b"PAR1\x15\x04")
    out = cli("run", "--data-dir", str(tmp_path / "d"), "--events-file", str(cut), "--days", "10")
    assert out.returncode == 1
    assert f"{cut}: cannot be read as parquet: " in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
