from datetime import date

import pandas as pd
import pytest

from churn_assets.core.features import FEATURE_COLUMNS, compute_user_features, features_for_day

T = date(2026, 3, 31)


def day(age: int) -> pd.Timestamp:
    """Midnight of the day ``age`` days before T."""
    return pd.Timestamp(T.isoformat(), tz="UTC") - pd.Timedelta(days=age)


def daily(rows: list[dict]) -> pd.DataFrame:
    base = {
        "events": 1,
        "sessions": 1,
        "feature_uses": 0,
        "support_tickets": 0,
        "payments": 0,
        "payments_failed": 0,
        "minutes": 0.0,
        "amount": 0.0,
        "active": True,
    }
    return pd.DataFrame([{**base, "activity_date": day(r.pop("age")), **r} for r in rows])


def users(*ids: str, signup_age: int = 100) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": list(ids),
            "signup_time": [day(signup_age) + pd.Timedelta(hours=5)] * len(ids),
            "plan": "basic",
            "channel": "organic",
        }
    )


def one(features: pd.DataFrame, user: str) -> pd.Series:
    rows = features[features["user_id"] == user]
    assert len(rows) == 1
    return rows.iloc[0]


def test_seven_day_window_includes_day_7_and_excludes_day_8():
    f = features_for_day(daily([{"user_id": "a", "age": 6}, {"user_id": "b", "age": 7}]), users("a", "b"), T)
    assert (one(f, "a")["active_days_7"], one(f, "a")["active_days_14"]) == (1, 1)
    assert (one(f, "b")["active_days_7"], one(f, "b")["active_days_14"]) == (0, 1)
    assert one(f, "b")["events_7"] == 0 and one(f, "b")["events_14"] == 1


def test_thirty_day_window_includes_day_30_and_excludes_day_31():
    f = features_for_day(daily([{"user_id": "c", "age": 29}, {"user_id": "d", "age": 30}]), users("c", "d"), T)
    c, d = one(f, "c"), one(f, "d")
    assert (c["active_days_30"], c["events_30"], c["days_since_last_activity"]) == (1, 1, 29)
    assert (d["active_days_30"], d["events_30"], d["days_since_last_activity"]) == (0, 0, 30)


def test_user_inactive_in_window_gets_zeros_and_capped_recency():
    f = features_for_day(daily([{"user_id": "a", "age": 0}]), users("a", "idle", signup_age=45), T)
    idle = one(f, "idle")
    counts = [c for c in FEATURE_COLUMNS if c.endswith(("_7", "_14", "_30")) or c == "engagement_score"]
    assert all(idle[c] == 0 for c in counts)
    assert idle["days_since_last_activity"] == 30
    assert idle["days_since_first_activity"] == 0
    assert idle["tenure_days"] == 45


def test_only_users_signed_up_by_end_of_day_are_featured():
    u = pd.concat([users("old"), users("today", signup_age=0), users("tomorrow", signup_age=-1)])
    f = features_for_day(daily([{"user_id": "x", "age": 0}]).iloc[:0], u, T)
    assert sorted(f["user_id"]) == ["old", "today"]
    assert one(f, "today")["tenure_days"] == 0


def test_trend_compares_last_seven_days_with_the_seven_before():
    rows = [{"user_id": "a", "age": a, "events": 2, "minutes": 10.0} for a in (0, 3, 5)]
    rows += [{"user_id": "a", "age": 9, "events": 1, "minutes": 40.0, "active": False}]
    f = features_for_day(daily(rows), users("a"), T)
    a = one(f, "a")
    assert (a["events_7"], a["events_trend_7"]) == (6, 5)
    assert (a["minutes_7"], a["minutes_trend_7"]) == (30.0, -10.0)
    assert (a["active_days_7"], a["active_days_trend_7"]) == (3, 3)


def test_first_and_last_activity_and_engagement_score():
    rows = [{"user_id": "a", "age": a, "minutes": 15.0} for a in range(7)]  # every day of the week
    rows += [{"user_id": "a", "age": a} for a in (10, 20)]
    rows += [{"user_id": "a", "age": 25, "active": False, "sessions": 0, "payments": 1}]
    f = features_for_day(daily(rows), users("a"), T)
    a = one(f, "a")
    assert (a["days_since_last_activity"], a["days_since_first_activity"]) == (0, 20)
    assert (a["active_days_7"], a["active_days_30"], a["minutes_7"]) == (7, 9, 105.0)
    # 100 * (0.5 * 7/7 + 0.3 * 9/30 + 0.2 * min(1, 105/210)) = 50 + 9 + 10
    assert a["engagement_score"] == pytest.approx(69.0)


def test_each_day_of_a_range_uses_its_own_window():
    rows = [{"user_id": "a", "age": 0}]  # active on T only
    prev = date(2026, 3, 30)
    f = compute_user_features(daily(rows), users("a"), [prev, T])
    assert list(f["as_of_date"].dt.date) == [prev, T]
    assert list(f["active_days_7"]) == [0, 1]
    assert list(f.columns) == list(FEATURE_COLUMNS)
