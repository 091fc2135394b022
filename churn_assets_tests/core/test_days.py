from datetime import date

import pytest

from churn_assets.core.days import MissingDaysError, day_range, describe_days, require_days
from churn_assets.core.warehouse.feature_spec import FeatureSpec, FeatureSpecError, parse_windows


def test_describe_days_compacts_runs():
    days = [date(2026, 3, 10), *day_range(date(2026, 3, 29), date(2026, 3, 31))]
    assert describe_days(days) == "2026-03-10, 2026-03-29..2026-03-31 (4 days)"
    assert describe_days([date(2026, 4, 1)]) == "2026-04-01 (1 day)"


def test_require_days_names_what_is_missing_and_for_what():
    needed = day_range(date(2026, 3, 1), date(2026, 3, 31))
    available = set(needed) - {date(2026, 3, 10), date(2026, 3, 30), date(2026, 3, 31)}
    with pytest.raises(MissingDaysError) as err:
        require_days("churn labels 2026-03-01", "user_state", needed, available)
    assert str(err.value) == (
        "Cannot compute churn labels 2026-03-01: user_state is missing 2026-03-10, 2026-03-30..2026-03-31 (3 days). "
        "Materialize those days first."
    )
    require_days("anything", "user_state", needed, set(needed))  # complete: no error


def test_feature_windows_name_the_features():
    spec = FeatureSpec(parse_windows("90, 7,30"), eligibility_days=120)
    assert (spec.windows, spec.short, spec.long, spec.lookback_days) == ((7, 30, 90), 7, 90, 90)
    assert spec.numeric[:9] == (
        "active_days_7", "events_7", "minutes_7", "active_days_30", "events_30", "minutes_30",
        "active_days_90", "events_90", "minutes_90",
    )  # fmt: skip
    assert {"sessions_7", "sessions_90", "amount_90", "events_trend_7", "days_since_last_activity"} <= set(spec.numeric)
    assert FeatureSpec((3, 4)).lookback_days == 6  # the trend compares the 3 days with the 3 before


@pytest.mark.parametrize(
    ("text", "message"),
    [("7,7", "repeat a day"), ("7,x", "whole days separated by commas"), ("0,7", "distinct positive days")],
)
def test_bad_feature_windows_are_refused(text, message):
    with pytest.raises(FeatureSpecError, match=message):
        FeatureSpec(parse_windows(text))
