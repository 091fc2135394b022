"""A seeded, deterministic simulator of a subscription product's users and their activity.

The story each simulated user lives through:

1. A quarter of them are an existing base who signed up in the 90 days before the period; the
   rest sign up on days spread evenly over the period (not one cohort).
2. They are *healthy*: sessions arrive as a Poisson process at a personal rate, each session
   lasts some minutes and uses some features; paid plans are billed every 30 days.
3. On a day drawn with a personal daily hazard (geometric, so memoryless) they enter an
   *at-risk* phase that lasts 14-42 days. Over it their session rate and session length fall,
   payments fail more often and support tickets become likelier.
4. At the end of the at-risk phase they churn: no activity ever again.
5. Paying users (basic, pro) have monthly subscription periods from signup. Most cancel at a renewal some way
   into their decline, while still active; some cancel abruptly, at a renewal no behaviour foretells. Billing
   stops with the subscription; use of the product goes on until the user churns as above
   (``simulate_subscriptions``).

Churn is therefore predictable from behaviour, as in real products, but never certain.

The ``purchase`` profile (``CHURN_PROFILE=purchase``) tells the same story as a shop's purchase log: no
sessions, tickets or billing, only ``purchase`` events with a value, arriving at a small share of the
user's activity rate (weeks between purchases), rarer over the at-risk phase, none after churn.

Determinism: the population depends only on (seed, users, start_date, signup_days), not on the
days simulated; one day's events depend only on that and the day. Re-simulating a day gives
identical rows, simulating one day costs the same whatever the history length, and a run over
more days (``--days 160`` after 120) extends the same story: its first 120 days are the same.

The latent variables (rates, hazard, onset, churn day) stay in :class:`Population`. Only
``simulate_users`` (the public user attributes) and ``simulate_events`` reach the tables;
:func:`true_churn_probability` exposes the simulator's own probability as an oracle for tests
and for reporting model quality honestly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from churn_assets.core.simulation.population import (
    BILLING_PERIOD_DAYS,
    DECLINE_DAYS,
    DRIFT,
    PLAN_PRICE,
    PURCHASE_SHARE,
    WEEKEND_FACTOR,
    Population,
    SimulationConfig,
    simulate_population,
)

PURCHASE_AMOUNT_LOG_MEAN = float(np.log(35.0))
_DAY_STREAM = 0xDA7


def simulate_users(config: SimulationConfig) -> pd.DataFrame:
    """The public user table: what a product database would hold by the last day simulated, no latent variable."""
    pop = simulate_population(config)
    known = pop.signup_day < config.days  # who signed up by the last day (a shorter run than signup_days)
    start = _day_start(config.start_date)
    seconds = pop.signup_day[known] * 86_400 + pop.signup_seconds[known]
    return pd.DataFrame(
        {
            "user_id": pop.user_id[known],
            "signup_time": pd.to_datetime(start) + pd.to_timedelta(seconds, unit="s"),
            "plan": pop.plan[known],
            "country": pop.country[known],
            "channel": pop.channel[known],
        }
    )


def simulate_subscriptions(config: SimulationConfig) -> pd.DataFrame:
    """The paying users' subscription periods, one row per 30-day billing period (start, paid-through end, plan,
    MRR) that starts by the end of the period simulated; none for the purchase profile."""
    columns = ["user_id", "start_time", "end_time", "plan", "mrr"]
    if config.profile != "subscription":
        return pd.DataFrame({c: [] for c in columns})
    pop = simulate_population(config)
    paying = np.flatnonzero(pop.plan != "free")
    last = config.days - 1
    periods = np.minimum(pop.cancel_day[paying], last + 1) - pop.signup_day[paying] + BILLING_PERIOD_DAYS - 1
    periods = np.maximum(periods // BILLING_PERIOD_DAYS, 0)
    users = np.repeat(paying, periods)
    k = np.concatenate([np.arange(p) for p in periods]) if len(periods) else np.array([], dtype=int)
    start_seconds = (pop.signup_day[users] + k * BILLING_PERIOD_DAYS) * 86_400 + pop.signup_seconds[users]
    start = pd.Timestamp(_day_start(config.start_date)) + pd.to_timedelta(start_seconds, unit="s")
    return pd.DataFrame(
        {
            "user_id": pop.user_id[users],
            "start_time": start,
            "end_time": start + pd.Timedelta(days=BILLING_PERIOD_DAYS),
            "plan": pop.plan[users],
            "mrr": pd.Series(pop.plan[users]).map(PLAN_PRICE).to_numpy(dtype=float),
        }
    )[columns]


def _decline_progress(pop: Population, day_index: int | np.ndarray) -> np.ndarray:
    """How far each user is through the at-risk phase on a day: 0 healthy, 1 at its end."""
    elapsed = np.asarray(day_index) - pop.onset_day
    return np.clip(elapsed / pop.decline_days, 0.0, 1.0) * (elapsed >= 0)


def _session_rate(pop: Population, progress: np.ndarray, weekday: int | np.ndarray) -> np.ndarray:
    weekly = np.where(np.asarray(weekday) >= 5, WEEKEND_FACTOR, 1.0)
    return pop.session_rate * (1.0 - 0.85 * progress) * weekly


def _ticket_rate(progress: np.ndarray) -> np.ndarray:
    return 0.01 + 0.08 * progress


def simulate_events(config: SimulationConfig, day: date) -> pd.DataFrame:
    """All events of one UTC day, identical on every call with the same config and day."""
    pop = simulate_population(config)
    d = (day - config.start_date).days
    rng = np.random.default_rng([config.seed, _DAY_STREAM, day.toordinal()])
    alive = np.flatnonzero((pop.signup_day <= d) & (d < pop.churn_day))
    progress_all = _decline_progress(pop, d)
    progress = progress_all[alive]

    if config.profile == "purchase":
        return _purchases(config, pop, day, rng, alive, progress_all)
    drift = DRIFT if config.drift_from is not None and day >= config.drift_from else {}
    sessions = rng.poisson(_session_rate(pop, progress_all, day.weekday())[alive] * drift.get("sessions", 1.0))
    feature_uses = rng.poisson(sessions * pop.usage[alive] * (1.0 - 0.6 * progress) * drift.get("feature_uses", 1.0))
    tickets = rng.poisson(_ticket_rate(progress) * drift.get("tickets", 1.0))
    paying = pop.plan[alive] != "free"
    since_signup = d - pop.signup_day[alive]
    billing_day = paying & (since_signup > 0) & (since_signup % BILLING_PERIOD_DAYS == 0) & (d < pop.cancel_day[alive])
    failed = billing_day & (rng.random(len(alive)) < 0.03 + 0.5 * progress)

    session_users = np.repeat(alive, sessions)
    minutes_mean = pop.minutes_mean[alive] * (1.0 - 0.5 * progress) * drift.get("minutes", 1.0)
    session_minutes = rng.gamma(2.0, np.repeat(minutes_mean, sessions) / 2.0)
    bill_users = alive[billing_day]
    amounts = pd.Series(pop.plan[bill_users]).map(PLAN_PRICE).to_numpy(dtype=float)

    parts = [
        (session_users, "session", session_minutes.round(2), 0.0),
        (np.repeat(alive, feature_uses), "feature_use", 0.0, 0.0),
        (np.repeat(alive, tickets), "support_ticket", 0.0, 0.0),
        (bill_users[~failed[billing_day]], "payment", 0.0, amounts[~failed[billing_day]]),
        (bill_users[failed[billing_day]], "payment_failed", 0.0, amounts[failed[billing_day]]),
    ]
    return _events_frame(pop, day, rng, parts)


def _purchases(
    config: SimulationConfig, pop: Population, day: date, rng: np.random.Generator, alive, progress_all
) -> pd.DataFrame:
    """The purchase profile's day: a user's purchases arrive at a small share of their activity rate (weeks
    between purchases), each with a value; nothing else happens."""
    purchases = rng.poisson(_session_rate(pop, progress_all, day.weekday())[alive] * PURCHASE_SHARE)
    buyers = np.repeat(alive, purchases)
    amount = rng.lognormal(PURCHASE_AMOUNT_LOG_MEAN, 0.6, size=len(buyers)).round(2)
    return _events_frame(pop, day, rng, [(buyers, "purchase", 0.0, amount)])


def _events_frame(pop: Population, day: date, rng: np.random.Generator, parts: list[tuple]) -> pd.DataFrame:
    """Events from (users, type, minutes, amount) parts, at random times after each user's signup."""
    d = (day - pop.config.start_date).days
    users = np.concatenate([p[0] for p in parts])
    event_type = np.concatenate([np.full(len(p[0]), p[1], dtype=object) for p in parts])
    minutes = np.concatenate([np.broadcast_to(p[2], len(p[0])) for p in parts]).astype(float)
    amount = np.concatenate([np.broadcast_to(p[3], len(p[0])) for p in parts]).astype(float)
    # Nobody acts before signing up: on the signup day, events fall between signup and midnight.
    earliest = np.where(pop.signup_day[users] == d, pop.signup_seconds[users], 0)
    seconds = earliest + rng.random(len(users)) * (86_400 - earliest)
    order = np.argsort(seconds, kind="stable")

    stamp = day.strftime("%Y%m%d")
    return pd.DataFrame(
        {
            "event_id": _event_ids(stamp, len(users)),
            "user_id": pop.user_id[users[order]],
            # rounded to the millisecond, but never up to the next midnight
            "event_time": pd.Timestamp(_day_start(day))
            + pd.to_timedelta(np.minimum(seconds[order].round(3), 86_399.999), unit="s"),
            "event_type": event_type[order],
            "minutes": minutes[order],
            "amount": amount[order],
        }
    )


