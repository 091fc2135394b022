"""The model layer materialized through Dagster: training, registry, promotion, rollback, predictions.

One warehouse is built per deployment for the module; a test that changes it (retraining, promotion, drift, a
tampered file) works on its own copy (``own``), so the tests pass in any order."""

import io
from dataclasses import replace

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from churn_assets.core.control import in_control
from churn_assets.core.modeling.metrics import evaluate
from churn_assets.core.modeling.scoring import PREDICTION_COLUMNS
from churn_assets.core.modeling.training import TARGET, model_input
from churn_assets.core.simulation.population import latent_fields
from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC
from churn_assets.core.warehouse.types import type_feature_names, type_prefixes
from churn_assets.defs.jobs import DATA_ASSETS as DATA
from churn_assets_tests.conftest import Warehouse
from churn_assets_tests.helpers import embedded_instance, root_error, utc

SIMULATED_TYPES = {"session", "feature_use", "support_ticket", "payment", "payment_failed"}
# the subscription profile's five source types each become three model inputs
MODEL_FEATURES = [
    *DEFAULT_SPEC.model_features,
    *type_feature_names(type_prefixes(sorted(SIMULATED_TYPES)), DEFAULT_SPEC),
]
LEARNERS = {"logistic_regression", "logistic_regression_smote", "gradient_boosting"}
T = "2026-04-10"  # the last label day: its horizon ends on the last data day
LAST = "2026-05-10"
WINDOW_FIRST = "2026-01-11"  # 90 label days up to T


def report_link(built, day: str, key: str, report: str = "drift") -> str:
    """Where a report's metadata points: the HTTP API locally, the Cloud console on gcp (never file://)."""
    if built.settings.deployment == "local":
        return f"http://127.0.0.1:8000/reports/{report}/{day}"
    bucket, prefix = built.settings.gcs_bucket, built.settings.gcs_prefix
    return f"https://console.cloud.google.com/storage/browser/_details/{bucket}/{prefix}/{key}"


def mats(result, asset):
    """The metadata of ``asset``'s last materialization in the run, as plain values."""
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[-1].metadata.items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory, deployment) -> Warehouse:
    with embedded_instance() as instance:
        wh = Warehouse(tmp_path_factory.mktemp("data"), instance, users=600, **deployment)
        wh.materialize(["raw_users", "raw_users_quarantine"])
        wh.materialize(DATA, "2026-01-01", LAST)
        wh.materialize(["churn_labels"], "2026-01-01", T)
        wh.train = wh.materialize(["training_set", "churn_model"], T)
        wh.promote = wh.materialize(["production_model"])
        wh.predict = wh.materialize(["churn_predictions", "call_list"], LAST)
        yield wh


def test_training_set_holds_eligible_labelled_users_of_the_window(built):
    ts = built.table("training_set")
    labels = built.table("churn_labels")
    in_window = labels[labels["as_of_date"] >= utc(WINDOW_FIRST)]
    assert len(ts) == len(in_window) < len(labels)  # under the cap: every label day of the window, every user
    assert mats(built.train, "training_set")["sampling"]["fraction"] == 1.0
    assert ts["as_of_date"].min() == utc(WINDOW_FIRST) and ts["as_of_date"].max() == utc(T)
    assert (ts["training_window_end"] == utc(T)).all()
    assert not latent_fields() & set(ts.columns)


