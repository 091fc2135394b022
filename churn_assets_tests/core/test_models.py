"""Candidate training on simulated data through the pure pipeline (no Dagster)."""

from datetime import date, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from churn_assets.core.intake.rules import validate_events, validate_users
from churn_assets.core.modeling.candidates import train_candidates, validation_rows
from churn_assets.core.modeling.metrics import evaluate, f1_threshold, lift_top_decile
from churn_assets.core.modeling.pipelines import candidate_pipelines
from churn_assets.core.modeling.scoring import calibration_report
from churn_assets.core.modeling.trainer import train_model
from churn_assets.core.modeling.training import CANDIDATES, model_input, split_frame, time_split
from churn_assets.core.registry.model_files import dumps, load_verified, sha256
from churn_assets.core.simulation.simulate import simulate_events, simulate_users
from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC
from churn_assets.core.warehouse.queries import training_extract_select
from churn_assets.io.duckdb_engine import DuckDBEngine
from churn_assets.io.warehouse import build_layer
from churn_assets.settings import Settings

CONFIG = Settings(users=1200, days=110, seed=11).simulation()
START = CONFIG.start_date
LABEL_DAYS = [START + timedelta(days=i) for i in range(60, 110)]  # 50 label days, horizons complete
FEATURES = list(DEFAULT_SPEC.model_features)


@pytest.fixture(scope="module")
def training_frames(tmp_path_factory):
    """The simulator's validated rows through the warehouse layer (DuckDB), as the assets compute them."""
    users = validate_users(simulate_users(CONFIG)).clean
    days = [START + timedelta(days=i) for i in range(140)]
    events = pd.concat([validate_events(simulate_events(CONFIG, d), d, users).clean for d in days], ignore_index=True)
    engine = DuckDBEngine(str(tmp_path_factory.mktemp("models") / "warehouse.duckdb"), "churn")
    engine.write_table("raw_events", events)
    engine.write_table("raw_users", users)
    build_layer(engine, days[0], days[-1], DEFAULT_SPEC, 30, START)
    ts = engine.query(training_extract_select("churn", LABEL_DAYS[0], LABEL_DAYS[-1], DEFAULT_SPEC, 1.0))
    split = time_split(LABEL_DAYS[0], LABEL_DAYS[-1], test_days=10, horizon_days=30)
    return split_frame(ts.sort_values(["as_of_date", "user_id"]).reset_index(drop=True), split)


def test_candidates_are_logistic_regression_with_and_without_smote_boosting_a_stack_and_the_baselines():
    pipelines = {name: make() for name, make in candidate_pipelines(FEATURES).items()}
    learners = {"logistic_regression", "logistic_regression_smote", "gradient_boosting"}
    assert set(pipelines) == learners | {"stacked", "bg_nbd", "recency"}  # no subscription or per-type features:
    for name in learners:  # no sbg, no type_activity; the trees get BG/NBD's view of the customer first
        smote = ["smote"] if name.endswith("smote") else []
        btyd = ["btyd"] if name == "gradient_boosting" else []
        assert [s for s, _ in pipelines[name].steps] == [*btyd, "preprocess", *smote, "model"]
    for name in ("bg_nbd", "recency", "stacked"):
        assert [s for s, _ in pipelines[name].steps] == ["model"]
    stack = pipelines["stacked"].named_steps["model"]
    assert [n for n, _ in stack.estimators] == ["logistic_regression", "gradient_boosting"]
    columns = [c for _, _, cols in pipelines["gradient_boosting"].steps[1][1].transformers for c in cols]
    assert columns[-5:] == ["btyd_p_alive", "btyd_churn_logit", "btyd_expected_days", "plan", "channel"]
    typed = candidate_pipelines([*FEATURES, "type_post_7", "type_post_30", "type_post_trend_7", "sub_periods"])
    assert set(typed) == learners | {"stacked", "bg_nbd", "recency", "sbg", "type_activity"}
    # the textbook's model reads the type counts only (not the trends, not the other features)
    columns = typed["type_activity"]().steps[0][1].transformers
    assert [c for _, _, cols in columns for c in cols] == ["type_post_7", "type_post_30"]


