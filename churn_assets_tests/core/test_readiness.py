"""What the automation runs next, from the days the warehouse holds: gaps, quiet days, the end of the data."""

from datetime import date

from churn_assets.core.days import day_range
from churn_assets.core.monitoring.readiness import next_label_range, next_refresh_day

D = date.fromisoformat
FIRST, LAST = D("2026-01-01"), D("2026-03-31")


def arrived(day: date) -> str | None:
    return None


def test_a_gap_in_the_history_is_filled_before_later_days():
    done = set(day_range(FIRST, D("2026-02-01"))) | set(day_range(D("2026-02-05"), D("2026-02-20")))
    plan = next_refresh_day(FIRST, LAST, done, arrived)
    assert (plan.first, plan.last, plan.reason) == (
        D("2026-02-02"),
        D("2026-02-02"),
        "the events of 2026-02-02 have arrived",
    )


def test_a_day_whose_events_have_not_arrived_is_named_and_waited_for():
    done = set(day_range(FIRST, D("2026-03-09")))
    plan = next_refresh_day(FIRST, LAST, done, lambda day: f"no export for {day} yet")
    assert plan.first is None
    assert plan.reason == "waiting for the events of 2026-03-10: no export for 2026-03-10 yet"


def test_nothing_beyond_the_last_partition():
    plan = next_refresh_day(FIRST, LAST, set(day_range(FIRST, LAST)), arrived)
    assert (plan.first, plan.reason) == (None, "every day up to 2026-03-31 (the last partition) is refreshed")


def test_label_days_need_their_own_features_and_the_state_at_the_horizons_end():
    features = set(day_range(FIRST, D("2026-03-20"))) - {D("2026-02-03")}  # a day whose features failed
    states = set(day_range(FIRST, D("2026-03-20")))
    plan = next_label_range(
        FIRST, LAST, horizon_days=30, features=features, states=states, labels=set(day_range(FIRST, D("2026-01-31")))
    )
    # 2026-02-01 and 02-02 are ready; 02-03 has no features, so the run stops before it
    assert (plan.first, plan.last) == (D("2026-02-01"), D("2026-02-02"))
    later = next_label_range(
        FIRST, LAST, horizon_days=30, features=features, states=states, labels=set(day_range(FIRST, D("2026-02-02")))
    )
    # 02-03 can never be labelled until its features exist; the next ready run starts after it
    assert (later.first, later.last) == (D("2026-02-04"), D("2026-02-18"))


def test_every_label_day_done():
    days = set(day_range(FIRST, LAST))
    plan = next_label_range(FIRST, LAST, horizon_days=30, features=days, states=days, labels=days)
    assert (plan.first, plan.reason) == (None, "every label day up to 2026-03-31 is labelled")
