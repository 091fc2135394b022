import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from churn_assets.core.modeling.promotion import Bars, promote_if_better
from churn_assets.core.modeling.scoring import (
    PREDICTION_COLUMNS,
    calibration_report,
    chance_calibration_error,
    chance_calibration_errors,
    expected_calibration_error,
    rank_predictions,
    reason_codes,
    risk_tier,
    score_users,
)
from churn_assets.core.registry.card import ModelCard
from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC

NUMERIC_FEATURES = DEFAULT_SPEC.numeric
MODEL_FEATURES = DEFAULT_SPEC.model_features


BARS = Bars(margin=0.01, floor_roc_auc=0.6, baseline_margin=0.02)
ORDERED = {"tiers_ordered": True, "tiers": {}}
RECENCY = {"recency": {"roc_auc": 0.55, "pr_auc": 0.3}}


def test_first_model_needs_the_floor():
    assert promote_if_better(
        {"roc_auc": 0.6, "pr_auc": 0.1}, None, bars=BARS, baselines=RECENCY, calibration=ORDERED
    ).promote
    refused = promote_if_better(
        {"roc_auc": 0.59, "pr_auc": 0.9}, None, bars=BARS, baselines={"recency": {"roc_auc": 0.4}}, calibration=ORDERED
    )
    assert not refused.promote and refused.reason == "first model: ROC-AUC 0.5900 is below the floor 0.6"


def test_a_first_model_must_close_a_share_of_the_best_baselines_room():
    baselines = {"recency": {"roc_auc": 0.6392}, "bg_nbd": {"roc_auc": 0.7}}
    refused = promote_if_better(
        {"roc_auc": 0.7059, "pr_auc": 0.5}, None, bars=BARS, baselines=baselines, calibration=ORDERED
    )
    assert not refused.promote
    assert refused.reason == (
        "first model: ROC-AUC 0.7059 vs the best baseline, bg_nbd, 0.7000 on the same test rows: +0.0059, and 0.02 "
        "of its room to 1 is +0.0060: not beaten"
    )
    taken = promote_if_better(
        {"roc_auc": 0.7061, "pr_auc": 0.5}, None, bars=BARS, baselines=baselines, calibration=ORDERED
    )
    assert taken.promote and taken.reason.endswith("+0.0061, and 0.02 of its room to 1 is +0.0060: beaten; floor 0.6")


def test_a_near_perfect_baseline_cannot_block_a_better_model_forever():
    # recency spots the already-silent almost perfectly; a fixed 0.01 margin refused the model's +0.0049
    baselines = {"recency": {"roc_auc": 0.9865}, "bg_nbd": {"roc_auc": 0.95}}
    decision = promote_if_better(
        {"roc_auc": 0.9914, "pr_auc": 0.9}, None, bars=BARS, baselines=baselines, calibration=ORDERED
    )
    assert decision.promote and "0.02 of its room to 1 is +0.0003" in decision.reason
    assert not promote_if_better(
        {"roc_auc": 0.9866, "pr_auc": 0.9}, None, bars=BARS, baselines=baselines, calibration=ORDERED
    ).promote


def test_a_model_whose_tiers_are_not_ordered_is_not_promoted_even_when_it_ranks_well():
    inverted = {
        "tiers_ordered": False,
        "tiers": {"low": {"churn_rate": 0.63}, "medium": {"churn_rate": 0.73}, "high": {"churn_rate": 0.5}},
    }
    refused = promote_if_better(
        {"roc_auc": 0.9, "pr_auc": 0.9}, None, bars=BARS, baselines=RECENCY, calibration=inverted
    )
    assert not refused.promote
    assert (
        refused.reason
        == "risk tiers not ordered on the test window (observed churn: low 63.0%, medium 73.0%, high 50.0%)"
    )
    assert not promote_if_better(
        {"roc_auc": 0.9, "pr_auc": 0.9}, {"pr_auc": 0.1}, bars=BARS, baselines=RECENCY, calibration=inverted
    ).promote


def test_a_new_model_must_beat_production_by_the_margin():
    production = {"pr_auc": 0.50, "roc_auc": 0.8}
    assert promote_if_better(
        {"pr_auc": 0.52, "roc_auc": 0.8}, production, bars=BARS, baselines=RECENCY, calibration=ORDERED
    ).promote
    tie = promote_if_better(
        {"pr_auc": 0.505, "roc_auc": 0.9}, production, bars=BARS, baselines=RECENCY, calibration=ORDERED
    )
    assert not tie.promote
    assert (
        tie.reason
        == "PR-AUC 0.5050 vs production 0.5000 on the same test window: +0.0050 does not beat the margin 0.01"
    )
    assert not promote_if_better(
        {"pr_auc": 0.4, "roc_auc": 0.9}, production, bars=BARS, baselines=RECENCY, calibration=ORDERED
    ).promote


def test_risk_tier_boundaries():
    p = np.array([0.8, 0.7999, 0.5, 0.4999, 1.0, 0.0])
    assert risk_tier(p, 0.8, 0.5).tolist() == ["high", "medium", "medium", "low", "high", "low"]


class Linear:
    """A transparent model: risk rises with days_since_last_activity and support tickets, falls with sessions."""

    def predict_proba(self, frame):
        z = 0.1 * frame["days_since_last_activity"] + 0.5 * frame["support_tickets_30"] - 0.2 * frame["sessions_30"]
        p = 1 / (1 + np.exp(-(z.to_numpy(dtype=float) - 2)))
        return np.column_stack([1 - p, p])


