"""Subscription periods: every defect quarantined with its reason, both export shapes read, the settings that
need them, and the simulator's periods."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from churn_assets.core.intake.schema import SourceFileError
from churn_assets.core.intake.subscriptions import read_subscriptions, validate_subscriptions
from churn_assets.core.simulation.population import simulate_population
from churn_assets.core.simulation.simulate import SimulationConfig, simulate_events, simulate_subscriptions
from churn_assets.settings import Settings, SettingsError

USERS = pd.DataFrame({"user_id": ["a", "b", "c", "d", "e", "f"]})


def periods(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "start_time", "end_time", "plan", "mrr"])


def reasons(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    rejected = validate_subscriptions(frame, USERS).rejected
    return {(r.user_id, r.start_time): r.reason for r in rejected.itertuples()}


def test_each_defect_is_quarantined_with_its_reason():
    frame = periods(
        ("a", "2026-01-01", "2026-02-01", "basic", "9.99"),  # fine
        ("a", "2026-02-01", "2026-03-01", "basic", "9.99"),  # a renewal on the end day: fine
        ("a", "2026-02-15", "2026-03-15", "pro", "29.99"),  # starts inside the one before
        ("b", "2026-01-10", "2026-01-05", "basic", "9.99"),  # ends before it starts
        ("c", "2026-01-01", "", "basic", "9.99"),  # open-ended: fine
        ("c", "2026-03-01", "2026-04-01", "basic", "9.99"),  # starts while the open-ended one runs
        ("d", "2026-01-01", "2026-02-01", "basic", "-5"),  # negative MRR
        ("d", "2026-02-01", "2026-03-01", "basic", "inf"),  # non-finite MRR
        ("e", "2026-01-01", "2026-02-01", "basic", "9.99"),
        ("e", "2026-01-01", "2026-02-15", "basic", "9.99"),  # the same period twice
        ("zz", "2026-01-01", "2026-02-01", "basic", "9.99"),  # not in raw_users
        ("f", "soon", "2026-02-01", "basic", "9.99"),  # not a timestamp
        ("", "2026-01-01", "2026-02-01", "basic", "9.99"),  # no user
    )
    assert reasons(frame) == {
        ("a", "2026-02-15"): "overlapping_period",
        ("b", "2026-01-10"): "end_before_start",
        ("c", "2026-03-01"): "overlapping_period",
        ("d", "2026-01-01"): "bad_mrr",
        ("d", "2026-02-01"): "bad_mrr",
        ("e", "2026-01-01"): "duplicate_period",
        ("zz", "2026-01-01"): "unknown_user",
        ("f", "soon"): "bad_type",
        ("", "2026-01-01"): "null_key",
    }
    validated = validate_subscriptions(frame, USERS)
    assert validated.total == 13 and len(validated.clean) == 4  # nothing lost: 4 kept + 9 quarantined
    assert validated.clean["user_id"].tolist() == ["a", "a", "c", "e"]
    assert pd.isna(validated.clean.loc[2, "end_time"])


def test_an_overlap_is_judged_against_the_accepted_period_not_the_rejected_one():
    frame = periods(
        ("a", "2026-01-01", "2026-02-01", None, None),
        ("a", "2026-01-20", "2026-06-01", None, None),  # overlaps: rejected
        ("a", "2026-02-01", "2026-03-01", None, None),  # follows the accepted first period: kept
    )
    assert reasons(frame) == {("a", "2026-01-20"): "overlapping_period"}


def test_both_export_shapes_and_ignored_columns(tmp_path):
    billing = tmp_path / "invoices.csv"
    billing.write_text("user_id,start_time,end_time,amount_due,mrr\na,2026-01-01,2026-02-01,9.99,9.99\n")
    validated = validate_subscriptions(read_subscriptions(str(billing), [date(2026, 1, 1)]), USERS)
    assert validated.dropped_columns == ("amount_due",) and validated.clean["plan"].isna().all()
    template = str(tmp_path / "subs-{date}.csv")
    (tmp_path / "subs-2026-01-01.csv").write_text("user_id,start_time,end_time\na,2026-01-01,\n")
    (tmp_path / "subs-2026-01-03.csv").write_text("user_id,start_time,end_time\nb,2026-01-03T10:00:00Z,\n")
    read = read_subscriptions(template, [date(2026, 1, d) for d in (1, 2, 3)])
    assert read["user_id"].tolist() == ["a", "b"]  # the days with a file, one after another
    with pytest.raises(SourceFileError, match=r"invoices.csv: missing required column\(s\) \['end_time'\]"):
        billing.write_text("user_id,start_time\na,2026-01-01\n")
        read_subscriptions(str(billing), [date(2026, 1, 1)])
    with pytest.raises(SourceFileError, match="03/04/2026"):
        billing.write_text("user_id,start_time,end_time\na,03/04/2026,\n")
        read_subscriptions(str(billing), [date(2026, 1, 1)])


def test_a_cancellation_definition_needs_subscriptions(tmp_path):
    events = str(tmp_path / "events.csv")
    with pytest.raises(SettingsError, match="CHURN_DEFINITION=cancellation needs subscription periods.*CHURN_SUBSCRIP"):
        Settings.from_env({"CHURN_DEFINITION": "cancellation", "CHURN_EVENTS_FILE": events})
    with pytest.raises(SettingsError, match="the simulator's purchase profile"):
        Settings.from_env({"CHURN_DEFINITION": "cancellation", "CHURN_PROFILE": "purchase"})
    with pytest.raises(SettingsError, match="CHURN_DEFINITION must be one of"):
        Settings.from_env({"CHURN_DEFINITION": "silence"})
    given = Settings.from_env(
        {"CHURN_DEFINITION": "cancellation", "CHURN_EVENTS_FILE": events, "CHURN_SUBSCRIPTIONS_FILE": events}
    )
    assert given.calendar.decided_days == 37  # the 30-day horizon and the 7-day renewal grace
    assert Settings.from_env({}).calendar.decided_days == 30


def test_simulated_subscribers_cancel_while_still_active():
    config = SimulationConfig(3000, date(2026, 1, 1), 240, 7, None, "subscription", 0.1, 0.0, 240)
    subs = simulate_subscriptions(config)
    pop = simulate_population(config)
    paying = pop.plan != "free"
    assert set(subs["user_id"]) <= set(pop.user_id[paying]) and subs["mrr"].gt(0).all()
    cancelled = paying & (pop.cancel_day < config.days)
    # every cancellation is decided while the user still uses the product, most of them weeks into their decline
    # (some abruptly, before it); the subscription then runs to the end of the period paid for
    decided, onset = pop.decided_day[cancelled], pop.onset_day[cancelled]
    assert (decided < pop.churn_day[cancelled]).all() and (decided <= pop.cancel_day[cancelled]).all()
    assert 0.6 < (decided >= onset).mean() < 0.95 and ((decided - onset)[decided >= onset] >= 7).mean() > 0.9
    assert (pop.cancel_day[cancelled] < pop.churn_day[cancelled]).mean() > 0.3  # still active when it lapses
    # a cancelled subscription is billed no more: no payment event on or after the cancellation
    user = pop.user_id[np.flatnonzero(cancelled & (pop.cancel_day > 10) & (pop.churn_day > pop.cancel_day + 31))[0]]
    i = int(np.flatnonzero(pop.user_id == user)[0])
    days = [date.fromordinal(config.start_date.toordinal() + d) for d in range(config.days)]
    billed = [
        (day - config.start_date).days
        for day in days
        if ((e := simulate_events(config, day))["user_id"].eq(user) & e["event_type"].str.startswith("payment")).any()
    ]
    assert billed and max(billed) < pop.cancel_day[i]
    last = subs[subs["user_id"] == user]["end_time"].max()
    assert (last - pd.Timestamp(config.start_date.isoformat(), tz="UTC")).days == pop.cancel_day[i]
    assert simulate_subscriptions(SimulationConfig(100, date(2026, 1, 1), 30, 7, None, "purchase", 0.1, 0.0, 30)).empty
