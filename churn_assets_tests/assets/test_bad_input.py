"""Every validation check fires on crafted bad files, and the bad rows land in quarantine."""

from datetime import date, timedelta

import dagster as dg
import pandas as pd

from churn_assets.defs.jobs import DATA_ASSETS as DATA
from churn_assets_tests.conftest import Warehouse
from churn_assets_tests.helpers import embedded_instance, root_error

USERS = ["raw_users", "raw_users_quarantine"]


def write_users(path, ids, extra_rows=()):
    rows = [f"{u},2025-12-01T00:00:00Z,basic,US,organic" for u in ids] + list(extra_rows)
    path.write_text("user_id,signup_time,plan,country,channel\n" + "\n".join(rows) + "\n")
    return str(path)


def good_rows(day: str, n: int, prefix: str = "g") -> list[str]:
    return [f"{prefix}{day}-{i},u{i % 20},{day}T{(i % 24):02d}:00:00Z,session,{i % 30},0" for i in range(n)]


def write_events(path, rows):
    path.write_text("event_id,user_id,event_time,event_type,minutes,amount\n" + "\n".join(rows) + "\n")
    return str(path)


def evaluations(result, asset="raw_events"):
    return {
        (e.partition, e.check_name): e
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        for e in [e.event_specific_data]
        if e.asset_key == dg.AssetKey(asset)
    }


BAD = [
    "b1,u1,2026-01-01T08:00:00Z,session,lots,0",  # bad_type
    "b2,,2026-01-01T08:00:00Z,session,1,0",  # null_key
    "g2026-01-01-0,u2,2026-01-01T09:00:00Z,session,1,0",  # duplicate_event_id (repeats a good id)
    "b4,u3,2026-01-01T08:00:00Z,teleport,0,0",  # unmapped_event_type
    "b5,u4,2026-01-02T00:30:00Z,session,1,0",  # event_time_outside_partition
    "b6,u5,2026-01-01T10:00:00Z,payment,0,-9.99",  # negative_value
    "b7,ghost,2026-01-01T11:00:00Z,session,1,0",  # unknown_user
]


def test_few_bad_rows_warn_are_quarantined_and_downstream_runs(tmp_path, instance):
    (tmp_path / "in").mkdir()
    events = write_events(tmp_path / "in" / "ev-2026-01-01.csv", good_rows("2026-01-01", 200) + BAD)
    users = write_users(tmp_path / "users.csv", [f"u{i}" for i in range(20)])
    template = events.replace("2026-01-01", "{date}")
    wh = Warehouse(tmp_path / "data", instance, events_file=template, users_file=users, days=1)
    wh.materialize(USERS)
    result = wh.materialize(DATA, "2026-01-01")
    assert result.success
    found = evaluations(result)
    e = found[("2026-01-01", "valid_day")]  # the rules' and the volume's verdicts of the day, one evaluation
    assert not e.passed and e.severity == dg.AssetCheckSeverity.WARN  # 7 of 207 rows: below 5%
    assert e.metadata["rejected_rows"].value == 7
    assert e.metadata["rejected_by_reason"].value == {
        "bad_type": 1,
        "null_key": 1,
        "duplicate_event_id": 1,
        "unmapped_event_type": 1,
        "event_time_outside_partition": 1,
        "negative_value": 1,
        "unknown_user": 1,
    }
    assert e.metadata["recent_counts"].value == []  # the first day: no recent days to compare its volume with
    assert e.description.endswith("200 rows; fewer than 7 recent days to compare.")
    reasons = wh.table("raw_events_quarantine").sort_values("reason")[["event_id", "user_id", "reason"]]
    assert reasons.values.tolist() == [
        ["b1", "u1", "bad_type"],
        ["g2026-01-01-0", "u2", "duplicate_event_id"],
        ["b5", "u4", "event_time_outside_partition"],
        ["b6", "u5", "negative_value"],
        ["b2", None, "null_key"],
        ["b7", "ghost", "unknown_user"],
        ["b4", "u3", "unmapped_event_type"],
    ]
    assert wh.table("raw_events_quarantine")["minutes"].tolist().count("lots") == 1
    assert len(wh.table("raw_events")) == 200
    assert "2026-01-01" in instance.get_materialized_partitions(dg.AssetKey("user_features"))