def test_training_beats_the_base_rate_and_reports_every_metric(training_frames):
    train, test = training_frames
    result = train_candidates(train, test, FEATURES)
    assert set(result.metrics) == set(candidate_pipelines(FEATURES)) - {"stacked"}
    best = result.metrics[result.best]
    # chosen by the held-out users of the training window, not by the test window
    assert result.validation[result.best]["log_loss"] == min(m["log_loss"] for m in result.validation.values())
    assert set(best) == {
        "pr_auc", "roc_auc", "f1", "precision", "recall", "brier", "log_loss", "lift_top_decile", "positive_rate",
        "rows", "threshold",
    }  # fmt: skip
    assert best["roc_auc"] > 0.8 and best["pr_auc"] > 3 * best["positive_rate"]
    assert best["rows"] == len(test)
    assert len(result.test_scores[result.best]) == len(test)  # SMOTE never adds scored rows


def test_shuffled_labels_give_chance_level_auc(training_frames):
    train, test = training_frames
    rng = np.random.default_rng(0)
    shuffled_train = train.assign(churned=rng.permutation(train["churned"].to_numpy()))
    shuffled_test = test.assign(churned=rng.permutation(test["churned"].to_numpy()))
    result = train_candidates(shuffled_train, shuffled_test, FEATURES)
    for name, metrics in result.metrics.items():
        assert 0.4 < metrics["roc_auc"] < 0.6, name


def test_metrics_on_a_tiny_example():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05])
    m = evaluate(y, s, threshold=0.7)
    assert (m["precision"], m["recall"], m["positive_rate"], m["rows"]) == (pytest.approx(2 / 3), 1.0, 0.2, 10)
    assert m["roc_auc"] == pytest.approx(0.9375)  # 15 of 16 positive-negative pairs ordered right
    assert m["lift_top_decile"] == pytest.approx(5.0)  # top 1 of 10 is a churner; base rate 0.2
    assert lift_top_decile(np.zeros(4), np.arange(4)) == 0.0
    assert f1_threshold(y, s) == pytest.approx(0.7)


def test_training_refuses_a_window_without_churners(training_frames):
    train, test = training_frames
    with pytest.raises(ValueError, match="needs churners and non-churners in every part: the training rows"):
        train_candidates(train.assign(churned=0), test, FEATURES)


def test_held_out_users_are_the_same_on_every_day_and_never_fitted_on(training_frames):
    train, _ = training_frames
    held = validation_rows(train)
    held_users, fitted_users = set(train.loc[held, "user_id"]), set(train.loc[~held, "user_id"])
    assert not held_users & fitted_users
    assert 0.2 < len(held_users) / train["user_id"].nunique() < 0.3
    assert (validation_rows(train.iloc[::-1]) == held[::-1]).all()  # by id, not by position
    # a quarter of the users who churned on some day, and a quarter of the others
    churners = set(train.loc[train["churned"] == 1, "user_id"])
    assert round(len(churners) / 4) <= len(churners & held_users) <= round(len(churners) / 4) + 1


def test_a_window_with_few_churners_still_holds_some_out():
    rows = pd.DataFrame({"user_id": [f"u{i}" for i in range(40)], "churned": [1] * 5 + [0] * 35})
    held = validation_rows(rows)
    assert (rows.loc[held, "churned"].sum(), (~held).sum() > 0) == (2, True)  # 2 of the 5 churners held out


def test_smote_would_shift_the_base_rate_and_calibration_on_held_out_users_puts_it_back(training_frames):
    train, test = training_frames
    result = train_candidates(train, test, FEATURES)
    smote = result.models["logistic_regression_smote"]
    raw = smote.estimator.predict_proba(model_input(test, FEATURES))[:, 1]  # the frozen pipeline, uncalibrated
    rate = float(test["churned"].mean())
    calibrated = result.test_scores["logistic_regression_smote"]
    assert raw.mean() > 1.5 * rate  # trained on half churners, it believes in more of them
    assert abs(calibrated.mean() - rate) < 0.25 * rate
    assert calibration_report(result.y_test, calibrated, high=0.8, medium=0.5)["ece"] < 0.05
    # calibration is monotone: it does not change the ranking
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(calibrated, kind="stable"))


