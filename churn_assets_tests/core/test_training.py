from datetime import date

import pandas as pd
import pytest

from churn_assets.core.modeling.training import (
    LeakageError,
    NotTrainableError,
    TimeSplit,
    check_split,
    check_trainable,
    split_frame,
    time_split,
    trainable_outcome,
    training_sample,
)
from churn_assets.core.simulation.population import latent_fields
from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC, FeatureSpec

MODEL_FEATURES = DEFAULT_SPEC.model_features


def test_split_tests_on_the_latest_days_and_leaves_a_horizon_gap():
    split = time_split(date(2026, 1, 1), date(2026, 3, 31), test_days=14, horizon_days=30)
    assert split == TimeSplit(date(2026, 1, 1), date(2026, 2, 15), date(2026, 3, 18), date(2026, 3, 31))
    assert split.gap_days == 30  # 2026-02-16 ... 2026-03-17
    # the last training label (2026-02-15) looks at 2026-02-16 ... 2026-03-17: not one test day
    assert split.as_dict()["gap_days"] == 30


def test_a_split_without_the_gap_is_rejected():
    leaky = TimeSplit(date(2026, 1, 1), date(2026, 3, 1), date(2026, 3, 18), date(2026, 3, 31))
    with pytest.raises(LeakageError) as err:
        check_split(leaky, horizon_days=30)
    assert "only 16 days before the test window starts 2026-03-18" in str(err.value)
    assert "labels of the last 14 training days look into the test period" in str(err.value)
    check_split(TimeSplit(date(2026, 1, 1), date(2026, 2, 15), date(2026, 3, 18), date(2026, 3, 31)), 30)


def test_a_window_too_short_for_test_gap_and_training_is_refused():
    with pytest.raises(ValueError, match=r"too short: it needs 14 test days, a 30-day gap .* \(45 label days\)"):
        time_split(date(2026, 1, 1), date(2026, 2, 13), test_days=14, horizon_days=30)
    assert time_split(date(2026, 1, 1), date(2026, 2, 14), test_days=14, horizon_days=30).train_last == date(2026, 1, 1)


def feature_rows(users, day):
    base = {c: 1 for c in MODEL_FEATURES} | {"plan": "pro", "channel": "organic"}
    return pd.DataFrame([{**base, "user_id": u, "as_of_date": pd.Timestamp(day, tz="UTC")} for u in users])


def test_no_simulator_variable_is_a_feature_for_any_windows():
    assert "churn_day" in latent_fields()
    for spec in (DEFAULT_SPEC, FeatureSpec((7, 30, 90), 60), FeatureSpec((3,), 10)):
        assert not latent_fields() & set(spec.model_features)


def test_training_sample_keeps_everything_up_to_the_cap_and_never_exceeds_it():
    assert training_sample(150_000, 200_000)["fraction"] == 1.0
    big = training_sample(3_000_001, 200_000)
    assert big["fraction"] < 200_000 / 3_000_001 and big["fraction"] * 3_000_001 > 199_999
    assert big["labelled_rows"] == 3_000_001 and "stratified by day and label" in big["method"]


def test_split_frame_by_day():
    ts = pd.concat([feature_rows([f"u{d}"], f"2026-01-{d:02d}") for d in range(1, 32)]).assign(churned=0)
    train, test = split_frame(ts, TimeSplit(date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 30), date(2026, 1, 31)))
    assert train["user_id"].tolist() == ["u1", "u2"] and test["user_id"].tolist() == ["u30", "u31"]


def label_days(first: str, n: int, rows: int, positives: int) -> pd.DataFrame:
    days = pd.date_range(first, periods=n, freq="D", tz="UTC")
    return pd.DataFrame({"day": days, "rows": rows, "positives": positives})


def test_trainable_needs_both_classes_in_both_windows_and_says_how_many():
    end = date(2026, 3, 31)  # 90 label days: 46 training, a 30-day gap, 14 test days
    ok = trainable_outcome(label_days("2026-01-01", 90, 100, 10), end, test_days=14, horizon_days=30)
    assert ok.passed and ok.metadata["split"]["train_last"] == "2026-02-15"
    thin = label_days("2026-01-01", 90, 100, 10)
    thin.loc[thin["day"] >= "2026-03-18", "positives"] = 1  # the test window: 14 churned rows in all
    outcome = trainable_outcome(thin, end, test_days=14, horizon_days=30)
    assert (outcome.passed, outcome.severity) == (False, "ERROR")
    assert outcome.description == (
        "Not trainable: the test window 2026-03-18..2026-03-31 has 1,400 labelled rows, 14 churned and 1,386 "
        "retained; a model needs at least 20 of each to be trained and judged. Use a longer range, or more users."
    )
    everyone = label_days("2026-01-01", 90, 30, 30)  # nobody retained
    assert "the training window 2026-01-01..2026-02-15 has 1,380 labelled rows, 1,380 churned and 0 retained" in (
        trainable_outcome(everyone, end, test_days=14, horizon_days=30).description
    )


def test_an_empty_training_set_is_named_not_a_type_error():
    # an empty window used to reach the split as NaN and fail with "'<' not supported between date and float"
    with pytest.raises(NotTrainableError, match="the training set ending 2026-03-31 has no labelled rows"):
        check_trainable(label_days("2026-01-01", 0, 0, 0), date(2026, 3, 31), test_days=14, horizon_days=30)