def test_quarantine_rows_are_counted_on_their_own_day_in_a_ranged_run(tmp_path, instance):
    (tmp_path / "in").mkdir()
    write_events(tmp_path / "in" / "ev-2026-01-01.csv", good_rows("2026-01-01", 200) + BAD)
    write_events(tmp_path / "in" / "ev-2026-01-02.csv", good_rows("2026-01-02", 150))
    users = write_users(tmp_path / "users.csv", [f"u{i}" for i in range(20)])
    template = str(tmp_path / "in" / "ev-{date}.csv")
    wh = Warehouse(tmp_path / "data", instance, events_file=template, users_file=users, days=2)
    wh.materialize(USERS)
    result = wh.materialize(DATA, "2026-01-01", "2026-01-02")
    assert result.success
    counts = {
        (m.asset_key.to_user_string(), m.partition): m.metadata["dagster/row_count"].value
        for m in result.asset_materializations_for_node("raw_events")
    }
    assert counts == {
        ("raw_events", "2026-01-01"): 200,
        ("raw_events", "2026-01-02"): 150,
        ("raw_events_quarantine", "2026-01-01"): 7,
        ("raw_events_quarantine", "2026-01-02"): 0,
    }


def one_day_with(tmp_path, instance, bad: list[str]):
    """50 good rows of 2026-01-01 and ``bad``, of 20 users, through the data assets: the warehouse and the run."""
    events = write_events(tmp_path / "events.csv", good_rows("2026-01-01", 50) + bad)
    users = write_users(tmp_path / "users.csv", [f"u{i}" for i in range(20)])
    wh = Warehouse(tmp_path / "data", instance, events_file=events, users_file=users, days=1)
    wh.materialize(USERS)
    return wh, wh.materialize(DATA, "2026-01-01", raise_on_error=False)


def test_a_large_share_of_bad_rows_blocks_downstream(tmp_path, instance):
    bad = [f"x{i},ghost,2026-01-01T08:00:00Z,session,0,0" for i in range(10)]
    wh, result = one_day_with(tmp_path, instance, bad)
    assert not result.success
    e = evaluations(result)[("2026-01-01", "valid_day")]
    assert (e.passed, e.severity, e.metadata["rejected_rows"].value) == (False, dg.AssetCheckSeverity.ERROR, 10)
    assert "10 of 60 rows quarantined: 10 unknown_user (16.67%; blocking above 5.00%)" in e.description
    # the data and its quarantine are written, but nothing downstream ran on them
    assert len(wh.table("raw_events_quarantine")) == 10
    assert instance.get_materialized_partitions(dg.AssetKey("user_daily")) == set()


def test_a_log_mostly_in_another_vocabulary_is_refused_before_any_row_is_validated(tmp_path, instance):
    _, result = one_day_with(tmp_path, instance, [f"x{i},u1,2026-01-01T08:00:00Z,teleport,0,0" for i in range(10)])
    assert not result.success and evaluations(result) == {}  # no check ran: no day was validated
    error = root_error(result)
    assert error.cls_name == "UnmappedTypesError"
    assert "10 of the 60 events of 2026-01-01..2026-01-01 (17%, more than the 5% validation tolerates)" in error.message
    assert "event types not in the vocabulary: 'teleport' (10 rows)" in error.message
    assert instance.get_materialized_partitions(dg.AssetKey("raw_events_quarantine")) == set()


