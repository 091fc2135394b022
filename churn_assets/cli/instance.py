"""The Dagster instance of a data directory: the ``dagster.yaml`` that ``churn-assets`` writes into DAGSTER_HOME.

Two storages, one switch:

* **SQLite** (the embedded default): Dagster's files in DAGSTER_HOME, where Dagster puts them by default, with the
  event log's databases kept open (``wiring/instance_storage.py``).
* **PostgreSQL** (production): when ``CHURN_DAGSTER_POSTGRES_URL`` is set, runs, event logs and schedules live in
  that database (``dagster-postgres``). The file names the variable; its value (it holds a password) is read
  by each Dagster process from its environment and never written anywhere.

Both record runs the same way: the daemon marks runs whose worker died as failed (``wiring/run_launcher.py``) and
no usage statistics are sent. A ``dagster.yaml`` that this command (or an earlier release) wrote is rewritten when
the switch changes; one a person edited is left as it is, with a warning where it ignores the switch.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

POSTGRES_URL = "CHURN_DAGSTER_POSTGRES_URL"

SQLITE = """storage:
  custom:
    module: churn_assets.wiring.instance_storage
    class: SqliteStorage
    config:
      base_dir: {home}
"""
POSTGRES = f"""storage:
  postgres:
    postgres_url:
      env: {POSTGRES_URL}
"""
TELEMETRY = "telemetry:\n  enabled: false\n"
MONITORING = "run_monitoring:\n  enabled: true\n  start_timeout_seconds: 180\n  poll_interval_seconds: 60\n"
RUNS = "run_launcher:\n  module: churn_assets.wiring.run_launcher\n  class: MonitoredRunLauncher\n" + MONITORING
EARLIER = (TELEMETRY + RUNS, TELEMETRY + MONITORING)  # what earlier releases wrote (SQLite, Dagster's own classes)


def instance_yaml(postgres: bool, home: Path) -> str:
    """The ``dagster.yaml`` of the instance in ``home``: on PostgreSQL (``postgres``), or on SQLite files in it
    (named by their absolute path, as Dagster reads an instance's file without knowing where it lies)."""
    return TELEMETRY + (POSTGRES if postgres else SQLITE.format(home=json.dumps(str(home.resolve())))) + RUNS


def _written_here(text: str, home: Path) -> bool:
    """Whether ``text`` is a file this command or an earlier release wrote (in this directory or, for a directory
    moved since, in another)."""
    if text in (instance_yaml(True, home), *EARLIER):
        return True
    try:
        config = yaml.safe_load(text)
        config["storage"]["custom"]["config"]["base_dir"] = str(home.resolve())
    except (yaml.YAMLError, TypeError, KeyError):
        return False
    return config == yaml.safe_load(instance_yaml(False, home))


def check_postgres_url(url: str) -> None:
    """Refuse, before any process reads it, a URL whose database driver is not installed (the message never
    repeats the URL: it holds a password). SQLAlchemy 2.1 reads ``postgresql://`` with psycopg 3; dagster-postgres
    installs psycopg2, named by ``postgresql+psycopg2://``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(url).get_dialect()
        dialect.import_dbapi()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ValueError(f"{POSTGRES_URL} is not a database URL SQLAlchemy can read ({type(exc).__name__})") from None
    except ImportError:
        raise ValueError(
            f"{POSTGRES_URL} names the {dialect.driver} driver, which is not installed: write the URL as "
            "postgresql+psycopg2://user:password@host:5432/database (dagster-postgres installs psycopg2)"
        ) from None


def write_instance_config(home: Path) -> None:
    """Write (or bring up to date) ``home/dagster.yaml`` for this environment's storage switch."""
    postgres = bool(os.environ.get(POSTGRES_URL))
    if postgres:
        check_postgres_url(os.environ[POSTGRES_URL])
    config = home / "dagster.yaml"
    wanted = instance_yaml(postgres, home)
    current = config.read_text() if config.exists() else None
    if current is None or (current != wanted and _written_here(current, home)):
        config.write_text(wanted)
    elif current != wanted and postgres and POSTGRES_URL not in current:
        print(f"warning: {config} is not the one churn-assets writes; {POSTGRES_URL} is not used", file=sys.stderr)
