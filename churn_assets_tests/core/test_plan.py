"""The stages `churn-assets run` plans from its settings alone, before anything runs."""

from datetime import date, timedelta

import pytest

from churn_assets.cli.plan import (
    RangeError,
    Stage,
    first_drifted_day,
    first_new_day,
    first_uncomputed,
    own_range,
    plan_run,
)
from churn_assets.core.days import row_chunks
from churn_assets.core.registry.artifacts import LocalArtifactStore
from churn_assets.core.registry.manifest import (
    MANIFEST,
    UNKNOWN,
    SourceMismatch,
    check_source,
    read_simulated_drift,
    record_simulated_drift,
    recorded_signup_days,
)
from churn_assets.settings import Settings

D = date.fromisoformat
DEMO = Settings()  # 2,000 users, 2026-01-01 ... 2026-04-30


def jobs(plan) -> list[tuple[str, str]]:
    return [(s.job, s.span.strip()) for s in plan.stages]


def test_the_demo_runs_every_stage_once_over_its_whole_range():
    plan = plan_run(DEMO, D("2026-04-30"), has_production=False)
    assert jobs(plan) == [
        ("users_job", ""),
        ("daily_data_job", "2026-01-01..2026-04-30"),
        ("labels_job", "2026-01-01..2026-03-31"),  # the days whose 30-day horizon is inside the range
        ("training_job", "2026-03-31"),
        ("promotion_job", ""),
        ("predictions_job", "2026-04-30"),
        ("drift_job", "2026-04-30"),
    ]
    assert plan.notes == []


def test_a_large_population_cuts_the_events_into_ranges_of_a_million_user_days():
    plan = plan_run(Settings(users=100_000), D("2026-04-30"), has_production=False)
    events = [s for s in plan.stages if s.job == "daily_data_job"]
    assert len(events) == 12 and (events[0].first, events[0].last) == (D("2026-01-01"), D("2026-01-10"))
    assert events[-1] == Stage("daily_data_job", "events to features", D("2026-04-21"), D("2026-04-30"))
    # a file's population, known after the users stage, re-sizes the same plan
    resized = plan.with_population(2_000)
    assert jobs(resized)[:3] == [
        ("users_job", ""),
        ("daily_data_job", "2026-01-01..2026-04-30"),
        ("labels_job", "2026-01-01..2026-03-31"),
    ]


def test_a_heavy_user_source_is_run_in_ranges_under_a_million_raw_events_whatever_its_population():
    """2,900 users whose days hold 48,000 events each (5.7 M over 120 days), one day of a sale with 1.4 M, and a
    quiet week: sized by users (the old rule) one run would hold all 5.7 M; sized by rows none holds more than
    a million events, except the sale day, alone."""
    settings = Settings(users=2_900)
    rows = {d: 48_000 for d in (D("2026-01-01") + timedelta(days=i) for i in range(120))}
    rows[D("2026-02-14")] = 1_400_000
    for i in range(7):
        rows[D("2026-03-01") + timedelta(days=i)] = 0
    by_users = [s for s in plan_run(settings, D("2026-04-30"), False).stages if s.job == "daily_data_job"]
    assert [(s.first, s.last) for s in by_users] == [(D("2026-01-01"), D("2026-04-30"))]
    plan = plan_run(settings, D("2026-04-30"), False).with_day_rows(rows)
    events = [s for s in plan.stages if s.job == "daily_data_job"]
    held = [sum(rows.get(s.first + timedelta(days=i), 0) for i in range((s.last - s.first).days + 1)) for s in events]
    assert [(s.span.strip(), n) for s, n in zip(events, held, strict=True)] == [
        ("2026-01-01..2026-01-20", 960_000),
        ("2026-01-21..2026-02-09", 960_000),
        ("2026-02-10..2026-02-13", 192_000),  # the next day would not fit
        ("2026-02-14", 1_400_000),  # over the budget alone: a run of its own
        ("2026-02-15..2026-03-13", 960_000),  # the quiet week costs nothing
        ("2026-03-14..2026-04-02", 960_000),
        ("2026-04-03..2026-04-22", 960_000),
        ("2026-04-23..2026-04-30", 384_000),
    ]
    assert jobs(plan)[0] == ("users_job", "") and jobs(plan)[len(events) + 1][0] == "labels_job"  # the rest as before
    assert row_chunks(D("2026-01-02"), D("2026-01-01"), rows, 1_000_000) == []


def test_a_short_range_labels_what_it_can_and_says_why_it_does_not_train():
    plan = plan_run(Settings(days=40), D("2026-02-09"), has_production=False)
    assert jobs(plan) == [
        ("users_job", ""),
        ("daily_data_job", "2026-01-01..2026-02-09"),
        ("labels_job", "2026-01-01..2026-01-10"),
    ]
    assert plan.notes == ["10 label days: training needs 45 (test window, gap, one training day)"]
    # with a model already in production, its last day is still scored and watched
    scored = plan_run(Settings(days=40), D("2026-02-09"), has_production=True)
    assert jobs(scored)[-2:] == [("predictions_job", "2026-02-09"), ("drift_job", "2026-02-09")]


def test_no_label_day_inside_the_horizon():
    plan = plan_run(Settings(days=20), D("2026-01-20"), has_production=False)
    assert [s.job for s in plan.stages] == ["users_job", "daily_data_job"]
    assert plan.notes == ["no label-complete day yet: labels need 30 days after a day"]


def test_the_data_stages_only_for_the_walk_forward():
    plan = plan_run(DEMO, D("2026-04-30"), has_production=True, data_only=True)
    assert [s.job for s in plan.stages] == ["users_job", "daily_data_job", "labels_job"]