def test_a_day_that_collapses_against_its_recent_days_blocks(tmp_path, instance):
    (tmp_path / "in").mkdir()
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(9)]
    for d in days:
        n = 10 if d == date(2026, 1, 9) else 100 + d.day
        write_events(tmp_path / "in" / f"ev-{d}.csv", good_rows(d.isoformat(), n))
    users = write_users(tmp_path / "users.csv", [f"u{i}" for i in range(20)])
    template = str(tmp_path / "in" / "ev-{date}.csv")
    wh = Warehouse(tmp_path / "data", instance, events_file=template, users_file=users, days=9)
    wh.materialize(USERS)
    assert wh.materialize(DATA, "2026-01-01", "2026-01-08").success
    result = wh.materialize(DATA, "2026-01-09", raise_on_error=False)
    assert not result.success
    e = evaluations(result)[("2026-01-09", "valid_day")]
    assert not e.passed and e.severity == dg.AssetCheckSeverity.ERROR  # every row valid, but a tenth of the usual
    assert (e.metadata["rejected_rows"].value, e.metadata["recent_counts"].value) == (
        0,
        [102, 103, 104, 105, 106, 107, 108],
    )
    assert e.description.startswith("All 10 rows pass every rule. 10 rows is a collapse: under 10% of recent days")


def test_bad_user_rows_fail_their_checks_and_are_quarantined(tmp_path, instance):
    users = write_users(
        tmp_path / "users.csv",
        [f"u{i}" for i in range(60)],
        extra_rows=["u1,2025-12-02,pro,GB,social", ",2025-12-02,pro,GB,social", "u99,soon,pro,GB,social"],
    )
    events = write_events(tmp_path / "events.csv", good_rows("2026-01-01", 5))
    wh = Warehouse(tmp_path / "data", instance, events_file=events, users_file=users, days=1)
    result = wh.materialize(USERS)
    assert result.success  # 3 of 63 rows: below the blocking share
    e = evaluations(result, "raw_users")[(None, "valid_rows")]
    assert (e.passed, e.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert e.metadata["rejected_by_reason"].value == {"bad_type": 1, "null_key": 1, "duplicate_user_id": 1}
    assert sorted(wh.table("raw_users_quarantine")["reason"]) == ["bad_type", "duplicate_user_id", "null_key"]
    assert len(wh.table("raw_users")) == 60


def test_labels_check_blocks_when_the_horizon_has_no_activity(tmp_path, instance):
    # 60 users active on the first 5 days; after that activity tracking broke and the export holds only
    # billing events, which are not activity: every label would be "churned"
    rows = [f"e{d}-{u},u{u},2026-01-0{d}T10:00:00Z,session,5,0" for d in range(1, 6) for u in range(60)]
    later = [date(2026, 1, 6) + timedelta(days=i) for i in range(31)]
    rows += [f"p{d}-{u},u{u},{d}T03:00:00Z,payment,0,9.99" for d in later for u in range(60)]
    events = write_events(tmp_path / "events.csv", rows)
    wh = Warehouse(tmp_path / "data", instance, events_file=events, days=40)
    wh.materialize(USERS)
    assert len(wh.table("raw_users")) == 60  # derived from first events
    assert wh.materialize(DATA, "2026-01-01", "2026-02-05").success
    result = wh.materialize(["churn_labels"], "2026-01-05", raise_on_error=False)
    assert not result.success
    e = evaluations(result, "churn_labels")[(None, "label_rate_plausible")]
    assert not e.passed and e.metadata["all_churned_days"].value == ["2026-01-05"]
    assert "every eligible user is labelled churned (first 2026-01-05: all 60)" in e.description


def test_a_malformed_file_fails_with_a_message_naming_the_problem(tmp_path, instance):
    events = tmp_path / "events.csv"
    text = "user_id,time,kind\nu1,2026-01-01T10:00:00Z,session\n"
    events.write_text(text)
    wh = Warehouse(tmp_path / "data", instance, events_file=str(events), days=1)
    result = wh.materialize(USERS, raise_on_error=False)
    assert not result.success
    error = root_error(result)
    assert "events.csv: missing required column(s) ['event_time']" in error.message
    assert events.read_text() == text  # the source file is untouched


def test_an_empty_first_load_then_a_good_load_gives_the_good_load_alone(tmp_path, instance):
    """A header-only first load used to fix the id columns as INTEGER; the declared types never change."""
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(3)]
    users = write_users(tmp_path / "users.csv", [f"u{i}" for i in range(20)])
    (tmp_path / "empty").mkdir()
    (tmp_path / "good").mkdir()
    for d in days:
        write_events(tmp_path / "empty" / f"ev-{d}.csv", [])
        write_events(tmp_path / "good" / f"ev-{d}.csv", good_rows(d.isoformat(), 50))
    good = str(tmp_path / "good" / "ev-{date}.csv")
    empty = str(tmp_path / "empty" / "ev-{date}.csv")
    refused = Warehouse(tmp_path / "a", instance, events_file=empty, users_file=users)
    refused.materialize(USERS)
    assert not refused.materialize(DATA, "2026-01-01", "2026-01-03", raise_on_error=False).success
    # an empty source is refused in a fresh dir too, unless the user accepts it
    first = Warehouse(tmp_path / "a", instance, events_file=empty, users_file=users, max_shrink=1.0)
    assert first.materialize(DATA, "2026-01-01", "2026-01-03").success
    assert len(first.table("raw_events")) == 0
    again = Warehouse(tmp_path / "a", instance, events_file=good, users_file=users)
    assert again.materialize(DATA, "2026-01-01", "2026-01-03").success
    with embedded_instance() as fresh_instance:
        alone = Warehouse(tmp_path / "b", fresh_instance, events_file=good, users_file=users)
        alone.materialize(USERS)
        assert alone.materialize(DATA, "2026-01-01", "2026-01-03").success
        for table in ("raw_events", "raw_events_quarantine", "user_daily", "user_state", "user_features"):
            a, b = again.table(table), alone.table(table)
            key = list(a.columns[:2])
            a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
            pd.testing.assert_frame_equal(a, b, obj=table)
        assert len(alone.table("raw_events")) == 150


