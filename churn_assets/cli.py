"""The ``churn-assets`` command: materialize the graph through Dagster, or open the Dagster UI."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from churn_assets.settings import ENV_VARS, Settings, SettingsError

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# Local SQLite storage in DAGSTER_HOME; no usage statistics.
INSTANCE_CONFIG = "telemetry:\n  enabled: false\n"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _apply_options(args: argparse.Namespace) -> Settings:
    """Options override the environment for this process (and the Dagster runs it launches)."""
    overrides = {
        "data_dir": args.data_dir,
        "users": args.users,
        "start_date": args.start,
        "days": args.days,
        "seed": args.seed,
        "events_file": args.events_file,
        "users_file": args.users_file,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[ENV_VARS[name]] = str(value)
    settings = Settings.from_env()
    home = os.environ.get("DAGSTER_HOME") or str(settings.dagster_home.resolve())
    Path(home).mkdir(parents=True, exist_ok=True)
    config = Path(home) / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG)
    os.environ["DAGSTER_HOME"] = home
    return settings


def _run_stage(defs, instance, job_name: str, first: str | None, last: str | None) -> tuple[bool, dict, float]:
    tags = {RANGE_START_TAG: first, RANGE_END_TAG: last} if first else {}
    started = time.perf_counter()
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, tags=tags, run_config=QUIET_LOGS, raise_on_error=False
    )
    rows: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        count = mat.metadata.get("dagster/row_count")
        if count is not None:
            rows.setdefault(mat.asset_key.to_user_string(), int(count.value))
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                print(f"    step {event.step_key} failed: {_root_cause(event.step_failure_data.error)}")
    return result.success, rows, time.perf_counter() - started


def _root_cause(error) -> str:
    """The innermost error message: the one that names the problem, not Dagster's wrapping of it."""
    if error is None:
        return "unknown error"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run(args: argparse.Namespace) -> int:
    settings = _apply_options(args)
    import dagster as dg

    from churn_assets.definitions import defs
    from churn_assets.partitions import daily_partitions

    first = settings.start_date
    last = first + timedelta(days=settings.days - 1)
    last_key = daily_partitions.get_last_partition_key()  # the last complete UTC day
    if last_key is None or last > date.fromisoformat(last_key):
        print(f"error: the range ends on {last}, after the last complete day ({last_key})", file=sys.stderr)
        return 2
    label_last = last - timedelta(days=settings.label_horizon_days)
    instance = dg.DagsterInstance.get()
    print(f"churn-assets run: {first}..{last} ({settings.days} days) into {settings.data_dir}")
    print(f"  Dagster instance: {os.environ['DAGSTER_HOME']}")

    stages = [("users_job", "raw users", None, None), ("daily_data_job", "events to features", first, last)]
    if label_last >= first:
        stages.append(("labels_job", "churn labels", first, label_last))
    else:
        print(f"  no label-complete day yet: labels need {settings.label_horizon_days} days after a day")

    total_rows: dict[str, int] = {}
    started = time.perf_counter()
    for i, (job, what, lo, hi) in enumerate(stages, 1):
        span = f" {lo}..{hi}" if lo else ""
        print(f"[{i}/{len(stages)}] {what}{span} ...", flush=True)
        ok, rows, seconds = _run_stage(defs, instance, job, lo and lo.isoformat(), hi and hi.isoformat())
        total_rows.update(rows)
        print(f"    {'done' if ok else 'FAILED'} in {seconds:.1f}s")
        if not ok:
            return 1

    print("Summary (rows written):")
    for table, count in total_rows.items():
        print(f"  {table:<24} {count:>10,}")
    print(f"Finished in {time.perf_counter() - started:.1f}s. Browse it with: churn-assets dev")
    return 0


def dev(args: argparse.Namespace) -> int:
    settings = _apply_options(args)
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    command = ["dagster", "dev", "--host", args.host, "--port", str(args.port)]
    command += ["-w", str(workspace)] if workspace.exists() else ["-m", "churn_assets.definitions"]
    home = os.environ["DAGSTER_HOME"]
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {home}, data {settings.data_dir})")
    os.execvp(command[0], command)
    return 0  # not reached


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (CHURN_DATA_DIR, default ./.churn)")
    parser.add_argument("--users", type=int, help="simulated users (CHURN_USERS, default 2000)")
    parser.add_argument("--start", help="first day, YYYY-MM-DD (CHURN_START_DATE, default 2026-01-01)")
    parser.add_argument("--days", type=int, help="days to run (CHURN_DAYS, default 120)")
    parser.add_argument("--seed", type=int, help="simulator seed (CHURN_SEED, default 7)")
    parser.add_argument("--events-file", help="CSV/Parquet events file, or a per-day template with {date}")
    parser.add_argument("--users-file", help="CSV/Parquet users file (optional with --events-file)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="churn-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="materialize the whole graph for a date range")
    _common(run_parser)
    run_parser.set_defaults(func=run)
    dev_parser = sub.add_parser("dev", help="open the Dagster UI on this data directory")
    _common(dev_parser)
    dev_parser.add_argument("--host", default="127.0.0.1")
    dev_parser.add_argument("--port", type=int, default=3000)
    dev_parser.set_defaults(func=dev)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
