"""The simulated users and their latent variables: who signs up when, on which plan, how active, and when each
enters the at-risk phase and churns (the story is told in ``core/simulation/simulate.py``). Depends only on
(seed, users, start_date, signup_days) and the retention settings, not on how many days are simulated: the same
config gives the same population, and a longer run extends the same users' lives."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from churn_assets.core.control import in_control

PLANS = ("free", "basic", "pro")
PLAN_SHARE = (0.5, 0.35, 0.15)
PLAN_PRICE = {"free": 0.0, "basic": 9.99, "pro": 29.99}
PLAN_HAZARD = {"free": 1.6, "basic": 1.0, "pro": 0.6}
CHANNELS = ("organic", "paid_search", "social", "referral")
CHANNEL_SHARE = (0.4, 0.25, 0.2, 0.15)
CHANNEL_HAZARD = {"organic": 0.8, "paid_search": 1.3, "social": 1.4, "referral": 0.7}
COUNTRIES = ("US", "GB", "DE", "IN", "BR")
COUNTRY_SHARE = (0.4, 0.15, 0.15, 0.15, 0.15)

PROFILES = ("subscription", "purchase")
PURCHASE_SHARE = 0.06  # purchases per healthy session: a median user buys about every 3-4 weeks
BASE_HAZARD = 0.006  # per day: mean time to the at-risk phase of roughly 150 days
DECLINE_DAYS = (14, 42)  # inclusive range of the at-risk phase's length
WEEKEND_FACTOR = 0.75
EXISTING_SHARE = 0.25
EXISTING_SIGNUP_DAYS = 90

_POPULATION_STREAM = 0x5EED
_SUBSCRIPTION_STREAM = 0x5AB5
_RETENTION_STREAM = 0x4E7A
BILLING_PERIOD_DAYS = 30
ABRUPT_HAZARD = 0.001  # per day: a paying user cancels for reasons their use does not show (a budget, a move)
NEVER = 10**9  # the cancel day of a user who never subscribes


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; no field has a default here: the defaults are the settings' (``Settings.simulation``)."""

    users: int
    start_date: date
    days: int
    seed: int
    drift_from: date | None  # from this day on, usage shifts (see DRIFT); None: no drift
    profile: str  # "subscription", or "purchase": sparse purchases with a value, nothing else (see PROFILES)
    control_share: float  # the control group's share (core/control.py): users the retention effect never reaches
    retention_effect: float  # the chance that retention work keeps a targeted user healthy (see _retained); 0: none
    signup_days: int  # new users sign up evenly over this many days from start_date, however many days are run


# An injected change of behaviour, e.g. a product change that makes sessions rarer and shorter while
# feature use per session rises. Nothing about churn changes: only the inputs the model sees move.
DRIFT = {"sessions": 0.55, "minutes": 0.6, "feature_uses": 1.8, "tickets": 2.0}


@dataclass(frozen=True)
class Population:
    """The simulated users with their latent variables; arrays are aligned by user index."""

    config: SimulationConfig
    user_id: np.ndarray
    signup_day: np.ndarray  # day index (0 = start_date) of signup
    signup_seconds: np.ndarray  # seconds into the signup day
    plan: np.ndarray
    country: np.ndarray
    channel: np.ndarray
    session_rate: np.ndarray  # healthy sessions per day
    minutes_mean: np.ndarray  # healthy mean minutes per session
    usage: np.ndarray  # feature uses per session
    hazard: np.ndarray  # daily probability of entering the at-risk phase
    onset_day: np.ndarray  # day index on which the at-risk phase starts
    decline_days: np.ndarray  # length of the at-risk phase
    churn_day: np.ndarray  # first day index with no activity, forever
    cancel_day: np.ndarray  # paid plans: the renewal day (signup + 30k) on which the subscription is not renewed
    decided_day: np.ndarray  # paid plans: the day the user decides to cancel (the subscription runs out after it)


PUBLIC_FIELDS = ("user_id", "plan", "country", "channel")  # what raw_users may show (with signup_time)


def latent_fields() -> set[str]:
    """Names of the simulator's latent variables: none of them may reach a table or a model."""
    return {f.name for f in fields(Population)} - set(PUBLIC_FIELDS) - {"config"}


