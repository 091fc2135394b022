import warnings
from datetime import date

import pandas as pd
import pytest

from churn_assets.core.intake.schema import SourceFileError
from churn_assets.core.intake.sources import (
    read_events,
    read_users,
    source_day_rows,
    source_days,
    users_from_events,
)
from churn_assets.core.intake.times import _iso_times, parse_times


def write_csv(path, text):
    path.write_text(text)
    return str(path)


def test_single_csv_file_is_split_by_utc_day(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        "user_id,event_time,event_type,minutes\n"
        "a,2026-01-01T23:59:59Z,session,5\n"
        "b,2026-01-02T00:00:00Z,session,7\n"
        "a,2026-01-02T01:00:00+01:00,feature_use,\n",
    )
    day1 = read_events(path, date(2026, 1, 1))
    day2 = read_events(path, date(2026, 1, 2))
    # 01:00+01:00 is 00:00 UTC on Jan 2
    assert day1["user_id"].tolist() == ["a"]
    assert day2["user_id"].tolist() == ["b", "a"]
    # ids are derived from the file name and line when the file has none
    assert day2["event_id"].tolist() == ["events.csv:3", "events.csv:4"]


def test_per_day_template_reads_that_days_file(tmp_path):
    write_csv(
        tmp_path / "ev-2026-01-05.csv", "event_id,user_id,event_time,event_type\nx,a,2026-01-06T10:00:00Z,session\n"
    )
    frame = read_events(str(tmp_path / "ev-{date}.csv"), date(2026, 1, 5))
    # the row stays with its file's day; validation will quarantine it as outside the partition
    assert frame["event_id"].tolist() == ["x"]
    with pytest.raises(SourceFileError, match=r"ev-2026-01-06.csv: no events file for 2026-01-06"):
        read_events(str(tmp_path / "ev-{date}.csv"), date(2026, 1, 6))


def test_parquet_events(tmp_path):
    frame = pd.DataFrame(
        {"user_id": ["a"], "event_time": pd.to_datetime(["2026-01-01 10:00"], utc=True), "event_type": ["session"]}
    )
    frame.to_parquet(tmp_path / "events.parquet")
    out = read_events(str(tmp_path / "events.parquet"), date(2026, 1, 1))
    assert out["user_id"].tolist() == ["a"]


def test_missing_column_names_the_column_and_file(tmp_path):
    path = write_csv(tmp_path / "bad.csv", "user_id,time\na,2026-01-01\n")
    with pytest.raises(SourceFileError, match=r"bad.csv: missing required column\(s\) \['event_time'\]"):
        read_events(path, date(2026, 1, 1))


def test_a_log_without_event_type_is_a_log_of_purchases(tmp_path):
    path = write_csv(tmp_path / "orders.csv", "user_id,event_time,amount\na,2026-01-01T10:00:00Z,19.90\n")
    frame = read_events(path, date(2026, 1, 1))
    assert frame[["event_id", "user_id", "event_type", "amount"]].values.tolist() == [
        ["orders.csv:2", "a", "purchase", "19.90"]
    ]


@pytest.mark.parametrize("value", ["08/01/2026", "8.1.2026 10:00", "01-08-26"])
def test_ambiguous_dates_are_refused_naming_column_line_and_example(tmp_path, value):
    path = write_csv(tmp_path / "orders.csv", f"user_id,event_time\na,2026-01-01\nb,{value}\n")
    with pytest.raises(SourceFileError) as err:
        read_events(path, date(2026, 1, 1))
    assert str(err.value) == (
        f"{path}: column 'event_time' has 1 date(s) like {value!r} (line 3) that read as day/month or as "
        "month/day; write them as ISO 8601, e.g. 2026-08-01 or 2026-08-01T14:30:00Z"
    )


def test_ambiguous_signup_dates_are_refused(tmp_path):
    path = write_csv(tmp_path / "users.csv", "user_id,signup_time\na,12/03/2026\n")
    with pytest.raises(SourceFileError, match=r"users.csv: column 'signup_time' has 1 date\(s\) like '12/03/2026'"):
        read_users(path)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.csv", b"", "cannot be read as csv: No columns to parse from file"),
        ("binary.csv", bytes(range(256)) * 4, "cannot be read as csv: "),
        ("cut.parquet", b"PAR1\x15\x04\x15\x10", "cannot be read as parquet: "),
    ],
)
def test_unreadable_files_are_named_in_the_innermost_error(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceFileError) as err:
        read_events(str(tmp_path / name), date(2026, 1, 1))
    assert str(err.value).startswith(f"{tmp_path / name}: {reason}")
    assert err.value.__cause__ is None and err.value.__suppress_context__


TIME_FORMS = [
    "2026-01-01 12:00:00+02:00", "2026-01-01T12:00:00Z", "2026-01-01", "2026-01-01 12:00", "2026-01-01T12:00:00.25",
    "2026-01-01T12:00:00.5+05:30", "2026-01-01T12:00:00+0100", "2026-01-01T23:59:59.999999-14:00",
    "2026-01-01T12:00:00.123456789Z", " 2026-01-01 12:00:00", "2026-01-01 12:00:00 UTC", "2026-1-1 5:00",
    "2026-01-01 12:00:00 +0100", "Jan 1 2026 12:00", "2026-01-01 12:00:00 CET",
]  # fmt: skip


