"""Every setting of the platform, read from the environment in one place.

Asset code never reads the environment itself: it gets resources built from these settings
(see ``defs/deployment.py``), so the same assets run on the embedded default and in the cloud.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from churn_assets.core.credentials import service_account_info
from churn_assets.core.days import LabelCalendar
from churn_assets.core.intake.query_source import events_query_problem
from churn_assets.core.intake.vocabulary import Vocabulary, VocabularyError
from churn_assets.core.simulation.population import PROFILES, SimulationConfig
from churn_assets.core.warehouse.feature_spec import FeatureSpec, FeatureSpecError, parse_windows

DEPLOYMENTS = ("local", "gcp")
CANCELLATION = "cancellation"
DEFINITIONS = ("inactivity", CANCELLATION)
CREDENTIALS_VAR = "CHURN_GCP_CREDENTIALS_B64"
# BigQuery dataset names: letters, digits and underscores, at most 1,024 characters. Project ids: 6-30 lowercase
# letters, digits and hyphens (a domain-scoped "example.com:p" is allowed). Either ends up inside SQL text.
BQ_DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")
GCP_PROJECT = re.compile(r"([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
# A DuckDB memory size such as 1GB, 512MB or 2GiB (it ends up in a SET statement).
MEMORY_SIZE = re.compile(r"[1-9][0-9]{0,5}(\.[0-9]+)?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


class SettingsError(ValueError):
    """A setting has a value the platform cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    deployment: str = "local"
    data_dir: Path = Path(".churn")
    start_date: date = date(2026, 1, 1)
    days: int = 120
    users: int = 2000
    seed: int = 7
    profile: str = "subscription"
    events_file: str | None = None
    users_file: str | None = None
    events_query: str | None = None
    event_types: str = ""
    # subscription periods (user_id, start_time, end_time, plan, mrr): a file or template, or a BigQuery query
    subscriptions_file: str | None = None
    subscriptions_query: str | None = None
    # what churn means: "inactivity" (no active day in the horizon) or "cancellation" (a subscription lapses)
    definition: str = "inactivity"
    renewal_grace_days: int = 7  # a renewal starting within this many days of the end is no lapse
    type_features: int = 12  # the most frequent source event types that each get their own features
    label_horizon_days: int = 30
    feature_windows: str = "7,14,30"
    eligibility_days: int = 30
    training_max_rows: int = 200_000
    duckdb_memory_limit: str = "1GB"
    max_reject_share: float = 0.05
    # a re-run may not shrink a stored day of raw_events by more than this share (1 accepts any shrink)
    max_shrink: float = 0.5
    volume_tolerance: float = 3.0
    train_days: int = 90
    test_days: int = 14
    promotion_margin: float = 0.005
    promotion_floor_roc_auc: float = 0.6
    baseline_margin: float = 0.02  # share of the best baseline's room to a perfect ROC-AUC a first model must close
    serve_url: str = "http://127.0.0.1:8000"
    api_max_body_bytes: int = 4_000_000  # a POST larger than this is answered 413 before it is parsed
    risk_high: float = 0.8
    risk_medium: float = 0.5
    drift_from: date | None = None
    drift_warn_psi: float = 0.1
    drift_fail_psi: float = 0.25
    drift_top_features: int = 8
    # retention work (docs/retention.md): the held-out control group, the call list, realized decay
    control_share: float = 0.10  # share of eligible users held out each month (a hash of user and month)
    call_list_size: int = 500  # the call list's length: the users with the most value at risk
    call_cost: float = 0.0  # what one call costs: a user whose value at risk is not above it is not called
    call_budget: float = 0.0  # what a day's calls may cost in all (with call_cost): at most budget / cost calls
    decay_days: int = 7  # matured days whose realized ROC-AUC the decay sensor averages
    decay_margin: float = 0.05  # how far below its test ROC-AUC that average may fall before retraining
    sim_retention_effect: float = 0.0  # simulator: the chance that retention work keeps a targeted user healthy
    # simulator: new users sign up over this many days from the start; unset: the days of the data directory's first
    # run (its source.json), or this run's days. A longer run then extends the same users' lives
    sim_signup_days: int | None = None
    schedule_hour: int = 6
    # the daily refresh schedule's cron (UTC) when the source lands at other times, e.g. "0 * * * *" (hourly);
    # empty: daily at schedule_hour
    refresh_cron: str = ""
    automation: str = "on"
    sensor_seconds: int = 60
    gcp_project: str | None = None
    bq_dataset: str = "churn"
    bq_location: str | None = None
    # how long a BigQuery call keeps retrying an unreachable service before the run fails (the client's own default
    # is ten minutes)
    bq_retry_seconds: float = 45.0
    gcs_bucket: str | None = None
    gcs_prefix: str = "churn"
    # The *name* of the variable holding the service-account key, when it is set: the key itself never enters
    # Settings, resource config or Dagster's records (see defs/deployment.py, dg.EnvVar).
    gcp_credentials_var: str | None = None

    @property
    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec(parse_windows(self.feature_windows), self.eligibility_days, self.definition)

    @property
    def calendar(self) -> LabelCalendar:
        """The label horizon's date arithmetic for these settings: a cancellation label also waits out the renewal
        grace after the horizon (a lapse on its last day may still be renewed)."""
        settle = self.renewal_grace_days if self.definition == CANCELLATION else 0
        return LabelCalendar(self.label_horizon_days, self.train_days, self.test_days, settle)

    @property
    def simulated(self) -> bool:
        """Whether the source is the simulator: no events file or query is set."""
        return not (self.events_file or self.events_query)

    @property
    def has_subscriptions(self) -> bool:
        """Whether the source has subscription periods: a file or query, or the simulator's subscription profile."""
        if self.subscriptions_file or self.subscriptions_query:
            return True
        return self.simulated and self.profile == "subscription"

    @property
    def last_day(self) -> date:
        """The source's last day: the last partition."""
        return self.start_date + timedelta(days=self.days - 1)

    def simulation(self) -> SimulationConfig:
        """The simulator's configuration from these settings."""
        return SimulationConfig(
            self.users,
            self.start_date,
            self.days,
            self.seed,
            self.drift_from,
            self.profile,
            self.control_share,
            self.sim_retention_effect,
            self.sim_signup_days or self.days,
        )

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {}  # a variable that is not set keeps the field's default
        for f in fields(cls):
            var = ENV_VARS[f.name]
            raw = env.get(var, "").strip()
            if f.name == "gcp_credentials_var":
                values[f.name] = _credentials_var(raw)
            elif raw:
                values[f.name] = _parse(var, raw, str(f.type))
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.deployment not in DEPLOYMENTS:
            raise SettingsError(
                f"CHURN_DEPLOYMENT={self.deployment!r} is not a known deployment; use one of {DEPLOYMENTS}"
            )
        if self.deployment == "gcp":
            for name in ("gcp_project", "gcs_bucket"):
                if not getattr(self, name):
                    raise SettingsError(f"CHURN_DEPLOYMENT=gcp needs {ENV_VARS[name]} (it is not set)")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{ENV_VARS[f.name]} must be a finite number, got {value}")
        for name, low in (
            ("days", 1),
            ("users", 10),  # the simulator's population: fewer cannot hold a day's events and a test window
            ("label_horizon_days", 1),
            ("eligibility_days", 1),
            ("training_max_rows", 1000),
            ("test_days", 1),
            ("drift_top_features", 1),
            ("sensor_seconds", 5),
            ("renewal_grace_days", 0),
            ("type_features", 0),
            ("call_list_size", 1),
            ("decay_days", 1),
            ("sim_signup_days", 1),
        ):
            if getattr(self, name) is not None and getattr(self, name) < low:
                raise SettingsError(f"{ENV_VARS[name]} must be at least {low}, got {getattr(self, name)}")
        _within("max_reject_share", self.max_reject_share, 0, 1)
        _within("max_shrink", self.max_shrink, 0, 1)
        _within("api_max_body_bytes", self.api_max_body_bytes, 1_000, 1_000_000_000)
        _within("promotion_margin", self.promotion_margin, 0, 1)
        _within("promotion_floor_roc_auc", self.promotion_floor_roc_auc, 0.5, 1)
        _within("baseline_margin", self.baseline_margin, 0, 1)
        _within("control_share", self.control_share, 0, 0.5)
        _within("decay_margin", self.decay_margin, 0, 1)
        _within("sim_retention_effect", self.sim_retention_effect, 0, 1)
        _within("call_cost", self.call_cost, 0, 1e9)
        _within("bq_retry_seconds", self.bq_retry_seconds, 1, 3600)
        _within("call_budget", self.call_budget, 0, 1e12)
        if self.call_budget and not self.call_cost:
            raise SettingsError("CHURN_CALL_BUDGET needs CHURN_CALL_COST (what one call costs) to count the calls")
        if not 1 < self.volume_tolerance <= 1000:
            raise SettingsError(f"CHURN_VOLUME_TOLERANCE must be above 1 and at most 1000, got {self.volume_tolerance}")
        self._validate_names()
        try:
            windows = parse_windows(self.feature_windows)
            FeatureSpec(windows, self.eligibility_days)
        except FeatureSpecError as exc:
            raise SettingsError(f"CHURN_FEATURE_WINDOWS={self.feature_windows!r}: {exc}") from None
        try:
            Vocabulary.parse(self.event_types)
        except VocabularyError as exc:
            raise SettingsError(str(exc)) from None
        if windows[-1] > 366:
            raise SettingsError(f"CHURN_FEATURE_WINDOWS: the longest window is at most 366 days, got {windows[-1]}")
        needed = self.calendar.min_label_days
        if self.train_days < needed:
            raise SettingsError(
                f"CHURN_TRAIN_DAYS must be at least CHURN_TEST_DAYS + CHURN_LABEL_HORIZON_DAYS + 1 = {needed} "
                f"(test window, gap, one training day), got {self.train_days}"
            )
        if not 0 < self.drift_warn_psi < self.drift_fail_psi:
            raise SettingsError(
                "need 0 < CHURN_DRIFT_WARN_PSI < CHURN_DRIFT_FAIL_PSI, "
                f"got {self.drift_warn_psi} and {self.drift_fail_psi}"
            )
        if self.refresh_cron and len(self.refresh_cron.split()) != 5:
            raise SettingsError(
                f"CHURN_REFRESH_CRON={self.refresh_cron!r} is not a cron schedule of five fields, e.g. '0 * * * *'"
            )
        if not 0 <= self.schedule_hour <= 23:
            raise SettingsError(f"CHURN_SCHEDULE_HOUR must be an hour 0-23 (UTC), got {self.schedule_hour}")
        if self.events_query and (self.deployment != "gcp" or self.events_file):
            raise SettingsError(
                "CHURN_EVENTS_QUERY (a BigQuery events source) needs CHURN_DEPLOYMENT=gcp and no CHURN_EVENTS_FILE"
            )
        if self.events_query and (problem := events_query_problem(self.events_query)):
            raise SettingsError(f"CHURN_EVENTS_QUERY {problem}")
        self._validate_subscriptions()
        if self.profile not in PROFILES:
            raise SettingsError(f"CHURN_PROFILE must be one of {list(PROFILES)}, got {self.profile!r}")
        if self.automation not in ("on", "off"):
            raise SettingsError(f"CHURN_AUTOMATION must be 'on' or 'off', got {self.automation!r}")
        if not 0 < self.risk_medium < self.risk_high <= 1:
            raise SettingsError(
                f"need 0 < CHURN_RISK_MEDIUM < CHURN_RISK_HIGH <= 1, got {self.risk_medium} and {self.risk_high}"
            )

    def _validate_subscriptions(self) -> None:
        if self.definition not in DEFINITIONS:
            raise SettingsError(f"CHURN_DEFINITION must be one of {list(DEFINITIONS)}, got {self.definition!r}")
        if self.subscriptions_query and (self.deployment != "gcp" or self.subscriptions_file):
            raise SettingsError(
                "CHURN_SUBSCRIPTIONS_QUERY (a BigQuery subscriptions source) needs CHURN_DEPLOYMENT=gcp and no "
                "CHURN_SUBSCRIPTIONS_FILE"
            )
        if self.subscriptions_query and (problem := events_query_problem(self.subscriptions_query)):
            raise SettingsError(f"CHURN_SUBSCRIPTIONS_QUERY {problem}")
        if self.definition == CANCELLATION and not self.has_subscriptions:
            source = "the simulator's purchase profile" if self.simulated else "the events"
            raise SettingsError(
                f"CHURN_DEFINITION=cancellation needs subscription periods, and {source} come with none: set "
                "CHURN_SUBSCRIPTIONS_FILE (--subscriptions-file) to a CSV/Parquet table of user_id, start_time, "
                "end_time (or CHURN_SUBSCRIPTIONS_QUERY on gcp), or use CHURN_DEFINITION=inactivity"
            )
        if self.renewal_grace_days > 60:
            raise SettingsError(f"CHURN_RENEWAL_GRACE_DAYS must be at most 60, got {self.renewal_grace_days}")
        if self.type_features > 50:
            raise SettingsError(f"CHURN_TYPE_FEATURES must be at most 50, got {self.type_features}")

    def _validate_names(self) -> None:
        """Names that end up in SQL text or object paths must be plain identifiers."""
        checks = (
            ("bq_dataset", BQ_DATASET, "letters, digits and underscores"),
            ("gcp_project", GCP_PROJECT, "a project id: 6-30 lowercase letters, digits and hyphens"),
            ("gcs_bucket", GCS_BUCKET, "a bucket name: lowercase letters, digits, '-', '_' and '.'"),
            ("duckdb_memory_limit", MEMORY_SIZE, "a memory size such as 1GB, 512MB or 2GiB"),
        )
        for name, pattern, expected in checks:
            value = getattr(self, name)
            if value is not None and not pattern.fullmatch(value):
                raise SettingsError(f"{ENV_VARS[name]}={value!r} is not {expected}")
        if ".." in self.gcs_prefix.split("/") or not re.fullmatch(r"[A-Za-z0-9._/-]*", self.gcs_prefix):
            raise SettingsError(f"CHURN_GCS_PREFIX={self.gcs_prefix!r} is not a plain object prefix")