@lru_cache(maxsize=8)
def simulate_population(config: SimulationConfig) -> Population:
    """The simulated users of ``config`` with their latent story (seeded: the same config, the same people)."""
    rng = np.random.default_rng([config.seed, _POPULATION_STREAM])
    n = config.users
    plan = rng.choice(np.array(PLANS), size=n, p=PLAN_SHARE)
    channel = rng.choice(np.array(CHANNELS), size=n, p=CHANNEL_SHARE)
    country = rng.choice(np.array(COUNTRIES), size=n, p=COUNTRY_SHARE)
    # A quarter of the users are an existing base that signed up in the 90 days before the
    # period (some have already left by its start); the rest sign up evenly over its first signup_days.
    existing = rng.random(n) < EXISTING_SHARE
    signup_day = np.where(
        existing, rng.integers(-EXISTING_SIGNUP_DAYS, 0, size=n), rng.integers(0, config.signup_days, size=n)
    )
    hazard = (
        BASE_HAZARD
        * pd.Series(plan).map(PLAN_HAZARD).to_numpy()
        * pd.Series(channel).map(CHANNEL_HAZARD).to_numpy()
        * rng.lognormal(0.0, 0.5, size=n)
    ).clip(1e-5, 0.5)
    user_id = np.array([f"u{i:07d}" for i in range(n)], dtype=object)
    onset_day = signup_day + rng.geometric(hazard)
    decline_days = rng.integers(DECLINE_DAYS[0], DECLINE_DAYS[1] + 1, size=n)
    onset_day = _retained(config, user_id, onset_day, decline_days, hazard)
    decided_day, cancel_day = _cancel_days(config, plan, signup_day, onset_day, decline_days)
    return Population(
        config=config,
        user_id=user_id,
        signup_day=signup_day,
        signup_seconds=rng.integers(0, 86_400, size=n),
        plan=plan,
        country=country,
        channel=channel,
        session_rate=rng.lognormal(np.log(0.7), 0.6, size=n),
        minutes_mean=rng.lognormal(np.log(18.0), 0.4, size=n),
        usage=rng.lognormal(np.log(1.5), 0.3, size=n),
        hazard=hazard,
        onset_day=onset_day,
        decline_days=decline_days,
        churn_day=onset_day + decline_days,
        cancel_day=cancel_day,
        decided_day=decided_day,
    )


def _retained(
    config: SimulationConfig, user_id: np.ndarray, onset_day: np.ndarray, decline_days: np.ndarray, hazard: np.ndarray
) -> np.ndarray:
    """The churn that retention work prevents: a user is reached on their last active day (the day the model,
    whose label is a silent horizon, should flag them), and one outside the control group of that month
    (``core/control.py``, the pipeline's own rule) is won back with probability ``retention_effect``: their at-risk
    phase never happens, and a fresh memoryless spell of health follows. Every targeted user counts as reached;
    the control group never is. A stream of its own: without an effect the population is the same as before."""
    if config.retention_effect <= 0:
        return onset_day
    rng = np.random.default_rng([config.seed, _RETENTION_STREAM])
    reached = pd.Timestamp(config.start_date) + pd.to_timedelta(onset_day + decline_days - 1, unit="D")
    targeted = ~in_control(user_id, reached, config.control_share)
    kept = targeted & (rng.random(len(onset_day)) < config.retention_effect)
    return np.where(kept, onset_day + rng.geometric(hazard), onset_day)


def _cancel_days(config: SimulationConfig, plan, signup_day, onset_day, decline_days) -> tuple[np.ndarray, ...]:
    """When each paying user decides to cancel, and the renewal on which the subscription then lapses (the end of
    the period they paid for). Most decide 50-90% of the way through their decline (after weeks of falling use and
    failing payments, while still active); some earlier, abruptly, for reasons no behaviour foretells. Free users
    never subscribe. A stream of its own: the activity story is the same with or without subscriptions."""
    rng = np.random.default_rng([config.seed, _SUBSCRIPTION_STREAM])
    n = len(plan)
    gradual = onset_day + rng.uniform(0.5, 0.9, size=n) * decline_days
    abrupt = signup_day + rng.geometric(ABRUPT_HAZARD, size=n)
    decided = np.minimum(gradual, abrupt)
    renewals = np.maximum(1, np.ceil((decided - signup_day) / BILLING_PERIOD_DAYS))
    free = plan == "free"
    cancel = np.where(free, NEVER, signup_day + renewals * BILLING_PERIOD_DAYS).astype(np.int64)
    return np.where(free, NEVER, np.floor(decided)).astype(np.int64), cancel
