"""Which features exist, given the feature windows: the names every stage agrees on.

The formulas themselves are SQL (``core/warehouse/features.py``) and run inside the warehouse. With windows
``w1 < ... < wn`` (``CHURN_FEATURE_WINDOWS``, default 7,14,30), short = w1 and long = wn:

* per window w: ``active_days_w``, ``events_w``, ``minutes_w`` (days t-w+1 ... t)
* over the long window: one count per event type, ``amount_long``; over the short one, ``sessions_short``
* trends, the short window against the short window before it: ``events_trend_s``, ``minutes_trend_s``,
  ``active_days_trend_s``
* lifetime, from ``user_state`` (not capped by any window): ``tenure_days`` (from signup),
  ``days_since_first_activity``, ``days_since_last_activity``, ``lifetime_active_days``,
  ``lifetime_events``, ``lifetime_amount``, ``mean_active_gap_days``
* ``engagement_score`` (0-100)::

      100 * (0.5 * active_days_s / s + 0.3 * active_days_l / l + 0.2 * min(1, minutes_s / (30 * s)))

* rates of the customer's life (RFM), stable as the calendar moves: ``last_active_gap_days`` (between the last
  two active days), ``active_gap_trend`` (last gap / mean gap: above 1, slowing down), ``recency_in_gaps``
  (days since the last active day / mean gap: how many usual gaps overdue), ``active_day_rate`` (active days /
  days since the first one, inclusive), ``amount_per_active_day``

``mean_active_gap_days`` is (last active day - first active day) / (active days - 1); with a single
active day the gap is not known yet and it is the days since that day (a lower bound); so is the last gap.

With ``CHURN_DEFINITION=cancellation`` the rows are the subscribers covered at the end of t, and the features
add the subscription's state as of t (``subscription_state``, ``core/warehouse/subscriptions.py``):
``sub_tenure_days`` (since the current streak of periods began), ``sub_periods`` (periods in the streak),
``sub_periods_paid`` (every period so far), ``sub_mrr``, ``sub_mrr_change`` (against the period before:
an upgrade is positive, a downgrade negative), ``sub_days_to_period_end``, ``sub_period_days`` (the billing
period's length) and ``sub_past_lapses``. A subscriber without any activity counts from the first period's
start (never active: every active-day figure is 0 and recency is the days since joining).
"""

from __future__ import annotations

from dataclasses import dataclass

from churn_assets.core.intake.schema import DAILY_COUNT_COLUMNS

CATEGORICAL_FEATURES = ("plan", "channel")
ENGAGED_MINUTES_PER_DAY = 30.0
LIFETIME_FEATURES = (
    "tenure_days",
    "days_since_first_activity",
    "days_since_last_activity",
    "lifetime_active_days",
    "lifetime_events",
    "lifetime_amount",
    "mean_active_gap_days",
    "last_active_gap_days",
    "active_gap_trend",
    "recency_in_gaps",
    "active_day_rate",
    "amount_per_active_day",
)
SUBSCRIPTION_FEATURES = (
    "sub_tenure_days",
    "sub_periods",
    "sub_periods_paid",
    "sub_mrr",
    "sub_mrr_change",
    "sub_days_to_period_end",
    "sub_period_days",
    "sub_past_lapses",
)
INACTIVITY, CANCELLATION = "inactivity", "cancellation"
# features that grow with the calendar for every user, whatever the behaviour (see the drift report)
GROWS_WITH_AGE = (
    "tenure_days",
    "days_since_first_activity",
    "lifetime_active_days",
    "lifetime_events",
    "lifetime_amount",
    "sub_tenure_days",
    "sub_periods_paid",
)
# model inputs that are fractional; every other numeric feature is a whole number
FLOAT_PREFIXES = (
    "minutes",
    "amount",
    "lifetime_amount",
    "mean_active_gap",
    "active_gap_trend",
    "recency_in_gaps",
    "active_day_rate",
    "engagement",
    "sub_mrr",
)


class FeatureSpecError(ValueError):
    """Feature windows or eligibility that cannot work."""


@dataclass(frozen=True)
class FeatureSpec:
    windows: tuple[int, ...] = (7, 14, 30)
    eligibility_days: int = 30
    definition: str = INACTIVITY  # which users a row is for: the recently active, or the covered subscribers

    def __post_init__(self) -> None:
        if not self.windows or list(self.windows) != sorted(set(self.windows)) or self.windows[0] < 1:
            raise FeatureSpecError(f"feature windows must be distinct positive days, rising, got {self.windows}")
        if self.definition not in (INACTIVITY, CANCELLATION):
            raise FeatureSpecError(f"unknown churn definition {self.definition!r}")
        if self.eligibility_days < 1:
            raise FeatureSpecError(f"the eligibility window must be at least 1 day, got {self.eligibility_days}")

    @property
    def cancellation(self) -> bool:
        return self.definition == CANCELLATION

    @property
    def short(self) -> int:
        return self.windows[0]

    @property
    def long(self) -> int:
        return self.windows[-1]

    @property
    def lookback_days(self) -> int:
        """Days of user_daily one feature row reads: the long window, or twice the short one for trends."""
        return max(self.long, 2 * self.short)

    @property
    def type_counts(self) -> tuple[str, ...]:
        """Per-event-type counts over the long window (sessions over the short one too)."""
        return tuple(f"{c}_{self.long}" for c in DAILY_COUNT_COLUMNS.values() if c != "payments")

    @property
    def numeric(self) -> tuple[str, ...]:
        s = self.short
        per_window = [f"{kind}_{w}" for w in self.windows for kind in ("active_days", "events", "minutes")]
        trends = [f"events_trend_{s}", f"minutes_trend_{s}", f"active_days_trend_{s}"]
        return (
            *per_window,
            f"sessions_{s}",
            *self.type_counts,
            f"amount_{self.long}",
            *trends,
            *LIFETIME_FEATURES,
            "engagement_score",
            *(SUBSCRIPTION_FEATURES if self.cancellation else ()),
        )

    @property
    def model_features(self) -> tuple[str, ...]:
        return (*self.numeric, *CATEGORICAL_FEATURES)

    @property
    def columns(self) -> tuple[str, ...]:
        return ("user_id", "as_of_date", *CATEGORICAL_FEATURES, *self.numeric)


# The bounds of a feature value, one definition for the warehouse's feature check (``queries.feature_summary_select``)
# and for rows posted to the HTTP API (``core/serving/snapshot.check_rows``): trends are differences and may be
# negative, every other feature is a count, sum, rate or age; no figure a real log produces comes near 1e15 (events
# are bounded by ``intake/rules.VALUE_BOUNDS``), while 1e308 or a 400-digit integer is a unit or encoding error.
MAX_FEATURE_VALUE = 1e15
MAX_CATEGORY_LENGTH = 200


def may_be_negative(name: str) -> bool:
    """Whether feature ``name`` may hold a negative value (a trend, a difference of two windows or periods)."""
    return "_trend_" in name or name.endswith("_change")


def is_float_feature(name: str) -> bool:
    """Whether a feature column holds floats (else integers), by its name."""
    return name.startswith(FLOAT_PREFIXES)


def parse_windows(text: str) -> tuple[int, ...]:
    """``"7,30,90"`` -> (7, 30, 90); sorted, duplicates refused."""
    try:
        days = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise FeatureSpecError(f"feature windows must be whole days separated by commas, got {text!r}") from None
    if len(set(days)) != len(days):
        raise FeatureSpecError(f"feature windows repeat a day: {text!r}")
    return tuple(sorted(days))


DEFAULT_SPEC = FeatureSpec()