def _event_ids(stamp: str, n: int) -> np.ndarray:
    if n == 0:  # a quiet day: numpy's zfill cannot size an empty array
        return np.array([], dtype=object)
    return np.char.add(f"ev-{stamp}-", np.char.zfill(np.arange(n).astype(str), 7)).astype(object)


def true_churn_probability(
    config: SimulationConfig, as_of: date, horizon_days: int = 30, draws: int = 256
) -> pd.DataFrame:
    """The simulator's own probability that a user has no activity in as_of+1 ... as_of+horizon.

    It conditions on the full latent state at the end of ``as_of`` (rates, whether and since
    when the user is at risk, whether they are already gone) and averages over what is still
    random: when a healthy user becomes at risk, how long an at-risk phase lasts, and the
    Poisson chance of a silent day. No model seeing only behaviour can do better on average.
    Returns user_id and churn_probability for every user signed up by ``as_of``.
    """
    pop = simulate_population(config)
    t = (as_of - config.start_date).days
    known = np.flatnonzero(pop.signup_day <= t)
    rng = np.random.default_rng([config.seed, 0x0AC1E, as_of.toordinal()])
    prob = np.ones(len(known))
    gone = pop.churn_day[known] <= t
    live = known[~gone]

    at_risk = pop.onset_day[live] <= t
    elapsed = t - pop.onset_day[live]
    low = np.where(at_risk, np.maximum(DECLINE_DAYS[0], elapsed + 1), DECLINE_DAYS[0])
    future_days = np.arange(t + 1, t + horizon_days + 1)
    weekdays = np.array([(config.start_date + timedelta(days=int(x))).weekday() for x in future_days])

    silent = np.zeros(len(live))
    for _ in range(draws):
        onset = np.where(at_risk, pop.onset_day[live], t + rng.geometric(pop.hazard[live]))
        length = rng.integers(low, DECLINE_DAYS[1] + 1)
        churn = onset + length
        elapsed_f = future_days[None, :] - onset[:, None]
        progress = np.clip(elapsed_f / length[:, None], 0, 1) * (elapsed_f >= 0)
        weekly = np.where(weekdays >= 5, WEEKEND_FACTOR, 1.0)[None, :]
        rate = pop.session_rate[live, None] * (1 - 0.85 * progress) * weekly
        rate = rate * PURCHASE_SHARE if config.profile == "purchase" else rate + _ticket_rate(progress)
        rate = np.where(future_days[None, :] < churn[:, None], rate, 0.0)
        silent += np.exp(-rate.sum(axis=1))
    prob[~gone] = silent / draws
    return pd.DataFrame({"user_id": pop.user_id[known], "churn_probability": prob})


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def as_shop_export(events: pd.DataFrame) -> pd.DataFrame:
    """Purchase-profile events as a shop exports its orders: text columns, its own type name ``order``, a
    ``quantity`` the pipeline does not use, no event id (tests and benchmarks of real-log handling)."""
    return pd.DataFrame(
        {
            "user_id": events["user_id"],
            "event_time": events["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "event_type": "order",
            "amount": events["amount"].map("{:.2f}".format),
            "quantity": 1,
        }
    )