def frame(rows):
    base = {c: 0 for c in NUMERIC_FEATURES} | {"plan": "pro", "channel": "organic", "active_days_30": 1}
    out = pd.DataFrame([{**base, **r} for r in rows])
    out["as_of_date"] = pd.Timestamp("2026-04-30", tz="UTC")
    return out


REFERENCE = {c: 0.0 for c in NUMERIC_FEATURES} | {"plan": "pro", "channel": "organic", "sessions_30": 10.0}


def test_reason_codes_name_the_features_pushing_risk_up():
    f = frame(
        [
            {"user_id": "a", "days_since_last_activity": 20, "support_tickets_30": 1, "sessions_30": 10},
            {"user_id": "b", "days_since_last_activity": 0, "support_tickets_30": 6, "sessions_30": 0},
            {"user_id": "c", "days_since_last_activity": 0, "support_tickets_30": 0, "sessions_30": 30},
        ]
    )
    reasons = reason_codes(Linear(), f, REFERENCE, MODEL_FEATURES)
    assert reasons.iloc[0].fillna("-").tolist() == ["days_since_last_activity", "support_tickets_30", "-"]
    assert reasons.iloc[1].fillna("-").tolist() == ["support_tickets_30", "sessions_30", "-"]
    assert reasons.iloc[2].isna().all()  # everything about c lowers the risk


def card(reference=REFERENCE):
    return ModelCard(candidate="linear", metrics={}, features=list(MODEL_FEATURES), feature_reference=reference)


def test_score_users_scores_every_row_with_tier_and_version_and_ranks_across_chunks():
    first = frame([{"user_id": "low", "days_since_last_activity": 0}])
    second = frame([{"user_id": "high", "days_since_last_activity": 30, "support_tickets_30": 4}])
    chunks = [score_users(Linear(), f, "m-1", card(), high=0.8, medium=0.5) for f in (first, second)]
    out = rank_predictions(pd.concat(chunks, ignore_index=True))
    assert list(out.columns) == list(PREDICTION_COLUMNS)
    assert out["user_id"].tolist() == ["high", "low"]  # by rank over the whole day, not per chunk
    assert out["rank"].tolist() == [1, 2]
    assert out["risk_tier"].tolist() == ["high", "low"]
    assert out["churn_probability"].iloc[0] == pytest.approx(1 / (1 + np.exp(-(3 + 2 - 2))))
    assert set(out["model_version"]) == {"m-1"}


def test_scoring_works_with_a_real_pipeline_on_model_features():
    rng = np.random.default_rng(0)
    f = frame([{"user_id": f"u{i}", "days_since_last_activity": int(rng.integers(0, 31))} for i in range(50)])
    y = (f["days_since_last_activity"] > 20).astype(int)
    model = LogisticRegression().fit(f[list(NUMERIC_FEATURES)], y)

    class OnNumeric:
        def predict_proba(self, x):
            return model.predict_proba(x[list(NUMERIC_FEATURES)])

    scored = score_users(
        OnNumeric(), f, "m-2", card(REFERENCE | {"days_since_last_activity": 0.0}), high=0.8, medium=0.5
    )
    out = rank_predictions(scored)
    assert len(out) == 50 and out["rank"].is_unique
    top = out.iloc[0]
    assert top["reason_1"] == "days_since_last_activity"
    assert set(MODEL_FEATURES) >= set(out[["reason_1", "reason_2", "reason_3"]].stack().unique())


def test_calibration_report_on_hand_computed_rows():
    y = np.array([0, 0, 1, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.15, 0.55, 0.65, 0.85, 0.95, 0.95])
    report = calibration_report(y, p, high=0.8, medium=0.5, bins=2)
    # bin [0, 0.5): predicted 0.1167, observed 1/3; bin [0.5, 1]: predicted 0.79, observed 3/5
    expected = abs(0.35 / 3 - 1 / 3) * 3 / 8 + abs(3.95 / 5 - 3 / 5) * 5 / 8
    assert report["ece"] == round(expected, 4)
    assert report["tiers"] == {
        "low": {"rows": 3, "mean_probability": 0.1167, "churn_rate": 0.3333},
        "medium": {"rows": 2, "mean_probability": 0.6, "churn_rate": 0.5},
        "high": {"rows": 3, "mean_probability": 0.9167, "churn_rate": 0.6667},
    }
    assert report["tiers_ordered"] is True
    inverted = calibration_report(1 - y, p, high=0.8, medium=0.5, bins=2)  # the inverted tiers
    assert inverted["tiers_ordered"] is False


def test_the_calibration_error_a_perfect_model_shows_by_chance_shrinks_with_the_users():
    # ten bins: 0.1 predicted where half churned, 0.9 where all did: 0.4 x 1/2 + 0.1 x 1/2
    assert expected_calibration_error(np.array([0, 1, 1, 1]), np.array([0.1, 0.1, 0.9, 0.9])) == pytest.approx(0.25)
    # every user at 0.5: the error is |churned share - 0.5|, on average sqrt(2 / pi) x 0.5 / sqrt(n)
    few, many = chance_calibration_error(np.full(100, 0.5)), chance_calibration_error(np.full(10_000, 0.5))
    assert few == pytest.approx(0.0399, abs=0.004) and many == pytest.approx(0.00399, abs=0.0004)
    assert chance_calibration_error(np.full(100, 0.5)) == few  # a fixed seed: the same rows, the same figure
    # and the error a perfect model exceeds on one date in twenty: |churned share - 0.5| at 1.96 standard errors
    errors = chance_calibration_errors(np.full(10_000, 0.5), draws=2_000)
    assert np.quantile(errors, 0.95) == pytest.approx(1.96 * 0.5 / 100, abs=0.0008)
    assert float(np.mean(errors)) == pytest.approx(many, abs=0.0003)
