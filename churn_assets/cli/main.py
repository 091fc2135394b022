"""The ``churn-assets`` command: materialize the graph through Dagster, or open the Dagster UI."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

from churn_assets.cli.commands import (
    apply_options,
    artifacts_of,
    dev,
    model_command,
    serve_command,
    with_recorded_span,
)
from churn_assets.cli.evaluation import evaluate_command
from churn_assets.cli.growth import only_what_is_new, remember_completed, remember_started
from churn_assets.cli.plan import RangeError, Stage, own_range, plan_run
from churn_assets.cli.recovery import mark_dead_runs_failed, user_error
from churn_assets.cli.stages import (
    RunNotes,
    peak_rss_mb,
    print_findings,
    release_memory,
    reset_peak_rss,
    run_stage,
)
from churn_assets.core.intake.findings import CheckFinding
from churn_assets.core.intake.schema import SourceFileError
from churn_assets.core.intake.sources import day_span, source_day_rows
from churn_assets.core.registry.manifest import SourceMismatch, check_source
from churn_assets.settings import ENV_VARS, Settings, SettingsError

DEFAULTS = Settings()  # the help quotes the settings' own defaults
DATA_DIR_HELP = f"data directory (CHURN_DATA_DIR, default ./{DEFAULTS.data_dir})"
# A single-run backfill records one "materialization planned" event per asset for the whole range instead of one
# per partition (Dagster's own switch; Postgres storage does it by default). On the SQLite instance that saves about
# 570 event-log writes in the demo. Dagster's trade-off: if such a run fails, its partitions are not marked failed
# (the run itself is, and `churn-assets run` stops and names the failed step).
RANGE_PLANNED_EVENTS = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}


def run(args: argparse.Namespace) -> int:
    """The whole graph for the range; with ``args.data_only`` (``evaluate``), only the stages up to the labels."""
    settings = with_recorded_span(apply_options(args))
    data_only = getattr(args, "data_only", False)
    explicit = any(os.environ.get(ENV_VARS[name]) for name in ("start_date", "days"))
    started = time.perf_counter()
    try:
        settings, range_note, day_rows = _own_range(settings, data_only)
    except (RangeError, SourceFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # a single file is read once here (its days found, its rows counted) and kept for the runs: part of the work
    read_note = f"events file read in {time.perf_counter() - started:.1f}s" if settings.events_file else None
    os.environ.update(RANGE_PLANNED_EVENTS)
    import dagster as dg

    from churn_assets.definitions import build_definitions
    from churn_assets.defs.partitions import DailyGraph

    defs = build_definitions(settings)
    last_partition = DailyGraph.from_settings(settings).last_partition()  # the source's last day, or yesterday (UTC)
    artifacts = artifacts_of(settings)
    try:
        plan = plan_run(settings, last_partition, bool(artifacts.registry().production()), data_only)
        plan = plan.with_day_rows(day_rows) if day_rows else plan  # runs sized by the file's rows, not its users
    except RangeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    check_source(artifacts.store(), settings)
    grows = bool(day_rows) and not (explicit or data_only)  # a file source run over its own days: only what is new
    plan = only_what_is_new(plan, settings, day_rows, artifacts.store(), grows=grows, data_only=data_only)
    remember_started(settings, artifacts.store())
    with dg.DagsterInstance.get() as instance:  # closed at the end: its storage's open databases with it
        for line in mark_dead_runs_failed(instance):
            print(f"  {line}")
        print(f"churn-assets run: {plan.first}..{plan.last} ({settings.days} days) into {settings.data_dir}")
        print(f"  Dagster instance: {os.environ['DAGSTER_HOME']}")
        for note in [n for n in (read_note, range_note) if n] + plan.notes:
            print(f"  {note}")
        code = _run_stages(plan, settings, defs, instance, artifacts, sized=bool(day_rows))
    if code == 0:  # what the next run compares the source with
        remember_completed(plan, settings, day_rows, artifacts.store(), grows=grows)
    return code


def _run_stages(plan, settings: Settings, defs, instance, artifacts, sized: bool) -> int:
    """The plan's stages one after the other, each a Dagster run; what they wrote, summed up at the end."""
    from churn_assets.cli.summary import RunSummary
    from churn_assets.core.modeling.promotion import Judgement
    from churn_assets.wiring.metadata import ROW_COUNT

    stages = plan.stages
    outputs: dict[str, dict] = {}
    findings: list[CheckFinding] = []
    notes = RunNotes()
    started = time.perf_counter()
    i = 0
    while i < len(stages):
        stage = stages[i]
        i += 1
        print(f"[{i}/{len(stages)}] {stage.what}{stage.span} ...", flush=True)
        release_memory()
        reset_peak_rss()
        lo, hi = (d and d.isoformat() for d in (stage.first, stage.last))
        ok, metadata, found, seconds = run_stage(defs, instance, stage.job, lo, hi)
        findings += found
        notes.add(metadata)
        for name, values in metadata.items():  # an asset in several runs (the events ranges): rows add up
            rows = outputs.get(name, {}).get(ROW_COUNT, 0)
            outputs[name] = values | ({ROW_COUNT: values[ROW_COUNT] + rows} if ROW_COUNT in values else {})
        peak = peak_rss_mb()
        print(f"    {'done' if ok else 'FAILED'} in {seconds:.1f}s" + (f", peak RSS {peak:,.0f} MB" if peak else ""))
        if not ok:
            print_findings(findings, notes, settings)
            return 1
        if stage.job == "labels_job":  # scored days of earlier runs whose horizon has closed now: judge them
            stages[i:i] = outcome_stages(settings, plan.first, plan.last)
        if stage.job == "users_job" and not settings.simulated and not sized:
            # a source's population is known now: size the events runs by it, as the simulator's is
            stages = plan.with_population(int(outputs.get("raw_users", {}).get(ROW_COUNT, settings.users))).stages
        if stage.job == "promotion_job" and not artifacts.registry().production():
            reason = (
                Judgement.from_metadata(outputs["production_model"]).reason if "production_model" in outputs else ""
            )
            print(f"  no production model ({reason}): predictions and the drift report need one; skipped")
            break
    print_findings(findings, notes, settings)

    for line in RunSummary.from_outputs(outputs).lines(plan.last):
        print(line)
    print(f"Finished in {time.perf_counter() - started:.1f}s. Browse it with: churn-assets dev")
    return 0