def test_first_model_is_registered_with_a_full_card_and_promoted(built):
    model = mats(built.train, "churn_model")
    version = model["model_version"]
    card = built.registry.card(version)
    assert set(card.type_features) == SIMULATED_TYPES and card.definition == "inactivity"
    assert sorted(card.features) == sorted(MODEL_FEATURES) and not latent_fields() & set(card.features)
    windows = {"train_first": WINDOW_FIRST, "train_last": "2026-02-25", "test_first": "2026-03-28", "test_last": T}
    assert card.windows == windows | {"gap_days": 30}
    # the candidates, and the baselines trained as models beside them (per-type counts: the textbook's model)
    assert set(card.candidates) == LEARNERS | {"bg_nbd", "recency", "type_activity"}
    assert card.selection["chosen_by"].startswith("log loss on the held-out users of the training window's last")
    rows = card.selection["rows"]  # the held-out users' rows of the window's last 14 days choose and calibrate
    assert (rows["held_out_first"], rows["held_out_last"]) == ("2026-02-12", "2026-02-25")
    assert rows["fitted"] + rows["held_out"] < card.training_rows and rows["held_out"] > 900
    # then the served model is recalibrated on the newest matured days: the test window
    recalibrated = card.calibration["recalibrated_on"]
    assert (recalibrated["first"], recalibrated["last"], recalibrated["rows"]) == ("2026-03-28", T, card.test_rows)
    assert (
        model["recalibrated_on"]
        == f"2026-03-28..{T} ({card.test_rows:,} rows, {recalibrated['churn_rate']:.1%} churned)"
    )
    recent = card.segments["active_last_7_days"]
    assert model["recently_active"]["active_last_7_days"] == recent and 0 < recent["rows"] < card.test_rows
    assert {"pr_auc", "roc_auc", "f1", "brier", "lift_top_decile"} <= set(card.metrics)
    assert card.metrics["roc_auc"] > 0.8
    for key in ("version", "created", "threshold", "sha256", "code_version", "data_version", "training_rows"):
        assert getattr(card, key), key
    assert "data:image/png;base64," in model["pr_curve"] and "data:image/png;base64," in model["calibration"]
    # the baselines on the same test rows, in the card and in the materialization, with the model's lift
    for name in ("recency", "bg_nbd"):
        judged = card.baselines[name]
        assert (model[f"{name}_pr_auc"], model[f"{name}_roc_auc"]) == (judged["pr_auc"], judged["roc_auc"])
        assert judged["model_lift"]["pr_auc"] == round(card.metrics["pr_auc"] - judged["pr_auc"], 4)
        assert 0.5 < judged["roc_auc"] < card.metrics["roc_auc"]
    # calibration on the test rows, and risk tiers whose observed churn rises with the tier
    calibration = card.calibration
    assert model["calibration_error"] == calibration["ece"] and 0 < calibration["ece"] < 0.1
    assert model["tiers_ordered"] is True and calibration["tiers_ordered"] is True
    rates = model["test_churn_rate_by_tier"]
    assert rates["low"] < rates["high"] and sum(t["rows"] for t in calibration["tiers"].values()) == card.test_rows
    promotion = mats(built.promote, "production_model")
    assert promotion["promoted"] is True and promotion["reason"].startswith("first model: ROC-AUC")
    assert "vs the best baseline" in promotion["reason"] and "room to 1" in promotion["reason"]
    assert promotion["reason"].endswith("beaten; floor 0.6")
    assert built.registry.production() == version


def test_predictions_score_every_eligible_user_with_the_production_model(built):
    predictions = built.table("churn_predictions")
    features = built.table("user_features", f"where as_of_date = '{LAST}'")
    assert (features["days_since_last_activity"] < 30).all()  # user_features holds only eligible users
    assert sorted(predictions["user_id"]) == sorted(features["user_id"])
    assert set(predictions["model_version"]) == {built.registry.production()}
    assert predictions["rank"].tolist() == list(range(1, len(predictions) + 1))
    p = predictions["churn_probability"].to_numpy()
    expected = np.where(p >= 0.8, "high", np.where(p >= 0.5, "medium", "low"))
    assert predictions["risk_tier"].tolist() == expected.tolist()
    assert set(predictions["reason_1"].dropna()) <= set(MODEL_FEATURES)
    meta = mats(built.predict, "churn_predictions")
    assert meta["tier_high"] + meta["tier_medium"] + meta["tier_low"] == len(predictions)
    assert "| user_id" in meta["top_risk_users"]
    # a subscription source: each user's value is what they were billed over the last 30 days (docs/retention.md)
    assert meta["value_model"] == "billing"
    billed = features.set_index("user_id")["amount_30"]
    np.testing.assert_allclose(predictions["customer_value"], billed[predictions["user_id"]].to_numpy(), atol=1e-4)
    np.testing.assert_allclose(predictions["value_at_risk"], (p * predictions["customer_value"]).round(4), atol=1e-4)
    assert meta["value_at_risk"] == pytest.approx(predictions["value_at_risk"].sum(), abs=0.01)
    assert predictions["control"].tolist() == in_control(predictions["user_id"], [utc(LAST)] * len(p), 0.1).tolist()
    assert meta["control_users"] == int(predictions["control"].sum()) > 0


