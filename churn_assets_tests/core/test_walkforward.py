"""Walk-forward evaluation on the warehouse layer (DuckDB): as-of dates, and no look into the future."""

from datetime import date, timedelta

import pandas as pd
import pytest

from churn_assets.core.intake.rules import validate_events, validate_users
from churn_assets.core.modeling.promotion import Bars
from churn_assets.core.modeling.walkforward import WalkForwardPolicy, as_of_dates, printed, summary, walk_forward
from churn_assets.core.simulation.simulate import simulate_events, simulate_users
from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC
from churn_assets.core.warehouse.queries import training_extract_select
from churn_assets.io.duckdb_engine import DuckDBEngine
from churn_assets.io.warehouse import build_layer
from churn_assets.settings import Settings

CONFIG = Settings(users=900, days=150, seed=5).simulation()
START = CONFIG.start_date
AS_OF = START + timedelta(days=105)
PLAN = WalkForwardPolicy(30, 90, 14, START, DEFAULT_SPEC, Bars(0.005, 0.6, 0.01))


def test_as_of_dates_step_by_days_weeks_and_calendar_months():
    assert as_of_dates(date(2026, 1, 31), date(2026, 4, 30), "1M") == [
        date(2026, 1, 31),
        date(2026, 2, 28),  # February has no 31st: its last day
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]
    assert as_of_dates(date(2026, 1, 1), date(2026, 1, 29), "2W") == [
        date(2026, 1, 1),
        date(2026, 1, 15),
        date(2026, 1, 29),
    ]
    assert as_of_dates(date(2026, 1, 1), date(2026, 1, 20), "10d") == [date(2026, 1, 1), date(2026, 1, 11)]
    for bad in ("1Y", "0M", "monthly"):
        with pytest.raises(ValueError, match="--every must be a count and a unit D, W or M"):
            as_of_dates(date(2026, 1, 1), date(2026, 2, 1), bad)
    with pytest.raises(ValueError, match="--to 2026-01-01 is before --from 2026-02-01"):
        as_of_dates(date(2026, 2, 1), date(2026, 1, 1), "1M")


def test_the_label_window_of_a_date_ends_the_horizon_before_it():
    assert PLAN.label_window(date(2026, 5, 1)) == (date(2026, 1, 2), date(2026, 4, 1))
    assert PLAN.label_window(date(2026, 2, 15)) == (START, date(2026, 1, 16))  # capped at the first day of data


def test_a_planted_future_event_changes_no_score_of_an_earlier_date(tmp_path):
    users = validate_users(simulate_users(CONFIG)).clean
    days = [START + timedelta(days=i) for i in range(CONFIG.days)]
    events = pd.concat([validate_events(simulate_events(CONFIG, d), d, users).clean for d in days], ignore_index=True)
    engine = DuckDBEngine(str(tmp_path / "warehouse.duckdb"), "churn")
    engine.write_table("raw_events", events)
    engine.write_table("raw_users", users)
    build_layer(engine, days[0], days[-1], DEFAULT_SPEC, 30, START)

    def read(first, last):
        return engine.query(training_extract_select("churn", first, last, DEFAULT_SPEC, 1.0))

    table, scored = walk_forward([AS_OF], PLAN, read, say=lambda line: None)
    before = scored[AS_OF]
    row = table.iloc[0]
    # as of 2026-04-16 the labels known end 2026-03-17; test 03-04..03-17, a 30-day gap, training up to 02-01
    assert row["population"] == len(before) > 100 and row["trained_on"] == "2026-01-01..2026-02-01"
    assert 0.5 < row["recency_roc_auc"] < row["model_roc_auc"]

    # a churner of that day comes back 10 days later: an event after the as-of date
    churner = before.loc[before["churned"] == 1, "user_id"].iloc[0]
    late = pd.Timestamp(AS_OF + timedelta(days=10), tz="UTC") + pd.Timedelta(hours=9)
    planted = events.head(1).assign(event_id="planted", user_id=churner, event_time=late, event_type="session")
    engine.write_table("raw_events", pd.concat([events, planted], ignore_index=True))
    build_layer(engine, AS_OF, days[-1], DEFAULT_SPEC, 30, START)  # the day itself on: its labels change
    _, again = walk_forward([AS_OF], PLAN, read, say=lambda line: None)
    after = again[AS_OF]
    # the outcome changed (the churner came back) but not one score: nothing after the date was read
    assert after.loc[after["user_id"] == churner, "churned"].item() == 0
    assert after["churn_probability"].tolist() == before["churn_probability"].tolist()


def test_summary_counts_the_dates_the_model_beat_each_baseline():
    table = pd.DataFrame(
        {
            "as_of": ["2026-02-01", "2026-03-01", "2026-04-01"],
            "candidate": ["stacked"] * 3,
            "promoted": [False, True, False],
            "scored_by": ["none", "2026-03-01", "2026-03-01"],
            "population": [90, 100, 110],
            "positive_rate": [0.3, 0.4, 0.5],
            "mean_probability": [None, 0.42, 0.47],
            "calibration_error": [None, 0.02, 0.04],
            "calibration_error_by_chance": [None, 0.01, 0.02],
            "calibration_error_chance_p95": [None, 0.015, 0.05],
            "model_roc_auc": [None, 0.7, 0.6],
            "model_pr_auc": [None, 0.5, 0.4],
            "model_lift": [None, 2.0, 1.5],
            "recency_roc_auc": [0.5, 0.6, 0.65],
            "recency_pr_auc": [0.3, 0.4, 0.45],
            "recency_lift": [1.0, 1.5, 1.5],
            "bg_nbd_roc_auc": [0.5, 0.65, 0.55],
            "bg_nbd_pr_auc": [0.3, 0.45, 0.35],
            "bg_nbd_lift": [1.0, 1.0, 1.2],
            "sbg_roc_auc": [0.5, 0.71, 0.59],
            "sbg_pr_auc": [0.3, 0.45, 0.35],
            "sbg_lift": [1.0, 1.0, 1.0],
        }
    )
    out = summary(table)  # the first date had no production model: not a scored date
    assert (out["dates"], out["model_beats_recency"], out["model_beats_bg_nbd"], out["model_beats_sbg"]) == (2, 1, 2, 1)
    assert (out["mean_model_roc_auc"], out["mean_sbg_roc_auc"], out["mean_model_lift"]) == (0.65, 0.65, 1.75)
    assert (out["mean_calibration_error"], out["max_calibration_error"]) == (0.03, 0.04)
    assert out["mean_calibration_error_by_chance"] == 0.015
    assert out["calibration_above_chance"] == 1  # 0.02 above a perfect model's 0.015; 0.04 within its 0.05
    shown = printed(table)  # per date every baseline, calibration error and lift; the means below
    chance = ["calibration_error_by_chance", "calibration_error_chance_p95"]
    assert list(shown.columns[7:11]) == ["calibration_error", *chance, "model_roc_auc"]
    assert list(shown.columns[11:14]) == ["recency_roc_auc", "bg_nbd_roc_auc", "sbg_roc_auc"]
    assert shown["as_of"].iloc[-1] == "mean of 2" and shown["bg_nbd_lift"].iloc[-1] == 1.1
    assert shown["positive_rate"].iloc[-1] == 0.45  # the scored dates' mean, not the unscored first date's