def test_an_emptied_export_never_wipes_the_stored_days_unless_accepted(tmp_path, instance):
    """A complete load re-run with the same file now holding only its header (a failed export) is refused before
    anything is written, naming the check, the days, both counts and the file; --accept-shrink takes it."""
    days = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(4)]
    users = write_users(tmp_path / "users.csv", [f"u{i}" for i in range(20)])
    events = tmp_path / "events.csv"
    write_events(events, [row for d in days for row in good_rows(d, 40 if d != days[2] else 10)])
    full = Warehouse(tmp_path / "d", instance, events_file=str(events), users_file=users, days=4)
    full.materialize(USERS)
    assert full.materialize(DATA, days[0], days[-1]).success
    before = {t: full.table(t) for t in ("raw_events", "user_daily", "user_state", "user_features")}
    assert len(before["raw_events"]) == 130

    write_events(events, [])  # the export failed: the header only
    result = full.materialize(DATA, days[0], days[-1], raise_on_error=False)
    assert not result.success
    message = root_error(result).message
    assert (
        f"check no_shrink refused {days[0]}..{days[-1]}: {full.resources['source'].describe()} holds no event"
        in message
    )
    assert "nothing was written" in message and "--accept-shrink (CHURN_MAX_SHRINK=1)" in message
    for table, frame in before.items():
        pd.testing.assert_frame_equal(full.table(table), frame, obj=table)  # unchanged

    # half an export: the days that lose more than half are named with both counts, the others would be fine
    write_events(
        events, [row for d in days for row in good_rows(d, 20 if d == days[0] else 15 if d == days[1] else 40)]
    )
    shrunk = full.materialize(DATA, days[0], days[-1], raise_on_error=False)
    message = root_error(shrunk).message
    assert (
        f"refused 1 day(s) of {full.resources['source'].describe()}: {days[1]}: 15 rows where raw_events holds 40."
        in message
    )
    pd.testing.assert_frame_equal(full.table("raw_events"), before["raw_events"])

    write_events(events, [])
    accepted = full.but(max_shrink=1.0)  # --accept-shrink
    assert accepted.materialize(DATA, days[0], days[-1]).success
    assert len(accepted.table("raw_events")) == 0 and len(accepted.table("user_daily")) == 0
