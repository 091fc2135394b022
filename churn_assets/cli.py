"""The ``churn-assets`` command: materialize the graph through Dagster, or open the Dagster UI."""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from churn_assets.core.findings import CheckFinding
from churn_assets.core.manifest import SourceMismatch, check_source
from churn_assets.evaluation import evaluate_command
from churn_assets.recovery import mark_dead_runs_failed, user_error
from churn_assets.settings import ENV_VARS, Settings, SettingsError
from churn_assets.stages import (
    RunNotes,
    event_ranges,
    peak_rss_mb,
    print_findings,
    release_memory,
    reset_peak_rss,
    run_stage,
)

# Local SQLite storage in DAGSTER_HOME; no usage statistics; the daemon marks runs whose worker died as failed.
INSTANCE_CONFIG = """telemetry:
  enabled: false
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  poll_interval_seconds: 60
"""
# A single-run backfill records one "materialization planned" event per asset for the whole range instead of one
# per partition (Dagster's own switch; Postgres storage does it by default). On the SQLite instance that saves about
# 570 event-log writes in the demo. Dagster's trade-off: if such a run fails, its partitions are not marked failed
# (the run itself is, and `churn-assets run` stops and names the failed step).
WORKSPACE = """load_from:
  - python_module:
      module_name: churn_assets.definitions
      location_name: churn_assets
"""
RANGE_PLANNED_EVENTS = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}