def test_the_frames_hold_the_label_days_split_with_the_horizon_gap(training_frames):
    train, test = training_frames
    days = lambda frame: sorted({d.date() for d in frame["as_of_date"]})  # noqa: E731
    # training 2026-03-02 ... 2026-03-11: its last labels are known by 2026-04-10, before the first of the
    # 10 test days (2026-04-11 ... 2026-04-20)
    assert (days(train)[0], days(train)[-1], len(days(train))) == (date(2026, 3, 2), date(2026, 3, 11), 10)
    assert (days(test)[0], days(test)[-1], len(days(test))) == (date(2026, 4, 11), date(2026, 4, 20), 10)
    assert (days(test)[0] - days(train)[-1]).days == 31  # more than the 30-day label horizon


POLICY = SimpleNamespace(test_days=10, random_state=0, risk_high=0.8, risk_medium=0.5)


def test_selection_is_on_the_held_out_users_latest_days(training_frames):
    train, test = training_frames
    result = train_candidates(train, test, FEATURES, validation_days=4)
    held = validation_rows(train)
    latest = train["as_of_date"].dt.date >= date(2026, 3, 8)  # the training window's last 4 days: 03-08 ... 03-11
    assert (result.rows["held_out_first"], result.rows["held_out_last"]) == ("2026-03-08", "2026-03-11")
    assert result.rows["held_out"] == int((held & latest).sum()) == result.validation[result.best]["rows"]
    assert result.validation[result.best]["log_loss"] == min(m["log_loss"] for m in result.validation.values())


def test_a_planted_purchase_after_the_window_reaches_no_fit_and_the_model_is_recalibrated_on_the_newest_days(
    training_frames,
):
    train, test = training_frames
    training_set = pd.concat([train, test], ignore_index=True)
    trained = train_model(training_set, LABEL_DAYS[-1], DEFAULT_SPEC, policy=POLICY, horizon=30)
    # a customer seen every day after the window (40 more active days): BG/NBD inside the learners is fitted on
    # the training window only, so no parameter and no score of the window's days moves
    after = test[test["as_of_date"] == test["as_of_date"].max()].head(50)
    planted = after.assign(
        as_of_date=after["as_of_date"] + pd.Timedelta(days=20),
        lifetime_active_days=after["lifetime_active_days"] + 40,
        days_since_last_activity=0,
    )
    again = train_model(
        pd.concat([training_set, planted], ignore_index=True), LABEL_DAYS[-1], DEFAULT_SPEC, policy=POLICY, horizon=30
    )
    btyd = lambda t: t.result.fitted["gradient_boosting"].named_steps["btyd"].params_  # noqa: E731
    assert btyd(again) == btyd(trained)
    X = model_input(test, FEATURES)
    for name in ("gradient_boosting", trained.result.best):
        assert np.array_equal(again.result.models[name].predict_proba(X), trained.result.models[name].predict_proba(X))
    # judged, the served model is recalibrated on the test window (named in the card): it predicts its base rate
    recalibrated = trained.card.calibration["recalibrated_on"]
    assert (recalibrated["first"], recalibrated["last"], recalibrated["rows"]) == (
        "2026-04-11",
        "2026-04-20",
        len(test),
    )
    served = trained.result.model.predict_proba(X)[:, 1]
    assert abs(served.mean() - test["churned"].mean()) < 0.005
    assert trained.card.metrics["roc_auc"] == pytest.approx(evaluate(test["churned"], served, 0.5)["roc_auc"], abs=1e-9)


def test_a_stacked_candidate_trains_when_named_and_its_artifact_loads_from_trusted_types(training_frames):
    train, test = training_frames
    assert "stacked" in candidate_pipelines(FEATURES) and "stacked" not in CANDIDATES  # opt-in, not a default
    result = train_candidates(train, test, FEATURES, candidates=["logistic_regression", "stacked"])
    assert {"logistic_regression", "stacked"} <= set(result.metrics) and "gradient_boosting" not in result.metrics
    stack = result.fitted["stacked"].named_steps["model"]
    assert stack.final_estimator_.coef_.shape == (1, 2)  # one weight per learner's out-of-fold probability
    data = dumps(result.models["stacked"])
    digest = sha256(data)
    loaded = load_verified(data, f"m-{digest[:12]}", "models/stacked/model.skops", digest)
    X = model_input(test, FEATURES)
    assert np.array_equal(loaded.predict_proba(X), result.models["stacked"].predict_proba(X))
    assert 0.8 < result.metrics["stacked"]["roc_auc"] < 1
