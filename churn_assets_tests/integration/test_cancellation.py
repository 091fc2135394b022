"""Churn as a subscription business counts it, through the real command: a billing export beside the event log on
the embedded default. (The simulator's subscription profile on the BigQuery and GCS emulators is
``test_gcp.py``'s run of the command.)"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from churn_assets.core.registry.artifacts import LocalArtifactStore
from churn_assets.core.registry.model_registry import ModelRegistry
from churn_assets.core.simulation.population import simulate_population
from churn_assets.core.simulation.simulate import simulate_events, simulate_subscriptions
from churn_assets.settings import Settings
from churn_assets_tests.helpers import cli

START = date(2026, 1, 1)
DAYS = 100
USERS = 600
LAST = START + timedelta(days=DAYS - 1)


def per_subscription(periods: pd.DataFrame, last: date) -> pd.DataFrame:
    """Monthly periods as a subscriptions table exports them: one row per subscription, open-ended while it runs."""
    rows = []
    for user, spans in periods.sort_values("start_time").groupby("user_id"):
        end = spans["end_time"].max()
        running = end > pd.Timestamp(last.isoformat(), tz="UTC") + pd.Timedelta(days=1)
        rows.append(
            (user, spans["start_time"].min(), None if running else end, spans["plan"].iloc[0], spans["mrr"].iloc[0])
        )
    frame = pd.DataFrame(rows, columns=["user_id", "start_time", "end_time", "plan", "mrr"])
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """The simulator's events as a file, and its subscriptions as a billing system exports them: one row per
    subscription, an account column the pipeline does not use, and three bad rows. No users file: the users are
    derived from their first event or their first period, whichever came first (a subscriber may never act)."""
    settings = Settings(users=USERS, start_date=START, days=DAYS)
    config = settings.simulation()
    folder = tmp_path_factory.mktemp("billing")
    events = pd.concat([simulate_events(config, START + timedelta(days=i)) for i in range(DAYS)], ignore_index=True)
    events.to_parquet(folder / "events.parquet")
    subs = per_subscription(simulate_subscriptions(config), LAST)
    subs["account"] = "acme"
    running = subs[subs["end_time"].isna()]["user_id"].iloc[0]
    bad = pd.DataFrame(
        [
            (running, "2026-03-20T00:00:00Z", None, "basic", "9.99", "acme"),  # starts while another one runs
            (subs["user_id"].iloc[0], "2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z", "pro", "9.99", "acme"),
            (subs["user_id"].iloc[1], "2026-01-03T00:00:00Z", None, "pro", "-3", "acme"),  # negative MRR
        ],
        columns=subs.columns,
    )
    pd.concat([subs, bad], ignore_index=True).to_csv(folder / "subscriptions.csv", index=False)
    return folder, config


def test_a_billing_export_and_an_event_log_run_as_cancellations(export, tmp_path):
    folder, config = export
    data = tmp_path / "d"
    args = ["run", "--data-dir", str(data), "--days", str(DAYS), "--events-file", str(folder / "events.parquet")]
    args += ["--subscriptions-file", str(folder / "subscriptions.csv"), "--churn-definition", "cancellation"]
    out = cli(*args)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    text = out.stdout
    assert "[3/7] churn labels 2026-01-01..2026-03-04" in text  # the 30-day horizon and the 7-day grace: 37 days
    assert "Production model: m-" in text and f"Predictions {LAST}:" in text
    assert "note: raw_subscriptions ignores the source column(s) ['account']" in text
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
        reasons = dict(
            conn.execute("select reason, count(*) from churn.raw_subscriptions_quarantine group by 1").fetchall()
        )
        assert reasons == {"overlapping_period": 1, "end_before_start": 1, "bad_mrr": 1}  # nothing lost
        users = set(conn.execute("select user_id from churn.raw_users").df()["user_id"])
        labels = conn.execute("select user_id, as_of_date, churned from churn.churn_labels").df()
        scored = set(
            conn.execute(f"select user_id from churn.churn_predictions where as_of_date = '{LAST}'").df()["user_id"]
        )
        covered = conn.execute(
            f"select user_id from churn.subscription_state where as_of_date = '{LAST}' and covered"
        ).df()
        valued = conn.execute(
            "select p.customer_value, p.value_at_risk, p.churn_probability, f.sub_mrr from churn.churn_predictions p "
            "join churn.user_features f using (user_id, as_of_date)"
        ).df()
    # a subscriber's value over the 30-day horizon is their MRR: the plans' prices, 9.99 and 29.99
    assert (valued["customer_value"] == valued["sub_mrr"]).all()
    assert set(valued["customer_value"].round(2)) == {9.99, 29.99}
    assert (valued["value_at_risk"] - (valued["churn_probability"] * valued["sub_mrr"]).round(4)).abs().max() < 1e-9
    # every label is the simulator's truth: the subscription lapses on one of the 30 days after t
    pop = simulate_population(config)
    index = {u: i for i, u in enumerate(pop.user_id)}
    t = (labels["as_of_date"].dt.date - START).map(lambda d: d.days).to_numpy()
    cancel = pop.cancel_day[labels["user_id"].map(index).to_numpy()]
    assert (labels["churned"].to_numpy() == ((cancel > t) & (cancel <= t + 30))).all()
    assert 0.05 < labels["churned"].mean() < 0.5
    # the users: everyone who acted in the period, and every subscriber, acting or not
    acted = set(pd.read_parquet(folder / "events.parquet", columns=["user_id"])["user_id"])
    subscribed = set(pd.read_csv(folder / "subscriptions.csv")["user_id"])
    assert users == acted | subscribed and subscribed - acted
    # scored: exactly the current subscribers of the last day; none who has already cancelled, no free user
    assert scored == set(covered["user_id"]) and len(scored) > 100
    last = (LAST - START).days
    assert all(pop.cancel_day[index[u]] > last for u in scored)
    registry = ModelRegistry(LocalArtifactStore(data / "artifacts"))
    card = registry.card(registry.production())
    assert card.definition == "cancellation" and card.renewal_grace_days == 7
    assert {"sub_periods", "sub_days_to_period_end"} <= set(card.features)
    assert set(card.type_features) == {"session", "feature_use", "support_ticket", "payment", "payment_failed"}
    assert {"recency", "bg_nbd", "sbg", "type_activity"} <= set(card.baselines)
    windows = card.windows  # the split's gap is the horizon and the grace
    assert windows["gap_days"] >= 37