@cache
def environment_settings() -> Settings:
    """This process's settings, read from its environment once: what the definitions are built from."""
    return Settings.from_env()


# each setting's variable: CHURN_ and its name in capitals (the key's variable is named by Google's convention)
ENV_VARS = {f.name: f"CHURN_{f.name.upper()}" for f in fields(Settings)} | {"gcp_credentials_var": CREDENTIALS_VAR}


def _within(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise SettingsError(f"{ENV_VARS[name]} must be within [{low}, {high}], got {value}")


def _credentials_var(raw: str) -> str | None:
    """Check the service-account key's shape without ever putting it into a message; keep only its variable name."""
    if not raw:
        return None
    try:
        info = service_account_info(raw)
    except ValueError:
        info = {}
    if "private_key" not in info or "client_email" not in info:
        raise SettingsError(
            f"{CREDENTIALS_VAR} is set but is not a base64-encoded service-account JSON key "
            "(with client_email and private_key); its value is not shown"
        )
    return CREDENTIALS_VAR


def _parse(var: str, raw: str, kind: str):
    """A variable's text as the field's type (``kind``: its annotation, e.g. ``int`` or ``date | None``)."""
    base = kind.split(" | ")[0]
    try:
        if base == "date":
            return date.fromisoformat(raw)
        if base == "str":
            return raw
        return {"Path": Path, "int": int, "float": float}[base](raw)
    except ValueError as exc:
        expected = {"date": "a date like 2026-01-01", "int": "a whole number", "float": "a number"}.get(base, base)
        raise SettingsError(f"{var}={raw!r} is not {expected}") from exc