def test_the_call_list_is_the_targeted_users_with_most_at_risk_exported_for_a_crm(built):
    predictions = built.table("churn_predictions")
    listed = built.table("call_list").sort_values("call_rank")
    targeted = predictions[~predictions["control"].astype(bool)]
    expected = targeted.sort_values(["value_at_risk", "churn_probability", "user_id"], ascending=[False, False, True])
    assert listed["user_id"].tolist() == expected["user_id"].head(500).tolist()
    assert not set(listed["user_id"]) & set(predictions.loc[predictions["control"].astype(bool), "user_id"])
    store = built.resources["artifacts"].store()
    exported = pd.read_csv(io.BytesIO(store.read_bytes(f"exports/call_list/{LAST}.csv")))
    assert exported["user_id"].tolist() == listed["user_id"].tolist()
    assert set(exported["as_of_date"]) == {LAST}
    typed = pd.read_parquet(io.BytesIO(store.read_bytes(f"exports/call_list/{LAST}.parquet")))
    assert typed["call_rank"].tolist() == list(range(1, len(listed) + 1))
    meta = mats(built.predict, "call_list")
    assert meta["csv"] == store.uri(f"exports/call_list/{LAST}.csv")


def test_a_table_written_by_an_earlier_release_gains_the_new_columns_and_keeps_its_rows(own):
    """Additive schema evolution: predictions stored before they carried value and control keep their rows, the
    new day's rows carry the new columns, the old rows hold them empty."""
    own.execute(  # the table as the previous release wrote it
        "CREATE OR REPLACE TABLE {table}churn_predictions AS "
        f"SELECT {', '.join(PREDICTION_COLUMNS)} FROM {{table}}churn_predictions"
    )
    before = own.table("churn_predictions")
    assert "control" not in before.columns and len(before) > 0
    own.materialize(["churn_predictions"], "2026-05-09")
    after = own.table("churn_predictions")
    old, new = after[after["as_of_date"] == utc(LAST)], after[after["as_of_date"] == utc("2026-05-09")]
    assert len(old) == len(before) and old["control"].isna().all() and old["value_at_risk"].isna().all()
    assert len(new) > 0 and new["control"].notna().all() and (new["value_at_risk"] >= 0).all()
    # a day judged or listed from an old row counts its users as targeted, never fails
    listed = own.materialize(["call_list"], LAST)
    assert listed.success and len(own.table("call_list", f"where as_of_date = '{LAST}'")) == len(old) < 500
    # a day's budget of 0.40 at 0.01 a call: 40 calls (of the many whose value at risk is above 0.01)
    budgeted = own.but(call_cost=0.01, call_budget=0.4).materialize(["call_list"], "2026-05-09")
    assert mats(budgeted, "call_list")["dagster/row_count"] == 40
    assert len(own.table("call_list", "where as_of_date = '2026-05-09'")) == 40


def test_outcomes_judge_a_matured_day_and_refuse_one_whose_horizon_is_open(own):
    own.materialize(["churn_predictions"], T)  # a day whose labels exist: its horizon has closed
    scorer = own.registry.production()
    judged = own.materialize(["prediction_outcomes"], T)
    outcomes = own.table("prediction_outcomes")
    assert set(outcomes["model_version"]) == {scorer}
    overall = outcomes[(outcomes["group_name"] == "all") & (outcomes["risk_tier"] == "all")].iloc[0]
    scored = own.table("churn_predictions", f"where as_of_date = '{T}'")
    labels = own.table("churn_labels", f"where as_of_date = '{T}'")
    both = scored.merge(labels, on=["user_id", "as_of_date"])
    assert overall["users"] == len(both) == len(scored)
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(both["churned"], both["churn_probability"]), abs=1e-6)
    meta = mats(judged, "prediction_outcomes")
    assert meta["realized_roc_auc"] == round(overall["roc_auc"], 4)
    assert meta["model_test_roc_auc"] == round(own.registry.card(scorer).metrics["roc_auc"], 4)
    assert meta["model_version"] == scorer
    # the page a person opens from the metadata: the realized ROC-AUC per day against the test ROC-AUC, the groups
    page = own.resources["artifacts"].store().read_bytes(f"reports/outcomes/{T}.html").decode()
    assert f"<title>Outcomes of {T}</title>" in page
    assert 'aria-label="realized ROC-AUC per scored day against the test ROC-AUC"' in page
    assert f"<title>{T}: {overall['roc_auc']:.4f}</title>" in page
    assert (
        f"Realized ROC-AUC\n{overall['roc_auc']:.4f} against the model's test ROC-AUC {meta['model_test_roc_auc']:.4f}"
        in page
    )
    assert page.count("<td>control</td>") == 4  # the control group's row as a whole and per tier
    assert meta["outcomes_report"] == report_link(own, T, f"reports/outcomes/{T}.html", "outcomes")
    refused = own.materialize(["prediction_outcomes"], LAST, raise_on_error=False)
    assert not refused.success
    assert root_error(refused).message.startswith(
        f"churn_assets.core.days.MissingDaysError: Cannot compute prediction_outcomes {LAST} (its horizon closes "
        f"after 2026-06-09): churn_labels is missing {LAST}"
    )


