"""The quality outcomes on crafted inputs: rejected shares, the volume check over a year of a base that shrinks
and grows, and the derived tables' checks (computed by their SQL on a DuckDB file) firing on bad rows."""

import pandas as pd

from churn_assets.core.quality import (
    combined,
    feature_table_outcome,
    label_rate_outcome,
    row_count_outcome,
    rows_outcome,
)
from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC
from churn_assets.core.warehouse.queries import feature_summary_select, label_summary_select
from churn_assets.io.duckdb_engine import DuckDBEngine


def test_rows_outcome_warns_below_the_share_and_blocks_above():
    assert rows_outcome({"null_key": 0, "unknown_user": 0}, 100, 0.05).passed
    warn = rows_outcome({"null_key": 2, "unknown_user": 3}, 100, 0.05)
    error = rows_outcome({"null_key": 2, "unknown_user": 4}, 100, 0.05)
    assert (warn.passed, warn.severity, error.passed, error.severity) == (False, "WARN", False, "ERROR")
    assert "6 of 100 rows quarantined: 2 null_key, 4 unknown_user (6.00%; blocking above 5.00%)" in error.description
    assert error.metadata == {
        "rejected_rows": 6,
        "rows": 100,
        "rejected_share": 0.06,
        "rejected_by_reason": {"null_key": 2, "unknown_user": 4},
    }


def test_a_days_verdicts_combine_into_one_as_severe_as_the_worst_failure():
    """raw_events' valid_day: the rules' verdict and the volume's, one check evaluation per day."""
    week = [100] * 7
    clean, quarantined = rows_outcome({}, 100, 0.05), rows_outcome({"null_key": 2}, 100, 0.05)
    usual, shifted, collapsed = (row_count_outcome(n, week, 3.0) for n in (100, 301, 9))
    both = combined(clean, usual)
    assert (both.passed, both.severity) == (True, "ERROR")
    assert (
        both.description
        == "All 100 rows pass every rule. 100 rows, within [33, 300]: the median of the 7 days before is 100."
    )
    assert both.metadata == clean.metadata | usual.metadata and "rejected_rows" in both.metadata
    assert "recent_median" in both.metadata
    # a failure of either fails the day, as severe as the worst failed verdict (a passed one's severity is moot)
    assert (combined(quarantined, usual).passed, combined(quarantined, usual).severity) == (False, "WARN")
    assert (combined(clean, shifted).passed, combined(clean, shifted).severity) == (False, "WARN")
    assert (combined(quarantined, collapsed).passed, combined(quarantined, collapsed).severity) == (False, "ERROR")
    blocking = rows_outcome({"null_key": 20}, 100, 0.05)
    assert (combined(blocking, shifted).severity, combined(blocking, usual).severity) == ("ERROR", "ERROR")


def test_row_count_outcome_warns_on_a_shift_and_blocks_only_a_collapse():
    week = [100, 110, 90, 105, 95, 100, 120]
    assert row_count_outcome(300, week, 3.0).passed
    assert row_count_outcome(34, week, 3.0).passed is True  # 100 / 3 = 33.3
    low = row_count_outcome(33, week, 3.0)
    assert (low.passed, low.severity) == (False, "WARN")
    assert low.description == (
        "33 rows is far off recent days: the median of the 7 days before is 100, expected within [33, 300] "
        "(tolerance x3); a collapse under 10% would block."
    )
    high = row_count_outcome(301, week, 3.0)
    assert (high.passed, high.severity) == (False, "WARN")
    collapse = row_count_outcome(9, week, 3.0)
    assert (collapse.passed, collapse.severity) == (False, "ERROR")
    assert collapse.description.startswith("9 rows is a collapse: under 10% of recent days (the median of the 7")
    assert row_count_outcome(10, week, 3.0).severity == "WARN"  # exactly a tenth is not yet a collapse
    assert row_count_outcome(5000, week[:6], 3.0).passed  # not enough history yet
    assert row_count_outcome(500, [10] * 7, 3.0).passed  # baseline too small to judge


