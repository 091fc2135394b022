from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churn_assets.core.simulation.population import latent_fields
from churn_assets.core.simulation.simulate import (
    simulate_events,
    simulate_population,
    simulate_subscriptions,
    simulate_users,
    true_churn_probability,
)
from churn_assets.settings import Settings

CONFIG = Settings(users=1500, days=120, seed=3).simulation()


def test_a_day_is_identical_on_every_call_and_depends_on_seed_and_day():
    day = date(2026, 2, 10)
    a = simulate_events(CONFIG, day)
    simulate_events(CONFIG, day + timedelta(days=1))  # simulating other days first changes nothing
    assert a.equals(simulate_events(CONFIG, day))
    assert not a.equals(simulate_events(Settings(users=1500, days=120, seed=4).simulation(), day))
    assert a["event_id"].is_unique
    assert (a["event_time"].dt.floor("D") == pd.Timestamp(day.isoformat(), tz="UTC")).all()


def test_users_sign_up_throughout_the_period_and_never_act_before_signup():
    users = simulate_users(CONFIG)
    in_period = users[users["signup_time"] >= pd.Timestamp("2026-01-01", tz="UTC")]
    assert in_period["signup_time"].dt.floor("D").nunique() >= 110  # not one cohort
    assert 0.2 < 1 - len(in_period) / len(users) < 0.3  # the existing base
    events = pd.concat([simulate_events(CONFIG, date(2026, 1, 1) + timedelta(days=i)) for i in range(40)])
    joined = events.merge(users, on="user_id")
    assert (joined["event_time"] >= joined["signup_time"]).all()


def test_a_longer_run_extends_the_same_story_and_a_shorter_one_knows_only_its_signups():
    longer = Settings(users=1500, days=160, seed=3, sim_signup_days=120).simulation()
    shorter = Settings(users=1500, days=30, seed=3, sim_signup_days=120).simulation()
    day = date(2026, 3, 15)
    assert simulate_events(longer, day).equals(simulate_events(CONFIG, day))
    assert simulate_events(shorter, date(2026, 1, 20)).equals(simulate_events(CONFIG, date(2026, 1, 20)))
    users, few = simulate_users(CONFIG), simulate_users(shorter)
    assert simulate_users(longer).equals(users)  # nobody signs up after the span
    assert few["signup_time"].max() < pd.Timestamp("2026-01-31", tz="UTC") <= users["signup_time"].max()
    pd.testing.assert_frame_equal(
        few.reset_index(drop=True), users[users["user_id"].isin(few["user_id"])].reset_index(drop=True)
    )
    periods = simulate_subscriptions(longer)
    assert periods["start_time"].max() >= pd.Timestamp("2026-05-01", tz="UTC")  # the source grows with the days
    pd.testing.assert_frame_equal(
        periods[periods["start_time"] < pd.Timestamp("2026-05-01", tz="UTC")].reset_index(drop=True),
        simulate_subscriptions(CONFIG).reset_index(drop=True),
    )
    # unset, the span is the run's days: the population of a 30-day run signs up over 30 days
    assert Settings(users=1500, days=30, seed=3).simulation().signup_days == 30


def test_no_latent_variable_reaches_the_tables():
    latent = latent_fields()
    assert latent == {
        "signup_day", "signup_seconds", "session_rate", "minutes_mean", "usage",
        "hazard", "onset_day", "decline_days", "churn_day", "cancel_day", "decided_day",
    }  # fmt: skip
    assert not latent & set(simulate_users(CONFIG).columns)
    assert not latent & set(simulate_subscriptions(CONFIG).columns)
    assert not latent & set(simulate_events(CONFIG, date(2026, 3, 1)).columns)


def test_churners_decline_before_they_stop():
    pop = simulate_population(CONFIG)
    stop = pop.churn_day
    days = range(40, 120)
    per_day = {d: simulate_events(CONFIG, date(2026, 1, 1) + timedelta(days=d)) for d in days}
    index = {u: i for i, u in enumerate(pop.user_id)}
    early, late, tickets_early, tickets_late = [], [], [], []
    for d, ev in per_day.items():
        idx = ev["user_id"].map(index).to_numpy()
        to_stop = stop[idx] - d
        sessions = ev["event_type"].to_numpy() == "session"
        tickets = ev["event_type"].to_numpy() == "support_ticket"
        late.append(sessions[(to_stop >= 1) & (to_stop <= 7)].sum())
        early.append(sessions[(to_stop >= 43) & (to_stop <= 49)].sum())
        tickets_late.append(tickets[(to_stop >= 1) & (to_stop <= 7)].sum())
        tickets_early.append(tickets[(to_stop >= 43) & (to_stop <= 49)].sum())
    # same number of user-days in both windows (a week each), far fewer sessions near the end
    assert sum(late) < 0.5 * sum(early)
    assert sum(tickets_late) > 2 * sum(tickets_early)
    gone = (stop < 60) & (pop.signup_day < 30)
    silent = per_day[100]["user_id"].isin(pop.user_id[gone]).sum()
    assert gone.sum() > 20 and silent == 0


ACTIVE_TYPES = ["session", "feature_use", "support_ticket"]


def active_users(first: date, days: int) -> set[str]:
    events = pd.concat([simulate_events(CONFIG, first + timedelta(days=i)) for i in range(days)])
    return set(events.loc[events["event_type"].isin(ACTIVE_TYPES), "user_id"])


def test_oracle_is_a_probability_that_ranks_real_outcomes_well():
    as_of = date(2026, 3, 1)
    oracle = true_churn_probability(CONFIG, as_of, 30)
    assert oracle["churn_probability"].between(0, 1).all()
    pop = simulate_population(CONFIG)
    t = (as_of - CONFIG.start_date).days
    gone_ids = list(pop.user_id[(pop.churn_day <= t) & (pop.signup_day <= t)])
    assert (oracle.set_index("user_id").loc[gone_ids, "churn_probability"] == 1.0).all()
    # score it as the labels are made: eligible users (active in the last 30 days), churned if silent next 30
    eligible = oracle[oracle["user_id"].isin(active_users(as_of - timedelta(days=29), 30))]
    churned = ~eligible["user_id"].isin(active_users(as_of + timedelta(days=1), 30))
    assert 0.05 < churned.mean() < 0.3
    assert roc_auc_score(churned, eligible["churn_probability"]) > 0.85
    assert abs(eligible["churn_probability"].mean() - churned.mean()) < 0.03  # calibrated
    assert np.isfinite(eligible["churn_probability"]).all()


def test_no_event_rounds_up_to_the_next_midnight():
    # with 100,000 users one event of 2026-03-16 was drawn 0.4 ms before midnight and rounded to 2026-03-17
    day = date(2026, 3, 16)
    events = simulate_events(Settings(users=100_000, seed=7).simulation(), day)
    assert events["event_time"].max() == pd.Timestamp("2026-03-16 23:59:59.999", tz="UTC")
    assert (events["event_time"].dt.date == day).all()
