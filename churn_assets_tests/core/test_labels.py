from datetime import date

import pandas as pd
import pytest

from churn_assets.core.labels import (
    IncompleteHorizonError,
    compute_churn_labels,
    describe_days,
    horizon_days,
    missing_horizon_days,
)

T = date(2026, 3, 1)
T_TS = pd.Timestamp("2026-03-01", tz="UTC")


def features(active_days_30: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": list(active_days_30), "as_of_date": T_TS, "active_days_30": list(active_days_30.values())}
    )


def future(rows: list[tuple[str, int, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "activity_date": pd.to_datetime([T_TS + pd.Timedelta(days=r[1]) for r in rows], utc=True),
            "active": pd.Series([r[2] for r in rows], dtype=bool),
        }
    )


ALL_DAYS = set(horizon_days(T, 31))


def test_label_horizon_is_t_plus_1_to_t_plus_30():
    f = features({"day30": 3, "day31": 3, "day1": 1, "today_only": 2, "billing_only": 5})
    fut = future([("day30", 30, True), ("day31", 31, True), ("day1", 1, True), ("today_only", 0, True)])
    fut = pd.concat([fut, future([("billing_only", 5, False)])])
    labels = compute_churn_labels(f, fut, [T], 30, ALL_DAYS).set_index("user_id")["churned"].to_dict()
    assert labels == {"day30": 0, "day31": 1, "day1": 0, "today_only": 1, "billing_only": 1}


def test_only_users_active_in_the_last_30_days_are_labelled():
    f = features({"eligible": 1, "gone": 0})
    labels = compute_churn_labels(f, future([]), [T], 30, ALL_DAYS)
    assert list(labels["user_id"]) == ["eligible"]
    assert list(labels.columns) == ["user_id", "as_of_date", "churned", "horizon_days"]
    assert labels["horizon_days"].tolist() == [30]


def test_horizon_is_configurable():
    f = features({"a": 1, "b": 1})
    fut = future([("a", 7, True), ("b", 8, True)])
    labels = compute_churn_labels(f, fut, [T], 7, ALL_DAYS).set_index("user_id")["churned"].to_dict()
    assert labels == {"a": 0, "b": 1}


def test_incomplete_horizon_is_refused_naming_the_missing_days():
    available = set(horizon_days(T, 27)) - {date(2026, 3, 10)}
    with pytest.raises(IncompleteHorizonError) as err:
        compute_churn_labels(features({"a": 1}), future([]), [T], 30, available)
    message = str(err.value)
    assert "user_daily is missing 2026-03-10, 2026-03-29..2026-03-31 (4 days)" in message
    assert "Cannot label 2026-03-01 (1 day)" in message


def test_missing_days_over_a_range_of_label_days():
    days = [date(2026, 3, 1), date(2026, 3, 2)]
    available = set(horizon_days(date(2026, 3, 1), 30))
    assert missing_horizon_days(days, 30, available) == [date(2026, 4, 1)]
    assert describe_days([date(2026, 4, 1)]) == "2026-04-01 (1 day)"