def test_retraining_on_the_same_data_promotes_nothing(own):
    before = own.registry.production()
    again = own.materialize(["training_set", "churn_model"], T)
    assert mats(again, "churn_model")["model_version"] == before
    assert mats(again, "churn_model")["newly_registered"] is False
    promotion = mats(own.materialize(["production_model"]), "production_model")
    assert (promotion["promoted"], promotion["reason"]) == (False, "already production")


def test_promotion_refuses_a_worse_model_and_rollback_restores_the_previous_one(own):
    good = own.registry.production()
    test = own.registry.frame(good, "test_set")
    # a model trained on shuffled labels, honestly scored on the same test window
    rng = np.random.default_rng(1)
    worse = clone(own.registry.load(good))
    features = own.registry.card(good).features
    worse.fit(model_input(test, features), rng.permutation(test[TARGET].to_numpy()))
    scores = worse.predict_proba(model_input(test, features))[:, 1]
    card = replace(own.registry.card(good), metrics=evaluate(test[TARGET].to_numpy(), scores, 0.5))
    bad, created = own.registry.register(worse, card, {"test_set": test})
    assert created and own.registry.latest() == bad

    promotion = mats(own.materialize(["production_model"]), "production_model")
    assert promotion["candidate_version"] == bad and promotion["promoted"] is False
    assert "does not beat the margin" in promotion["reason"]
    assert own.registry.production() == good

    # an operator forces the bad model in; rollback restores the previous production model
    own.registry.promote(bad, "forced")
    own.materialize(["churn_predictions"], LAST)
    assert set(own.table("churn_predictions")["model_version"]) == {bad}
    assert own.registry.rollback() == good
    own.materialize(["churn_predictions"], LAST)
    assert set(own.table("churn_predictions")["model_version"]) == {good}
    # the rejected model is not re-promoted by the next promotion run
    again = mats(own.materialize(["production_model"]), "production_model")
    assert again["promoted"] is False and again["reason"].startswith("already judged")


def test_predictions_refuse_a_tampered_production_model(own):
    version = own.registry.production()
    key = f"models/{version}/model.skops"
    own.registry.store.write_bytes(key, own.registry.store.read_bytes(key)[:-8] + b"tampered")
    result = own.materialize(["churn_predictions"], LAST, raise_on_error=False)
    assert not result.success
    assert f"model {version}: sha256 of models/{version}/model.skops" in root_error(result).message