def _apply_options(args: argparse.Namespace) -> Settings:
    """Options override the environment for this process (and the Dagster runs it launches)."""
    overrides = {
        "data_dir": args.data_dir,
        "users": getattr(args, "users", None),
        "start_date": getattr(args, "start", None),
        "days": getattr(args, "days", None),
        "seed": getattr(args, "seed", None),
        "events_file": getattr(args, "events_file", None),
        "users_file": getattr(args, "users_file", None),
        "drift_from": getattr(args, "drift_from", None),
        "profile": getattr(args, "profile", None),
        "event_types": getattr(args, "event_types", None),
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


def run(args: argparse.Namespace) -> int:
    """The whole graph for the range; with ``args.data_only`` (``evaluate``), only the stages up to the labels."""
    settings = _apply_options(args)
    data_only = getattr(args, "data_only", False)
    os.environ.update(RANGE_PLANNED_EVENTS)
    import dagster as dg

    from churn_assets.definitions import defs
    from churn_assets.metadata import ROW_COUNT
    from churn_assets.partitions import daily_partitions

    first = settings.start_date
    last = first + timedelta(days=settings.days - 1)
    last_key = daily_partitions.get_last_partition_key()  # the last complete UTC day
    if last_key is None or last > date.fromisoformat(last_key):
        edge = f"ends on {last}" if last_key else f"starts on {first}"
        complete = last_key or (date.today() - timedelta(days=1)).isoformat()
        print(f"error: the range {edge}, after the last complete UTC day ({complete})", file=sys.stderr)
        return 2
    label_last = last - timedelta(days=settings.label_horizon_days)
    artifacts = _artifacts(settings)
    check_source(artifacts.store(), settings)
    instance = dg.DagsterInstance.get()
    for line in mark_dead_runs_failed(instance):
        print(f"  {line}")
    print(f"churn-assets run: {first}..{last} ({settings.days} days) into {settings.data_dir}")
    print(f"  Dagster instance: {os.environ['DAGSTER_HOME']}")

    stages = [("users_job", "raw users", None, None)]
    stages += [("daily_data_job", "events to features", lo, hi) for lo, hi in event_ranges(first, last, settings.users)]
    label_days = (label_last - first).days + 1
    needed = settings.test_days + settings.label_horizon_days + 1
    if label_days > 0:
        stages.append(("labels_job", "churn labels", first, label_last))
    else:
        print(f"  no label-complete day yet: labels need {settings.label_horizon_days} days after a day")
    trains = label_days >= needed and not data_only
    if trains:
        stages.append(("training_job", "training set and candidate models", label_last, label_last))
        stages.append(("promotion_job", "promotion", None, None))
    elif 0 < label_days < needed:
        print(f"  {label_days} label days: training needs {needed} (test window, gap, one training day)")
    if not data_only and (trains or artifacts.registry().production()):
        stages.append(("predictions_job", "predictions", last, last))
        stages.append(("drift_job", "drift report", last, last))

    outputs: dict[str, dict] = {}
    findings: list[CheckFinding] = []
    notes = RunNotes()
    started = time.perf_counter()
    i = 0
    while i < len(stages):
        job, what, lo, hi = stages[i]
        i += 1
        span = "" if not lo else f" {lo}" if lo == hi else f" {lo}..{hi}"
        print(f"[{i}/{len(stages)}] {what}{span} ...", flush=True)
        release_memory()
        reset_peak_rss()
        ok, metadata, found, seconds = run_stage(defs, instance, job, lo and lo.isoformat(), hi and hi.isoformat())
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
        if job == "users_job" and (settings.events_file or settings.events_query):
            # a file's population is known now: size the events runs by it, as the simulator's is
            users = int(outputs.get("raw_users", {}).get(ROW_COUNT, settings.users))
            ranges = [("daily_data_job", "events to features", a, b) for a, b in event_ranges(first, last, users)]
            stages = [stages[0], *ranges, *(s for s in stages[1:] if s[0] != "daily_data_job")]
        if job == "promotion_job" and not artifacts.registry().production():
            reason = outputs.get("production_model", {}).get("reason", "")
            print(f"  no production model ({reason}): predictions and the drift report need one; skipped")
            break
    print_findings(findings, notes, settings)

    print("Summary (rows written):")
    for table, meta in outputs.items():
        if ROW_COUNT in meta:
            print(f"  {table:<24} {int(meta[ROW_COUNT]):>10,}")
    if "churn_model" in outputs:
        model = outputs["churn_model"]
        print(
            f"Model {model['model_version']} ({model['chosen_candidate']}): test PR-AUC {model['test_pr_auc']}, "
            f"ROC-AUC {model['test_roc_auc']}; on the same rows recency alone {model['recency_pr_auc']} / "
            f"{model['recency_roc_auc']}, BG/NBD {model['bg_nbd_pr_auc']} / {model['bg_nbd_roc_auc']}"
        )
    if "production_model" in outputs:
        prod = outputs["production_model"]
        verdict = "promoted" if prod["promoted"] else "not promoted"
        print(f"Promotion: {prod['candidate_version']} {verdict} ({prod['reason']})")
        print(f"Production model: {prod['production_version'] or 'none'}")
    if "churn_predictions" in outputs:
        pred = outputs["churn_predictions"]
        print(
            f"Predictions {last}: {pred['tier_high']} high, {pred['tier_medium']} medium, {pred['tier_low']} low risk"
        )
    if "drift_report" in outputs:
        drift = outputs["drift_report"]
        drifted = ", ".join(drift["drifted_features"]) or "none"
        print(f"Drift {last}: max important PSI {drift['max_important_psi']}, drifted features: {drifted}")
        if drift["drift_detected"]:
            print("  drift detected: the drift sensor requests a retraining run (churn-assets dev runs the daemon)")
    print(f"Finished in {time.perf_counter() - started:.1f}s. Browse it with: churn-assets dev")
    return 0


def _artifacts(settings: Settings):
    from churn_assets.deployment import resolved_resource

    return resolved_resource(settings, "artifacts")


def _registry(settings: Settings):
    return _artifacts(settings).registry()


def _lift(card: dict, baseline: str) -> str:
    found = card.get("baselines", {}).get(baseline)
    return f"{found['model_lift']['pr_auc']:+.4f}" if found else "-"


def model_command(args: argparse.Namespace) -> int:
    settings = _apply_options(args)
    from churn_assets.core.registry import RegistryError

    registry = _registry(settings)
    if args.action == "list":
        cards = registry.versions()
        for problem in registry.unreadable:
            print(f"warning: {problem}", file=sys.stderr)
        production = registry.production()
        if not cards:
            print("no model versions yet: run churn-assets run")
            return 0
        print(
            f"{'':2}{'version':<16}{'created':<27}{'candidate':<28}{'test window':<24}{'PR-AUC':>8}{'ROC-AUC':>9}"
            f"{'vs recency':>12}{'vs BG/NBD':>11}"
        )
        for card in cards:
            w = card["windows"]
            mark = "* " if card["version"] == production else "  "
            lifts = [_lift(card, name) for name in ("recency", "bg_nbd")]
            print(
                f"{mark}{card['version']:<16}{card['created']:<27}{card['candidate']:<28}"
                f"{w['test_first'] + '..' + w['test_last']:<24}{card['metrics']['pr_auc']:>8.4f}"
                f"{card['metrics']['roc_auc']:>9.4f}{lifts[0]:>12}{lifts[1]:>11}"
            )
        print("* = production; vs recency / BG/NBD: the model's PR-AUC minus the baseline's on the same test rows")
        return 0
    try:
        version = registry.rollback(args.version)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"production is now {version}")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    settings = _apply_options(args)
    token = os.environ.get("CHURN_API_TOKEN") or None  # a secret: read here, never stored or printed
    from churn_assets.serve import is_loopback, serve

    if not is_loopback(args.host) and not token:
        print(
            f"error: serving on {args.host} (not loopback) needs CHURN_API_TOKEN: every route but /health then "
            "requires 'Authorization: Bearer <token>'",
            file=sys.stderr,
        )
        return 2
    return serve(settings, args.host, args.port, args.refresh_seconds, token, _artifacts(settings).store())