def test_times_read_as_pandas_reads_them_the_iso_ones_by_duckdb():
    """Plain ISO 8601 is parsed by DuckDB (``_iso_times``), every other form by pandas; together they give what
    pandas alone gives, to the nanosecond, and DuckDB's own extra forms are not taken from it."""
    values = pd.Series(TIME_FORMS)
    fast = _iso_times(values)
    assert fast.notna().tolist() == [True] * 8 + [False] * 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas drops the unknown zone CET, as it always did
        expected = pd.to_datetime(values, utc=True, format="mixed")
        assert parse_times(values, "event_time", "f.csv").equals(expected)
    for value in ("epoch", "infinity", "0001-01-01", "2026-01-01 24:00:00", "2026-02-30"):
        with pytest.raises(SourceFileError) as err:
            parse_times(pd.Series(["2026-01-01", value]), "event_time", "f.csv")
        expected = f"f.csv: column 'event_time' has 1 value(s) that are not timestamps: line 3 ({value!r})"
        assert str(err.value) == expected


def test_unreadable_timestamp_names_the_lines(tmp_path):
    path = write_csv(
        tmp_path / "bad.csv",
        "user_id,event_time,event_type\na,2026-01-01T10:00:00Z,session\nb,yesterday,session\nc,,session\n",
    )
    with pytest.raises(SourceFileError) as err:
        read_events(path, date(2026, 1, 1))
    assert "column 'event_time' has 2 value(s) that are not timestamps: line 3 ('yesterday'), line 4 (nan)" in str(
        err.value
    )


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(SourceFileError, match="nope.csv: file not found"):
        read_events(str(tmp_path / "nope.csv"), date(2026, 1, 1))
    (tmp_path / "events.json").write_text("{}")
    with pytest.raises(SourceFileError, match="unsupported file type '.json'"):
        read_events(str(tmp_path / "events.json"), date(2026, 1, 1))


def test_users_file_and_users_derived_from_first_event(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        "user_id,event_time,event_type\nb,2026-01-03T00:00:00Z,session\na,2026-01-02T05:00:00Z,session\n"
        "b,2026-01-01T07:00:00Z,session\n,2026-01-01T01:00:00Z,session\n  ,2026-01-01T02:00:00Z,session\n",
    )
    users = users_from_events(path)
    assert users["user_id"].tolist() == ["a", "b"]  # rows without a user id, or with a blank one, make no user
    assert users["signup_time"].tolist() == [
        pd.Timestamp("2026-01-02 05:00", tz="UTC"),
        pd.Timestamp("2026-01-01 07:00", tz="UTC"),
    ]
    bad = write_csv(tmp_path / "users.csv", "id,signup_time\n1,2026-01-01\n")
    with pytest.raises(SourceFileError, match=r"missing required column\(s\) \['user_id'\]"):
        read_users(bad)


def test_a_sources_days_are_its_first_and_last_utc_event_day_or_its_day_files(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        "user_id,event_time\na,2025-03-01T00:30:00+02:00\nb,2025-06-28T23:59:59Z\nc,2025-04-01T10:00:00Z\n",
    )
    assert source_days(path) == (date(2025, 2, 28), date(2025, 6, 28))  # 00:30+02:00 is the 28th in UTC
    for day in ("2025-05-03", "2025-05-01", "2025-05-02"):
        write_csv(tmp_path / f"ev-{day}.csv", "user_id,event_time\n")
    write_csv(tmp_path / "ev-latest.csv", "user_id,event_time\n")  # not a day file of the template
    assert source_days(str(tmp_path / "ev-{date}.csv")) == (date(2025, 5, 1), date(2025, 5, 3))
    assert source_days(str(tmp_path / "none-{date}.csv")) is None
    assert source_days(write_csv(tmp_path / "empty.csv", "user_id,event_time\n")) is None
    with pytest.raises(SourceFileError, match="missing.csv: file not found"):
        source_days(str(tmp_path / "missing.csv"))


def test_a_sources_rows_per_day_are_counted_cheaply_from_its_files(tmp_path):
    """A single file's by its events' UTC days; a template's by each day file's line breaks (CSV, with or without a
    final one) or footer (Parquet), nothing parsed; days are the template's own."""
    path = write_csv(
        tmp_path / "events.csv",
        "user_id,event_time\na,2025-03-01T00:30:00+02:00\nb,2025-03-01T10:00:00Z\nc,2025-03-02T23:59:59Z\n",
    )
    assert source_day_rows(path) == {date(2025, 2, 28): 1, date(2025, 3, 1): 1, date(2025, 3, 2): 1}
    write_csv(tmp_path / "ev-2025-05-01.csv", "user_id,event_time\na,2025-05-01T01:00:00Z\nb,2025-05-01T02:00:00Z\n")
    write_csv(tmp_path / "ev-2025-05-02.csv", "user_id,event_time\na,2025-05-02T01:00:00Z")  # no final line break
    write_csv(tmp_path / "ev-2025-05-03.csv", "user_id,event_time\n")  # a day without events
    assert source_day_rows(str(tmp_path / "ev-{date}.csv")) == {
        date(2025, 5, 1): 2,
        date(2025, 5, 2): 1,
        date(2025, 5, 3): 0,
    }
    frame = pd.DataFrame({"user_id": ["a"] * 5, "event_time": ["2025-05-01T01:00:00Z"] * 5})
    frame.to_parquet(tmp_path / "pq-2025-05-01.parquet")
    assert source_day_rows(str(tmp_path / "pq-{date}.parquet")) == {date(2025, 5, 1): 5}
    assert source_day_rows(str(tmp_path / "none-{date}.csv")) == {}
    assert source_day_rows("gs://bucket/ev-{date}.csv") is None  # not listed: the run sizes itself by users