def test_a_base_that_shrinks_and_grows_steadily_never_blocks():
    # a year of a real base: halves over six months, recovers, with weekends at 40% of a weekday
    counts = [int(1000 * (0.996**d if d < 180 else 0.996**180 * 1.004 ** (d - 180)) * (0.4 if d % 7 in (5, 6) else 1))
              for d in range(365)]  # fmt: skip
    outcomes = [row_count_outcome(counts[d], counts[d - 7 : d], 3.0) for d in range(7, 365)]
    assert all(o.passed for o in outcomes)  # a weekend day is within a factor 3 of the week's median


def summarize(tmp_path, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The check's per-day summary, computed by its SQL in a DuckDB warehouse holding ``frame``."""
    engine = DuckDBEngine(str(tmp_path / "checks.duckdb"), "churn")
    engine.write_table(table, frame)
    first, last = frame["as_of_date"].min().date(), frame["as_of_date"].max().date()
    if table == "user_features":
        return engine.query(feature_summary_select("churn", first, last, DEFAULT_SPEC))
    return engine.query(label_summary_select("churn", first, last))


def feature_rows(day, **values) -> pd.DataFrame:
    rows = {c: [0, 2] for c in DEFAULT_SPEC.numeric} | values
    return pd.DataFrame({"user_id": ["a", "b"], "as_of_date": pd.Timestamp(day, tz="UTC"), **rows})


def test_feature_table_outcome_fires_on_duplicates_missing_and_negative_values(tmp_path):
    ok = feature_rows("2026-01-05", events_trend_7=[-1, 2])
    assert feature_table_outcome(summarize(tmp_path, "user_features", ok)).passed  # a negative trend is fine
    bad = pd.concat([ok, ok.iloc[[0]], feature_rows("2026-01-06")]).reset_index(drop=True)
    bad["events_7"] = bad["events_7"].astype(float)
    bad.loc[1, "events_7"] = -3
    bad.loc[0, "days_since_last_activity"] = None
    outcome = feature_table_outcome(summarize(tmp_path, "user_features", bad))
    assert not outcome.passed
    assert outcome.metadata == {
        "rows": 5,
        "duplicate_rows": 1,
        "missing_values": 1,
        "negative_values": 1,
        "failing_days": ["2026-01-05"],  # the clean second day is not named
    }
    assert "on 1 day(s), first 2026-01-05" in outcome.description


def labels_of(day: str, churned: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(len(churned))],
            "as_of_date": pd.Timestamp(day, tz="UTC"),
            "churned": churned,
        }
    )


def test_label_rate_outcome_fires_when_everyone_churned(tmp_path):
    assert not label_rate_outcome(summarize(tmp_path, "churn_labels", labels_of("2026-01-05", [1] * 50))).passed
    assert label_rate_outcome(summarize(tmp_path, "churn_labels", labels_of("2026-01-05", [1] * 49))).passed
    assert label_rate_outcome(summarize(tmp_path, "churn_labels", labels_of("2026-01-05", [0] * 60))).passed


def test_label_rate_outcome_judges_each_day_and_names_the_failing_ones(tmp_path):
    run = pd.concat(
        [labels_of("2026-01-04", [0, 1] * 40), labels_of("2026-01-05", [1] * 60), labels_of("2026-01-06", [1] * 70)]
    )
    outcome = label_rate_outcome(summarize(tmp_path, "churn_labels", run))
    assert (outcome.passed, outcome.severity) == (False, "ERROR")
    assert outcome.metadata["all_churned_days"] == ["2026-01-05", "2026-01-06"]
    assert outcome.metadata["days"] == 3 and outcome.metadata["labelled_users"] == 210
    assert "On 2 day(s) every eligible user is labelled churned (first 2026-01-05: all 60)" in outcome.description
    # the run's overall rate (82%) is not what is judged: a healthy day does not hide a broken one
    mixed = pd.concat([labels_of("2026-01-04", [0] * 500), labels_of("2026-01-05", [1] * 50)])
    assert not label_rate_outcome(summarize(tmp_path, "churn_labels", mixed)).passed