def test_a_range_past_the_last_partition_is_refused_before_anything_runs():
    with pytest.raises(
        RangeError, match=r"^the range ends on 2026-04-30, after the last complete UTC day \(2026-04-20\)$"
    ):
        plan_run(DEMO, D("2026-04-20"), has_production=False)
    with pytest.raises(
        RangeError, match=r"^the range starts on 2026-12-05, after the last complete UTC day \(2026-12-01\)$"
    ):
        plan_run(Settings(start_date=D("2026-12-05")), None, has_production=False, today=D("2026-12-02"))


def test_an_events_file_without_a_range_runs_its_own_days_and_a_range_outside_them_is_refused():
    own = DEMO.__class__(events_file="orders.csv")
    settings, note = own_range(own, (D("2025-03-01"), D("2025-06-28")), explicit=False)
    assert (settings.start_date, settings.last_day, settings.days) == (D("2025-03-01"), D("2025-06-28"), 120)
    assert note == (
        "range: the events file's first to last day (2025-03-01..2025-06-28); --start and --days choose others"
    )
    # an explicit range keeps its days while it holds some of the file's, and is refused when it holds none
    kept, none = own_range(own, (D("2026-04-01"), D("2026-09-30")), explicit=True)
    assert (kept, none) == (own, None)
    with pytest.raises(RangeError) as refused:
        own_range(own, (D("2025-03-01"), D("2025-06-28")), explicit=True)
    assert str(refused.value) == (
        "the range 2026-01-01..2026-04-30 holds none of the events of orders.csv, which run from 2025-03-01 to "
        "2025-06-28: leave out --start and --days to run the file's days, or choose days inside them"
    )
    assert own_range(DEMO, None, explicit=False) == (DEMO, None)  # the simulator, or days not known: as set


def test_a_source_that_grew_is_computed_from_its_first_new_or_changed_day():
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(5)]
    rows = dict.fromkeys(days, 100)
    assert first_new_day(rows, rows, set(days)) is None
    assert first_new_day(rows | {days[3]: 90}, rows, set(days)) == days[3]  # a day that changed
    assert first_new_day(rows, dict(list(rows.items())[:4]), set(days[:4])) == days[4]  # a day that landed
    assert first_new_day(rows, rows, set(days) - {days[2]}) == days[2]  # a day the last run did not finish


def test_a_longer_simulation_starts_at_its_first_day_not_computed():
    first, last = date(2026, 1, 1), date(2026, 1, 10)
    done = {first + timedelta(days=i) for i in range(6)}
    assert first_uncomputed(first, last, done) == date(2026, 1, 7)
    assert first_uncomputed(first, last, done - {date(2026, 1, 3)}) == date(2026, 1, 3)
    assert first_uncomputed(first, date(2026, 1, 6), done) is None  # the same days again: all recomputed
    assert first_uncomputed(first, last, set()) is None  # a fresh directory: all computed
    assert first_uncomputed(first, last, done - {first}) is None


def test_a_change_of_injected_drift_recomputes_the_simulator_from_the_earlier_drift_day():
    march, april = date(2026, 3, 15), date(2026, 4, 1)
    assert first_drifted_day(None, march) == march  # drift injected into a directory without it
    assert first_drifted_day(march, None) == march  # and taken out again
    assert first_drifted_day(april, march) == march and first_drifted_day(march, april) == march
    assert first_drifted_day(march, march) is None and first_drifted_day(None, None) is None


def test_the_drift_a_directory_holds_is_known_only_after_a_complete_run(tmp_path):
    store = LocalArtifactStore(tmp_path)
    assert read_simulated_drift(store) == UNKNOWN  # no record: a directory of an earlier release, or a fresh one
    record_simulated_drift(store, date(2026, 3, 15), complete=False)
    assert read_simulated_drift(store) == UNKNOWN  # a run that changes it started and did not complete
    record_simulated_drift(store, date(2026, 3, 15), complete=True)
    assert read_simulated_drift(store) == date(2026, 3, 15)
    record_simulated_drift(store, None, complete=True)
    assert read_simulated_drift(store) is None
    (tmp_path / "simulated_drift.json").write_text("{")
    assert read_simulated_drift(store) == UNKNOWN


def test_the_source_identity_leaves_out_the_simulators_days_and_reads_an_older_record(tmp_path):
    store = LocalArtifactStore(tmp_path)
    check_source(store, Settings(days=90, data_dir=tmp_path))
    assert recorded_signup_days(store) == 90
    check_source(store, Settings(days=160, sim_signup_days=90, data_dir=tmp_path))  # the same users, longer
    with pytest.raises(SourceMismatch, match=r"\(CHURN_SIM_SIGNUP_DAYS=90 there, 160 now\)"):
        check_source(store, Settings(days=160, data_dir=tmp_path))  # a population signing up over 160 days
    # a record of the release before: its days were the span the users signed up over
    (tmp_path / MANIFEST).write_text(
        '{"CHURN_DAYS": "120", "CHURN_SEED": "7", "CHURN_START_DATE": "2026-01-01", "CHURN_USERS": "2000"}'
    )
    assert recorded_signup_days(store) == 120
    check_source(store, Settings(days=150, sim_signup_days=120, data_dir=tmp_path))
    (tmp_path / MANIFEST).write_text("[]")
    with pytest.raises(SourceMismatch, match="source.json is corrupt; restore it or remove it"):
        check_source(store, Settings(data_dir=tmp_path))
