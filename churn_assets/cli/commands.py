"""The ``churn-assets`` commands besides ``run``: ``model``, ``serve`` and ``dev``, and the options they share."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from churn_assets.cli.instance import write_instance_config
from churn_assets.core.processes import restore_interrupts
from churn_assets.core.registry.card import BASELINE_ROLE
from churn_assets.core.registry.manifest import recorded_signup_days
from churn_assets.settings import ENV_VARS, Settings

EVENT_BATCH_SIZE = ("DAGSTER_EVENT_BATCH_SIZE", "100")  # Dagster's switch: materializations written 100 at a time
WORKSPACE = """load_from:
  - python_module:
      module_name: churn_assets.definitions
      location_name: churn_assets
"""


def apply_options(args: argparse.Namespace) -> Settings:
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
        "subscriptions_file": getattr(args, "subscriptions_file", None),
        "definition": getattr(args, "churn_definition", None),
        "max_shrink": 1 if getattr(args, "accept_shrink", False) else None,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[ENV_VARS[name]] = str(value)
    settings = Settings.from_env()
    home = os.environ.get("DAGSTER_HOME") or str(settings.dagster_home.resolve())
    Path(home).mkdir(parents=True, exist_ok=True)
    write_instance_config(Path(home))
    # a ranged run's materializations of an asset written as batches: one transaction per batch in the embedded
    # instance's event log, one INSERT per batch in PostgreSQL (docs/deployment.md, "The Dagster instance")
    os.environ.setdefault(*EVENT_BATCH_SIZE)
    os.environ["DAGSTER_HOME"] = home
    return settings


def with_recorded_span(settings: Settings) -> Settings:
    """The settings with the simulator's signup span the data directory was made with (its ``source.json``) when
    ``CHURN_SIM_SIGNUP_DAYS`` is unset, for this process and the runs and daemon it starts: a run over more days
    then extends the population the directory holds instead of being refused as another source."""
    if not settings.simulated or settings.sim_signup_days:
        return settings
    span = recorded_signup_days(artifact_store(settings))
    if span is None:
        return settings
    os.environ[ENV_VARS["sim_signup_days"]] = str(span)
    return replace(settings, sim_signup_days=span)


def artifacts_of(settings: Settings):
    from churn_assets.defs.deployment import resolved_resource

    return resolved_resource(settings, "artifacts")


def artifact_store(settings: Settings):
    """The deployment's artifact store; the local folder's without loading Dagster, so that ``model`` and
    ``serve`` answer without its import."""
    if settings.deployment == "local":
        from churn_assets.core.registry.artifacts import LocalArtifactStore

        return LocalArtifactStore(settings.artifacts_dir.resolve())
    return artifacts_of(settings).store()


def _registry(settings: Settings):
    from churn_assets.core.registry.model_registry import ModelRegistry

    return ModelRegistry(artifact_store(settings))


def _lift(card, baseline: str) -> str:
    lift = (card.baselines.get(baseline) or {}).get("model_lift", {}).get("pr_auc")
    return f"{lift:+.4f}" if isinstance(lift, int | float) else "-"


def model_command(args: argparse.Namespace) -> int:
    settings = apply_options(args)
    from churn_assets.core.registry.model_registry import RegistryError

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
            mark = "* " if card.version == production else "  "
            lifts = [_lift(card, name) for name in ("recency", "bg_nbd")]
            candidate = f"{card.candidate} (baseline)" if card.role == BASELINE_ROLE else card.candidate
            print(
                f"{mark}{card.version:<16}{card.created:<27}{candidate:<28}"
                f"{card.test_window:<24}{card.metric('pr_auc'):>8}"
                f"{card.metric('roc_auc'):>9}{lifts[0]:>12}{lifts[1]:>11}"
            )
        print(
            "* = production; (baseline): a baseline registered as the fallback model; vs recency / BG/NBD: the model's "
            "PR-AUC minus the baseline's on the same test rows"
        )
        return 0
    try:
        version = registry.rollback(args.version)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"production is now {version}")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    settings = apply_options(args)
    token = os.environ.get("CHURN_API_TOKEN") or None  # a secret: read here, never stored or printed
    from churn_assets.api.app import serve
    from churn_assets.api.guard import is_loopback

    if not is_loopback(args.host) and not token:
        print(
            f"error: serving on {args.host} (not loopback) needs CHURN_API_TOKEN: every route but /health then "
            "requires 'Authorization: Bearer <token>'",
            file=sys.stderr,
        )
        return 2
    return serve(settings, args.host, args.port, args.refresh_seconds, token, artifact_store(settings))


def dev(args: argparse.Namespace) -> int:
    """The Dagster UI and daemon on this data directory, with the HTTP API beside them so report links open."""
    from churn_assets.api.guard import is_loopback

    if not is_loopback(args.host) and not args.allow_remote:
        print(
            f"error: --host {args.host} would open the Dagster UI to other machines, and the UI has no "
            "authentication: anyone who reaches it can launch runs and read every table's metadata. Keep the "
            "default 127.0.0.1 (reach it through an SSH tunnel), or pass --allow-remote behind your own "
            "authenticating proxy.",
            file=sys.stderr,
        )
        return 2
    if not is_loopback(args.host):
        print(f"warning: the Dagster UI on {args.host} has no authentication (--allow-remote)", file=sys.stderr)
    settings = with_recorded_span(apply_options(args))
    home = Path(os.environ["DAGSTER_HOME"])
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
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
    restore_interrupts()  # `churn-assets dev &` in a script: its servers must stop on `kill`
    api = _start_api(settings)
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {home}, data {settings.data_dir})", flush=True)
    ui = subprocess.Popen(command)
    # `kill <pid>` (SIGTERM) or a closed terminal (SIGHUP) reach this process alone, where Ctrl-C reaches the whole
    # process group: pass them on as SIGTERM, which `dagster dev` takes as Ctrl-C (it stops its webserver and
    # daemon), then stop the API as on Ctrl-C
    handlers = {s: signal.signal(s, lambda *_: _stop_softly(ui)) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return ui.wait()
    except KeyboardInterrupt:  # Ctrl-C: `dagster dev` got it too and is stopping its own processes
        ui.wait(timeout=60)
        return 130
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        if api is not None:
            api.terminate()
            api.wait(timeout=20)


def _stop_softly(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)


def _start_api(settings: Settings) -> subprocess.Popen | None:
    """``churn-assets serve`` on CHURN_SERVE_URL's loopback port, where the metadata's report and card links point;
    None when that URL is not this machine's loopback or something already answers there."""
    from urllib.parse import urlsplit

    from churn_assets.api.guard import is_loopback

    url = urlsplit(settings.serve_url)
    if not is_loopback(url.hostname or "") or _answers(settings.serve_url):
        print(f"  report links point at {settings.serve_url} (not started here)")
        return None
    command = [
        sys.executable,
        "-m",
        "churn_assets.cli",
        "serve",
        "--host",
        url.hostname,
        "--port",
        str(url.port or 80),
    ]
    print(f"  HTTP API for the report and model card links on {settings.serve_url}", flush=True)
    return subprocess.Popen(command)


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=1):
            return True
    except OSError:
        return False