def outcome_stages(settings: Settings, first, last) -> list[Stage]:
    """One outcomes run per scored day of first ... last whose labels the warehouse now holds and whose outcomes
    it does not (a day an earlier, shorter run scored, once a longer run has labelled it)."""
    from churn_assets.core.monitoring.readiness import OUTCOME_INPUTS, matured_days
    from churn_assets.defs.deployment import resolved_resource

    engine = resolved_resource(settings, "warehouse").engine()
    days, _ = matured_days(*(engine.written_days(table, first, last) for table in OUTCOME_INPUTS))
    return [Stage("outcomes_job", "prediction outcomes", day, day) for day in days]


def _own_range(settings: Settings, data_only: bool) -> tuple[Settings, str | None, dict | None]:
    """``plan.own_range`` for an events file, its result passed on to the Dagster runs through the environment,
    and the file's rows per day (None where unknown), by which the events runs are sized. (``evaluate``,
    ``data_only``, dates its as-of days by the settings' range, so it keeps it.)"""
    if not settings.events_file:
        return settings, None, None
    explicit = data_only or any(os.environ.get(ENV_VARS[name]) for name in ("start_date", "days"))
    try:
        rows = source_day_rows(settings.events_file)
    except SourceFileError:
        if not explicit:
            raise
        rows = None  # the run names an unreadable file in its own words, for its days
    if data_only:
        return settings, None, rows
    settings, note = own_range(settings, day_span(rows), explicit)
    os.environ[ENV_VARS["start_date"]] = settings.start_date.isoformat()
    os.environ[ENV_VARS["days"]] = str(settings.days)
    return settings, note, rows


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    parser.add_argument("--users", type=int, help=f"simulated users (CHURN_USERS, default {DEFAULTS.users})")
    parser.add_argument("--start", help=f"first day, YYYY-MM-DD (CHURN_START_DATE, default {DEFAULTS.start_date})")
    parser.add_argument("--days", type=int, help=f"days to run (CHURN_DAYS, default {DEFAULTS.days})")
    parser.add_argument("--seed", type=int, help=f"simulator seed (CHURN_SEED, default {DEFAULTS.seed})")
    parser.add_argument("--events-file", help="CSV/Parquet events file, or a per-day template with {date}")
    parser.add_argument("--users-file", help="CSV/Parquet users file (optional with --events-file)")
    parser.add_argument("--drift-from", help="simulator: shift user behaviour from this day, YYYY-MM-DD")
    parser.add_argument("--profile", choices=["subscription", "purchase"], help="simulator profile (CHURN_PROFILE)")
    parser.add_argument("--event-types", help="source type=kind pairs, e.g. order=purchase (CHURN_EVENT_TYPES)")
    parser.add_argument(
        "--subscriptions-file",
        help="CSV/Parquet subscription periods (user_id, start_time, end_time[, plan, mrr]), or a {date} template",
    )
    parser.add_argument(
        "--churn-definition",
        choices=["inactivity", "cancellation"],
        help="what churn means: no activity in the horizon, or a subscription that lapses (CHURN_DEFINITION)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="churn-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="materialize the whole graph for a date range")
    _common(run_parser)
    run_parser.add_argument(
        "--accept-shrink",
        action="store_true",
        help="accept a source that now holds fewer events for stored days (CHURN_MAX_SHRINK=1)",
    )
    run_parser.set_defaults(func=run)
    dev_parser = sub.add_parser("dev", help="open the Dagster UI on this data directory")
    _common(dev_parser)
    dev_parser.add_argument("--host", default="127.0.0.1")
    dev_parser.add_argument("--port", type=int, default=3000)
    dev_parser.add_argument(
        "--allow-remote", action="store_true", help="serve the UI, which has no authentication, off loopback"
    )
    dev_parser.set_defaults(func=dev)
    evaluate_parser = sub.add_parser(
        "evaluate", help="walk-forward: train and score as of each date on the data known then, judge what followed"
    )
    _common(evaluate_parser)
    evaluate_parser.add_argument("--from", dest="first", required=True, help="first as-of date, YYYY-MM-DD")
    evaluate_parser.add_argument("--to", dest="last", required=True, help="last as-of date, YYYY-MM-DD")
    evaluate_parser.add_argument("--every", default="1M", help="step between as-of dates: 1M, 2W, 14D (default 1M)")
    evaluate_parser.set_defaults(func=lambda a: evaluate_command(a, apply_options(a), run))
    serve_parser = sub.add_parser("serve", help="the HTTP API: users' risk, scoring, models, drift reports")
    serve_parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    serve_parser.add_argument("--host", default="127.0.0.1", help="bind address (off loopback: CHURN_API_TOKEN)")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--refresh-seconds", type=float, default=2.0, help="how often pointers are re-read")
    serve_parser.set_defaults(func=serve_command)
    model_parser = sub.add_parser("model", help="list model versions or roll production back")
    model_parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    model_sub = model_parser.add_subparsers(dest="action", required=True)
    model_sub.add_parser("list", help="versions with test metrics; * marks production")
    rollback = model_sub.add_parser("rollback", help="point production at VERSION, or at the previous production")
    rollback.add_argument("version", nargs="?")
    model_parser.set_defaults(func=model_command)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (SettingsError, SourceMismatch, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # errors a user can act on get one line; anything else keeps its traceback
        message = user_error(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1


def console() -> int:
    """The installed command. A run leaves a large heap (Dagster, pandas, scikit-learn, Evidently) that interpreter
    shutdown would walk in a final garbage collection; nothing left needs collecting, so freeze it."""
    code = main()
    gc.freeze()
    return code
