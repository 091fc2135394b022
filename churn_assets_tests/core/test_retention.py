"""Retention work on crafted inputs: the control group, customer value, the call list, outcomes and decay."""

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from churn_assets.core.control import control_fraction, in_control
from churn_assets.core.modeling.btyd import BGNBD, GammaGamma, rfm
from churn_assets.core.retention.call_list import CALL_LIST_COLUMNS, call_list, calls_affordable
from churn_assets.core.retention.outcomes import OUTCOME_COLUMNS, day_outcomes, decay, headline
from churn_assets.core.retention.value import customer_value, value_model_for, with_value
from churn_assets.core.simulation.population import SimulationConfig, simulate_population

DAY = pd.Timestamp("2026-03-10", tz="UTC")


def test_the_control_share_holds_on_10000_users_and_a_user_stays_put_for_the_month():
    users = [f"user-{i}" for i in range(10_000)]
    march = [date(2026, 3, 1) + timedelta(days=d) for d in range(31)]
    flags = np.array([in_control(users, [day] * len(users), 0.10) for day in march])
    assert abs(flags[0].mean() - 0.10) <= 0.01
    assert (flags == flags[0]).all()  # every day of March: the same users
    april = in_control(users, [date(2026, 4, 1)] * len(users), 0.10)
    assert abs(april.mean() - 0.10) <= 0.01
    assert 0 < (april != flags[0]).sum() < 2_000  # drawn afresh each month
    assert not in_control(users, [date(2026, 3, 1)] * len(users), 0.0).any()
    # the documented rule, computable anywhere: blake2b of "<user>|<YYYY-MM>" as a fraction of 2^64
    assert control_fraction("user-0", "2026-03") == pytest.approx(
        int.from_bytes(__import__("hashlib").blake2b(b"user-0|2026-03", digest_size=8).digest(), "big") / 2**64
    )


def test_the_value_model_follows_the_source():
    assert value_model_for(cancellation=True, has_subscriptions=True) == "mrr"
    assert value_model_for(cancellation=False, has_subscriptions=True) == "billing"
    assert value_model_for(cancellation=False, has_subscriptions=False) == "spend"


def test_a_subscribers_value_is_mrr_over_the_horizon_and_billing_is_the_run_rate():
    mrr = pd.DataFrame({"sub_mrr": [29.99, 9.99, 0.0]})
    assert customer_value(mrr, "mrr", 30, 30).tolist() == [29.99, 9.99, 0.0]
    assert customer_value(mrr, "mrr", 15, 30).tolist() == [14.995, 4.995, 0.0]
    billed = pd.DataFrame({"amount_30": [29.99, 59.98, 0.0]})  # one or two bills in the last 30 days
    assert customer_value(billed, "billing", 30, 30).tolist() == [29.99, 59.98, 0.0]
    assert customer_value(billed.rename(columns={"amount_30": "amount_60"}), "billing", 30, 60).tolist() == [
        14.995,
        29.99,
        0.0,
    ]
    with pytest.raises(ValueError, match="unknown value model 'ltv'"):
        customer_value(mrr, "ltv", 30, 30)