def dev(args: argparse.Namespace) -> int:
    """The Dagster UI and daemon on this data directory, with the HTTP API beside them so report links open."""
    settings = _apply_options(args)
    home = Path(os.environ["DAGSTER_HOME"])
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    if not workspace.exists():  # an installed copy: the same code location, named as in the repository's file
        workspace = home / "workspace.yaml"
        workspace.write_text(WORKSPACE)
    # through this interpreter, not a `dagster` looked up on PATH: works without an activated virtualenv
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "-w",
        str(workspace),
    ]
    api = _start_api(settings)
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {home}, data {settings.data_dir})", flush=True)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=20)


def _start_api(settings: Settings) -> subprocess.Popen | None:
    """``churn-assets serve`` on CHURN_SERVE_URL's loopback port, where the metadata's report and card links point;
    None when that URL is not this machine's loopback or something already answers there."""
    from urllib.parse import urlsplit

    from churn_assets.serve import is_loopback

    url = urlsplit(settings.serve_url)
    if not is_loopback(url.hostname or "") or _answers(settings.serve_url):
        print(f"  report links point at {settings.serve_url} (not started here)")
        return None
    command = [sys.executable, "-m", "churn_assets.cli", "serve", "--host", url.hostname, "--port", str(url.port or 80)]
    print(f"  HTTP API for the report and model card links on {settings.serve_url}", flush=True)
    return subprocess.Popen(command)


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=1):
            return True
    except OSError:
        return False


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (CHURN_DATA_DIR, default ./.churn)")
    parser.add_argument("--users", type=int, help="simulated users (CHURN_USERS, default 2000)")
    parser.add_argument("--start", help="first day, YYYY-MM-DD (CHURN_START_DATE, default 2026-01-01)")
    parser.add_argument("--days", type=int, help="days to run (CHURN_DAYS, default 120)")
    parser.add_argument("--seed", type=int, help="simulator seed (CHURN_SEED, default 7)")
    parser.add_argument("--events-file", help="CSV/Parquet events file, or a per-day template with {date}")
    parser.add_argument("--users-file", help="CSV/Parquet users file (optional with --events-file)")
    parser.add_argument("--drift-from", help="simulator: shift user behaviour from this day, YYYY-MM-DD")
    parser.add_argument("--profile", choices=["subscription", "purchase"], help="simulator profile (CHURN_PROFILE)")
    parser.add_argument("--event-types", help="source type=kind pairs, e.g. order=purchase (CHURN_EVENT_TYPES)")


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
    evaluate_parser = sub.add_parser(
        "evaluate", help="walk-forward: train and score as of each date on the data known then, judge what followed"
    )
    _common(evaluate_parser)
    evaluate_parser.add_argument("--from", dest="first", required=True, help="first as-of date, YYYY-MM-DD")
    evaluate_parser.add_argument("--to", dest="last", required=True, help="last as-of date, YYYY-MM-DD")
    evaluate_parser.add_argument("--every", default="1M", help="step between as-of dates: 1M, 2W, 14D (default 1M)")
    evaluate_parser.set_defaults(func=lambda a: evaluate_command(a, _apply_options(a), run))
    serve_parser = sub.add_parser("serve", help="the HTTP API: users' risk, scoring, models, drift reports")
    serve_parser.add_argument("--data-dir", help="data directory (CHURN_DATA_DIR, default ./.churn)")
    serve_parser.add_argument("--host", default="127.0.0.1", help="bind address (off loopback: CHURN_API_TOKEN)")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--refresh-seconds", type=float, default=2.0, help="how often pointers are re-read")
    serve_parser.set_defaults(func=serve_command)
    model_parser = sub.add_parser("model", help="list model versions or roll production back")
    model_parser.add_argument("--data-dir", help="data directory (CHURN_DATA_DIR, default ./.churn)")
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
    shutdown would walk in a final garbage collection, about 1.5 s; nothing left needs collecting, so freeze it."""
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(console())