def test_drift_report_is_quiet_on_the_same_behaviour_and_flags_injected_drift(own):
    quiet = own.materialize(["drift_report"], LAST)
    meta = mats(quiet, "drift_report")
    table = own.table("drift_report")
    assert len(table) == len(DEFAULT_SPEC.model_features) + 1  # every feature of user_features, the probability
    assert set(table.columns) >= {"feature", "psi", "important", "drifted", "reference_mean", "current_mean"}
    assert meta["drift_detected"] is False and meta["max_important_psi"] < 0.25, meta["drifted_features"]
    # no drift: nothing is called drifted, and the largest shift is named as such
    top = table.sort_values("psi", ascending=False).iloc[0]
    assert meta["drifted_features"] == [] and not table["drifted"].any()
    assert meta["largest_shift"].startswith(f"{top['feature']} (PSI {top['psi']:.3f}")
    report = f"reports/drift/{LAST}-{own.registry.production()}.html"
    assert len(own.registry.store.read_bytes(report)) > 100_000
    assert meta["evidently_report"] == report_link(own, LAST, report)
    [check] = [e for e in own.check_evaluations(quiet) if e.check_name == "important_features_stable"]
    assert check.partition == LAST

    # the same users from 2026-04-19 on with shifted behaviour: re-materialize those days and score them
    drifted = own.but(drift_from="2026-04-19")
    drifted.materialize(DATA, "2026-04-19", LAST)
    drifted.materialize(["churn_predictions"], LAST)
    loud = drifted.materialize(["drift_report"], LAST)
    meta = mats(loud, "drift_report")
    assert meta["drift_detected"] is True and meta["max_important_psi"] >= 0.25
    table = drifted.table("drift_report", f"where as_of_date = '{LAST}'")
    watched = set(table.loc[table["important"], "feature"])
    assert meta["drifted_features"] and set(meta["drifted_features"]) <= watched  # drifted: watched, at the fail
    assert set(table.loc[table["drifted"], "feature"]) == set(meta["drifted_features"])
    [check] = [e for e in drifted.check_evaluations(loud) if e.check_name == "important_features_stable"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR


def test_a_ranged_run_keeps_each_days_own_tiers_and_drift_report(own):
    days = ["2026-05-09", LAST]
    predict = own.materialize(["churn_predictions"], *days)
    drift = own.materialize(["drift_report"], *days)
    predictions = own.table("churn_predictions")
    version = own.registry.production()
    tiers = {}
    for m in predict.asset_materializations_for_node("churn_predictions"):
        rows = predictions[predictions["as_of_date"] == utc(m.partition)]
        assert m.metadata["dagster/row_count"].value == len(rows) > 0
        assert sorted(rows["rank"]) == list(range(1, len(rows) + 1))  # ranked within the day
        tiers[m.partition] = [m.metadata[f"tier_{t}"].value for t in ("high", "medium", "low")]
        assert tiers[m.partition] == [int((rows["risk_tier"] == t).sum()) for t in ("high", "medium", "low")]
    assert sorted(tiers) == days
    reports = {m.partition: m.metadata for m in drift.asset_materializations_for_node("drift_report")}
    assert sorted(reports) == days
    for day, meta in reports.items():
        assert meta["evidently_report"].value == report_link(own, day, f"reports/drift/{day}-{version}.html")
        assert meta["dagster/row_count"].value == len(DEFAULT_SPEC.model_features) + 1
    # the last day alone reports exactly what it reported inside the range (but Dagster's "Query" of the slice)
    for asset, ranged in (("churn_predictions", predict), ("drift_report", drift)):
        alone = own.materialize([asset], LAST)
        [before] = [m.metadata for m in ranged.asset_materializations_for_node(asset) if m.partition == LAST]
        [after] = [m.metadata for m in alone.asset_materializations_for_node(asset)]
        strip = lambda meta: {k: v.value for k, v in meta.items() if k != "Query"}  # noqa: E731
        assert strip(after) == strip(before), asset


@pytest.mark.parametrize("deployment", ["local"], indirect=True)
def test_a_retrain_launched_with_its_own_window_and_candidates(own):
    """The launchpad's config of a retraining run: a shorter window and two candidates, recorded in the card. The
    run config is the same on both deployments, and the gcp training set of a window is read by the other tests:
    here on the embedded warehouse only (on the emulator it took 21 s)."""
    day = "2026-04-09"
    config = {
        "ops": {
            "training_set": {"config": {"train_days": 60}},
            "churn_model": {"config": {"candidates": ["bg_nbd", "logistic_regression"]}},
        }
    }
    result = own.materialize(["training_set", "churn_model"], day, run_config=config)
    card = own.registry.card(mats(result, "churn_model")["model_version"])
    assert card.launch == {
        "window_last": day,
        "candidates": ["logistic_regression", "bg_nbd"],
        "window_first": "2026-02-09",
        "train_days": 60,
    }
    assert sorted(card.candidates) == ["bg_nbd", "logistic_regression", "recency", "type_activity"]
    assert card.windows["train_first"] == "2026-02-09"

    wrong = {"ops": {"churn_model": {"config": {"candidates": ["xgboost"]}}}}
    refused = own.materialize(["churn_model"], day, run_config=wrong, raise_on_error=False)
    error = root_error(refused).message
    assert "candidates must be a non-empty subset of ['logistic_regression', 'logistic_regression_smote', " in error
    assert "got ['xgboost']" in error