def purchase_histories(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = rng.integers(30, 400, n)
    days = 1 + rng.poisson(first / 40)
    last = np.minimum(first - 1, rng.integers(0, 120, n))
    spend = days * rng.lognormal(np.log(35), 0.4, n)
    return pd.DataFrame(
        {
            "as_of_date": DAY,
            "lifetime_active_days": days,
            "days_since_first_activity": first,
            "days_since_last_activity": np.where(days == 1, first, last),
            "lifetime_amount": spend.round(2),
        }
    )


def test_a_buyers_value_is_bgnbd_expected_days_times_gamma_gamma_spend():
    histories = purchase_histories()
    value = customer_value(histories, "spend", 30, 30)
    days = histories["lifetime_active_days"].to_numpy(dtype=float)
    mean = histories["lifetime_amount"].to_numpy() / days
    bgnbd = BGNBD.fit_rows(histories, 20_000)
    spend = GammaGamma.fit(days - 1, mean)
    expected = bgnbd.expected_days(*rfm(histories), 30) * spend.expected_value(days - 1, mean)
    np.testing.assert_allclose(value, expected.round(4))
    assert (value >= 0).all() and value.mean() > 0
    # a customer who buys more often is worth more, all else equal
    twins = histories.iloc[[0, 0]].assign(lifetime_active_days=[2, 8], lifetime_amount=[70.0, 280.0])
    fitted = customer_value(pd.concat([histories, twins]), "spend", 30, 30)
    assert fitted[-1] > fitted[-2]
    no_money = histories.assign(lifetime_amount=0.0)  # an activity log without amounts: worth 0, never an error
    assert customer_value(no_money, "spend", 30, 30).tolist() == [0.0] * len(histories)


def test_value_at_risk_is_probability_times_value_and_each_day_is_fitted_apart():
    inputs = pd.DataFrame({"as_of_date": [DAY, DAY, DAY + pd.Timedelta(days=1)], "sub_mrr": [10.0, 20.0, 30.0]})
    scored = pd.DataFrame({"churn_probability": [0.5, 0.25, 0.1]})
    out = with_value(scored, inputs, "mrr", 30, 30)
    assert out["customer_value"].tolist() == [10.0, 20.0, 30.0]
    assert out["value_at_risk"].tolist() == [5.0, 5.0, 3.0]


def predictions(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "as_of_date": [DAY] * n,
        "user_id": [f"u{i}" for i in range(n)],
        "risk_tier": ["high"] * n,
        "customer_value": [10.0] * n,
        "model_version": ["m-1"] * n,
        "reason_1": ["events_7"] * n,
        "reason_2": [None] * n,
        "reason_3": [None] * n,
        "control": [False] * n,
    }
    return pd.DataFrame(base | columns)


def test_the_call_list_ranks_by_value_at_risk_leaves_out_control_and_calls_not_worth_making():
    frame = predictions(
        value_at_risk=[3.0, 9.0, 9.0, 12.0, 0.5, 7.0],
        churn_probability=[0.3, 0.6, 0.9, 0.4, 0.05, 0.7],
        control=[False, False, False, True, False, False],
    )
    listed = call_list(frame, size=10)
    assert list(listed.columns) == list(CALL_LIST_COLUMNS)
    # u3 has the most at risk but is in the control group; u2 and u1 tie on value, u2 is likelier to churn
    assert listed["user_id"].tolist() == ["u2", "u1", "u5", "u0", "u4"]
    assert listed["call_rank"].tolist() == [1, 2, 3, 4, 5]
    assert call_list(frame, size=2)["user_id"].tolist() == ["u2", "u1"]
    assert call_list(frame, size=10, call_cost=3.0)["user_id"].tolist() == ["u2", "u1", "u5"]  # 3.0 is not above 3.0
    # a budget of 1,000 at 2.50 a call pays for 400 calls; without a budget or a cost the size stands
    assert (calls_affordable(500, 2.5, 1000.0), calls_affordable(500, 2.5, 0.0), calls_affordable(300, 2.5, 1e6)) == (
        400,
        500,
        300,
    )
    assert calls_affordable(500, 0.1, 0.3) == 3  # not 2, as 0.3 // 0.1 would say


OUTCOME_ROWS = pd.DataFrame(
    {
        "user_id": ["a", "b", "c", "d"],
        "as_of_date": [DAY] * 4,
        "churn_probability": [0.9, 0.7, 0.6, 0.2],
        "risk_tier": ["high", "medium", "medium", "low"],
        "model_version": ["m-old"] * 4,
        "control": [False, False, True, False],
        "churned": [1, 0, 1, 0],
        "lifetime_active_days": [3, 12, 2, 20],
        "days_since_first_activity": [90, 100, 60, 120],
        "days_since_last_activity": [40, 10, 35, 1],
    }
)


def test_outcomes_of_a_crafted_day_are_exact_and_belong_to_the_version_that_scored_it():
    out = day_outcomes(OUTCOME_ROWS, horizon=30)
    assert list(out.columns) == list(OUTCOME_COLUMNS)
    assert set(out["model_version"]) == {"m-old"}
    overall = out[(out["group_name"] == "all") & (out["risk_tier"] == "all")].iloc[0]
    # churners 0.9 and 0.6 against stayers 0.7 and 0.2: three of four pairs ordered
    assert overall["roc_auc"] == 0.75
    assert overall["brier"] == pytest.approx((0.1**2 + 0.7**2 + 0.4**2 + 0.2**2) / 4)
    assert overall["recency_roc_auc"] == 1.0  # the churners are the two longest silent
    assert (overall["users"], overall["churned"], overall["churn_rate"]) == (4, 2, 0.5)
    # top decile = the single riskiest user, a churner: 1.0 / 0.5
    assert overall["top_decile_lift"] == 2.0
    tiers = out[out["group_name"] == "all"].set_index("risk_tier")
    assert tiers.loc["medium", ["users", "churned"]].tolist() == [2, 1]
    assert tiers.loc["high", "churn_rate"] == 1.0 and tiers.loc["low", "churn_rate"] == 0.0
    groups = out[out["risk_tier"] == "all"].set_index("group_name")
    assert groups.loc["control", ["users", "churned"]].tolist() == [1, 1]
    assert groups.loc["targeted", ["users", "churned"]].tolist() == [3, 1]
    assert np.isnan(groups.loc["control", "roc_auc"])  # one kind of user only: no ranking to judge
    figures = headline(out)
    assert (figures["targeted_churn_rate"], figures["control_churn_rate"], figures["users"]) == (0.3333, 1.0, 4)


def test_outcomes_refuse_two_versions_or_two_days_at_once():
    mixed = OUTCOME_ROWS.assign(model_version=["m-old", "m-old", "m-new", "m-new"])
    with pytest.raises(ValueError, match="one scored day of one model version at a time"):
        day_outcomes(mixed, horizon=30)


def realized(version: str, values: list[float], first: str = "2026-03-01") -> pd.DataFrame:
    days = pd.date_range(first, periods=len(values), tz="UTC")
    return pd.DataFrame({"as_of_date": days, "model_version": version, "roc_auc": values})


def test_decay_is_the_mean_of_the_versions_last_matured_days_against_its_test_score():
    rows = pd.concat([realized("m-1", [0.95] * 3 + [0.88] * 7), realized("m-0", [0.5] * 7, "2026-01-01")])
    verdict = decay(rows, "m-1", test_roc_auc=0.94, days=7, margin=0.05)
    assert (verdict.decayed, verdict.realized, verdict.days[0], verdict.days[-1]) == (
        True,
        0.88,
        "2026-03-04",
        "2026-03-10",
    )
    assert verdict.describe() == (
        "realized ROC-AUC of m-1 over 2026-03-04..2026-03-10 (7 days) 0.8800 is below its test ROC-AUC 0.9400 - "
        "margin 0.0500"
    )
    healthy = decay(rows, "m-1", test_roc_auc=0.92, days=7, margin=0.05)
    assert not healthy.decayed and "0.8800 is within its test ROC-AUC 0.9200" in healthy.describe()
    young = decay(realized("m-2", [0.5, 0.5]), "m-2", test_roc_auc=0.94, days=7, margin=0.05)
    assert not young.decayed and young.describe() == (
        "2 of the 7 matured days the decay check needs were scored by m-2: waiting"
    )


def test_the_simulators_retention_effect_reaches_targeted_users_only():
    base = SimulationConfig(4000, date(2026, 1, 1), 150, 7, None, "subscription", 0.5, 0.0, 150)
    plain = simulate_population(base)
    retained = simulate_population(replace(base, retention_effect=0.8))
    reached = pd.Timestamp("2026-01-01") + pd.to_timedelta(plain.churn_day - 1, unit="D")  # the last active day
    control = in_control(plain.user_id, reached, 0.5)
    assert (retained.onset_day[control] == plain.onset_day[control]).all()
    postponed = retained.onset_day[~control] > plain.onset_day[~control]
    assert abs(postponed.mean() - 0.8) < 0.03
    assert (retained.onset_day[~control] >= plain.onset_day[~control]).all()
    # without an effect the population is the one it always was
    again = simulate_population(replace(base, control_share=0.1))
    assert (again.onset_day == plain.onset_day).all() and (again.churn_day == plain.churn_day).all()


def silent_share(config: SimulationConfig, day: int) -> tuple[float, float]:
    """The share of users active in the 30 days up to ``day`` who are silent after it (the inactivity label, from
    the simulator's own story), in the control group and out of it, grouped by the pipeline's rule for that day."""
    pop = simulate_population(config)
    last_active = pop.churn_day - 1
    eligible = (pop.signup_day <= day) & (last_active >= day - 29)
    churned = eligible & (last_active <= day)
    as_of = pd.Timestamp(config.start_date) + pd.Timedelta(days=day)
    control = in_control(pop.user_id, [as_of] * len(pop.user_id), config.control_share)
    return churned[control].sum() / eligible[control].sum(), churned[~control].sum() / eligible[~control].sum()


def test_retention_work_shows_as_less_churn_of_targeted_users_and_none_without_it():
    base = SimulationConfig(20_000, date(2026, 1, 1), 150, 11, None, "subscription", 0.5, 0.0, 150)
    control, targeted = silent_share(base, 119)  # 2026-04-30
    assert abs(control - targeted) < 0.005  # 0.1295 and 0.1280: the groups are alike
    control, targeted = silent_share(replace(base, retention_effect=0.8), 119)
    assert targeted < control - 0.07  # 0.0547 against 0.1370
