"""Resources that asset code asks for by key; ``defs/deployment.py`` decides which ones are bound.

The artifact stores' resources live with the stores, in ``io/artifacts.py`` and ``io/gcs.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from churn_assets.core.intake import query_source, sources, subscriptions
from churn_assets.core.intake.schema import SUBSCRIPTION_COLUMNS
from churn_assets.core.intake.vocabulary import Vocabulary
from churn_assets.core.simulation import simulate
from churn_assets.io.bigquery_engine import RETRY_SECONDS, BigQueryEngine
from churn_assets.io.duckdb_engine import DuckDBEngine
from churn_assets.io.warehouse import Engine


class ChurnSource(dg.ConfigurableResource):
    """Where raw users and events come from: the built-in simulator, or files when given.

    ``events_file`` is a CSV/Parquet path, or a per-day template with ``{date}``; ``users_file``
    is optional (users are then derived from their first event).
    """

    # every value comes from Settings (deployment.source_from): no default is repeated here
    users: int
    start_date: str
    days: int
    signup_days: int  # simulator: the days new users sign up over (CHURN_SIM_SIGNUP_DAYS, resolved by Settings)
    seed: int
    profile: str
    events_file: str | None
    users_file: str | None
    events_query: str | None  # gcp: a BigQuery table or query holding the events
    bq_project: str | None
    bq_location: str | None
    credentials_b64: str | None = None  # dg.EnvVar in the gcp deployment: gs:// files and the BigQuery source
    drift_from: str | None
    event_types: str  # CHURN_EVENT_TYPES: source type -> kind (core/intake/vocabulary.py)
    subscriptions_file: str | None = None  # CHURN_SUBSCRIPTIONS_FILE: periods (core/intake/subscriptions.py)
    subscriptions_query: str | None = None  # gcp: a BigQuery table or query holding the periods
    control_share: float = 0.10  # simulator: whom its retention effect never reaches (core/control.py)
    retention_effect: float = 0.0  # simulator: CHURN_SIM_RETENTION_EFFECT

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary.parse(self.event_types)

    @property
    def simulation(self) -> simulate.SimulationConfig:
        return simulate.SimulationConfig(
            users=self.users,
            start_date=date.fromisoformat(self.start_date),
            days=self.days,
            seed=self.seed,
            drift_from=date.fromisoformat(self.drift_from) if self.drift_from else None,
            profile=self.profile,
            control_share=self.control_share,
            retention_effect=self.retention_effect,
            signup_days=self.signup_days,
        )

    @property
    def files(self) -> sources.Files:
        paths = (self.events_file or "", self.users_file or "", self.subscriptions_file or "")
        if any(p.startswith("gs://") for p in paths):
            from churn_assets.io.objects import GCSFiles

            return GCSFiles(self.credentials_b64)
        return sources.LOCAL

    def _query(self, sql: str) -> pd.DataFrame:
        from churn_assets.io.bigquery_engine import BigQueryEngine

        return BigQueryEngine(self.bq_project, "", self.bq_location, self.credentials_b64).query(sql)

    def describe_subscriptions(self) -> str:
        if self.subscriptions_file or self.subscriptions_query:
            return f"subscriptions={self.subscriptions_file or self.subscriptions_query}"
        if self.events_file or self.events_query:
            return "no subscriptions source"
        return f"simulator({self.profile}) subscriptions"

    def describe(self) -> str:
        if self.events_query:
            return f"bigquery(events={self.events_query}, users={self.users_file or 'derived from events'})"
        if self.events_file:
            return f"files(events={self.events_file}, users={self.users_file or 'derived from events'})"
        drift = f", drift from {self.drift_from}" if self.drift_from else ""
        return (
            f"simulator({self.profile}, seed={self.seed}, users={self.users}, start={self.start_date}, "
            f"days={self.days}{drift})"
        )

    def read_users(self) -> pd.DataFrame:
        if self.users_file:
            return sources.read_users(self.users_file, self.files)
        if self.events_query:
            users = self._query(query_source.first_events_select(self.events_query, self.period_days()[-1]))
        elif self.events_file:
            users = sources.users_from_events(self.events_file, self.period_days(), self.files)
        else:
            return simulate.simulate_users(self.simulation)
        if self.subscriptions_file or self.subscriptions_query:  # a subscriber may never have acted
            users = subscriptions.with_subscribers(users, self.read_subscriptions())
        return users

    def read_subscriptions(self) -> pd.DataFrame:
        """The subscription periods: a file or template, a BigQuery source, the simulator's subscription profile;
        none (an empty table) for a source without them."""
        if self.subscriptions_file:
            return subscriptions.read_subscriptions(self.subscriptions_file, self.period_days(), self.files)
        if self.subscriptions_query:
            return self._query(query_source.subscriptions_query_select(self.subscriptions_query))
        if self.events_file or self.events_query:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in SUBSCRIPTION_COLUMNS})
        return simulate.simulate_subscriptions(self.simulation)

    def period_days(self) -> list[date]:
        start = date.fromisoformat(self.start_date)
        return [start + timedelta(days=i) for i in range(self.days)]

    def waiting_for(self, day: date) -> str | None:
        """None once the source holds day ``day``'s events, else what is missing (the refresh sensor's test). The
        simulator holds every day of its period."""
        if self.events_query:
            latest = self._query(query_source.latest_event_select(self.events_query))["latest"].iloc[0]
            return sources.holds_day(self.events_query, latest, day)
        if self.events_file:
            return sources.waiting_for(self.events_file, day, self.files)
        return None if day in self.period_days() else f"{day} is outside the simulated period"

    def read_events(self, day: date) -> pd.DataFrame:
        if self.events_query:
            frame = self._query(query_source.events_query_select(self.events_query, day))
            return query_source.finish_query_events(frame, f"{self.events_query} on {day}")
        if self.events_file:
            return sources.read_events(self.events_file, day, self.files)
        return simulate.simulate_events(self.simulation, day)


class QualityPolicy(dg.ConfigurableResource):
    """How strict validation is: the share of rejected rows that blocks, the row-count tolerance, and how much of a
    stored day a re-run may lose."""

    max_reject_share: float
    volume_tolerance: float
    max_shrink: float


class ModelPolicy(dg.ConfigurableResource):
    """How models are judged and used: the test window, promotion rule and risk tiers."""

    test_days: int
    promotion_margin: float
    promotion_floor_roc_auc: float
    baseline_margin: float
    risk_high: float
    risk_medium: float
    random_state: int = 0
    training_max_rows: int
    score_chunk_rows: int = 100_000
    type_features: int = 12  # CHURN_TYPE_FEATURES: the most frequent source types that become model inputs


class RetentionPolicy(dg.ConfigurableResource):
    """What retention work does with the predictions (docs/retention.md): how a customer is valued
    (``core/retention/value.py``), which share is held out as the control group, how long the call list is and
    what a call costs."""

    value_model: str
    control_share: float
    call_list_size: int
    call_cost: float = 0.0
    call_budget: float = 0.0


class DriftPolicy(dg.ConfigurableResource):
    """When feature drift warns, fails, and which features count as important."""

    warn_psi: float
    fail_psi: float
    top_features: int


class Warehouse(dg.ConfigurableResource):
    """Where the data layer's SQL runs; each deployment binds a subclass (``io/warehouse.py`` does the work)."""

    def engine(self) -> Engine:
        raise NotImplementedError

    @contextmanager
    def session(self) -> Iterator[Engine]:
        """The engine, its warehouse kept open for the block: an asset's statements share one open database
        (``Engine.held``) and other processes wait for the block, not only for each statement."""
        with self.engine().held() as engine:
            yield engine


class DuckDBWarehouse(Warehouse):
    """The embedded warehouse: a DuckDB file, tables in ``schema``."""

    database: str
    schema_name: str = "churn"
    memory_limit: str

    def engine(self) -> Engine:
        return DuckDBEngine(self.database, self.schema_name, self.memory_limit)


class BigQueryWarehouse(Warehouse):
    """A BigQuery dataset; the service-account key arrives as ``dg.EnvVar`` (or Application Default Credentials)."""

    project: str
    dataset: str
    location: str | None = None
    credentials_b64: str | None = None
    retry_seconds: float = RETRY_SECONDS  # CHURN_BQ_RETRY_SECONDS

    def engine(self) -> Engine:
        return BigQueryEngine(self.project, self.dataset, self.location, self.credentials_b64, self.retry_seconds)
