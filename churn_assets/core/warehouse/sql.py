"""The warehouse's SQL dialect and tables: GoogleSQL as written, translated for DuckDB, and the declared types.

Every statement is written once, in BigQuery's GoogleSQL, and SQLGlot translates it for DuckDB
(``for_engine``). GoogleSQL is the stricter of the two (no implicit casts, no ``FILTER`` clauses),
so what it accepts has a faithful DuckDB translation; the other direction produces functions
BigQuery lacks. Days are UTC midnights stored as TIMESTAMP.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

import sqlglot

from churn_assets.core.intake.schema import DAILY_COUNT_COLUMNS, EVENT_COLUMNS, SUBSCRIPTION_COLUMNS, USER_COLUMNS
from churn_assets.core.warehouse.feature_spec import CATEGORICAL_FEATURES, FeatureSpec, is_float_feature

ENGINES = ("bigquery", "duckdb")
PARTITION_LOG = "partition_log"

DAILY_TYPES = {
    "user_id": "STRING",
    "activity_date": "TIMESTAMP",
    "events": "INT64",
    **{c: "INT64" for c in DAILY_COUNT_COLUMNS.values()},
    "minutes": "FLOAT64",
    "amount": "FLOAT64",
    "active": "BOOL",
}
STATE_TYPES = {
    "user_id": "STRING",
    "as_of_date": "TIMESTAMP",
    "first_seen_date": "TIMESTAMP",
    "first_active_date": "TIMESTAMP",
    "last_active_date": "TIMESTAMP",
    "prev_active_date": "TIMESTAMP",
    "active_days": "INT64",
    "events": "INT64",
    "minutes": "FLOAT64",
    "amount": "FLOAT64",
}
# The tables the IO managers write from pandas are created with these declared types, never with types inferred
# from a first load (an empty or all-null first load would otherwise fix an id column as INTEGER forever).
_EVENT_TEXT = {c: "STRING" for c in EVENT_COLUMNS}
_USER_TEXT = {c: "STRING" for c in USER_COLUMNS}
RAW_TYPES = {
    "raw_users": {"user_id": "STRING", "signup_time": "TIMESTAMP", "plan": "STRING", "country": "STRING",
                  "channel": "STRING"},
    "raw_users_quarantine": {**_USER_TEXT, "reason": "STRING"},
    "raw_events": {"event_id": "STRING", "user_id": "STRING", "event_time": "TIMESTAMP", "event_type": "STRING",
                   "minutes": "FLOAT64", "amount": "FLOAT64"},
    "raw_events_quarantine": {**_EVENT_TEXT, "reason": "STRING", "partition_time": "TIMESTAMP"},
    "raw_subscriptions": {"user_id": "STRING", "start_time": "TIMESTAMP", "end_time": "TIMESTAMP", "plan": "STRING",
                          "mrr": "FLOAT64"},
    "raw_subscriptions_quarantine": {**{c: "STRING" for c in SUBSCRIPTION_COLUMNS}, "reason": "STRING"},
}  # fmt: skip
SUBSCRIPTION_STATE_TYPES = {
    "user_id": "STRING",
    "as_of_date": "TIMESTAMP",
    "covered": "BOOL",
    "first_start_date": "TIMESTAMP",
    "streak_start_date": "TIMESTAMP",
    "period_start_date": "TIMESTAMP",
    "tenure_periods": "INT64",
    "periods_paid": "INT64",
    "plan": "STRING",
    "mrr": "FLOAT64",
    "mrr_change": "FLOAT64",
    "days_to_period_end": "INT64",
    "period_days": "INT64",
    "past_lapses": "INT64",
}
TYPE_FEATURE_TYPES = {
    "user_id": "STRING",
    "as_of_date": "TIMESTAMP",
    "event_type": "STRING",
    "short_events": "INT64",
    "long_events": "INT64",
    "trend_events": "INT64",
}
LABEL_TYPES = {"user_id": "STRING", "as_of_date": "TIMESTAMP", "churned": "INT64", "horizon_days": "INT64"}
LOG_TYPES = {"table_name": "STRING", "partition_date": "TIMESTAMP", "row_count": "INT64", "written_at": "TIMESTAMP"}
# the column each table is partitioned by: one UTC day per partition
PARTITION_COLUMNS = {
    "user_daily": "activity_date",
    "user_state": "as_of_date",
    "subscription_state": "as_of_date",
    "user_features": "as_of_date",
    "user_type_features": "as_of_date",
    "churn_labels": "as_of_date",
    "training_set": "training_window_end",
}


def feature_types(spec: FeatureSpec) -> dict[str, str]:
    """Column types of user_features for the feature windows of ``spec``."""
    numeric = {c: "FLOAT64" if is_float_feature(c) else "INT64" for c in spec.numeric}
    return {"user_id": "STRING", "as_of_date": "TIMESTAMP", **{c: "STRING" for c in CATEGORICAL_FEATURES}, **numeric}


def training_types(spec: FeatureSpec) -> dict[str, str]:
    """Column types of training_set: the features, the label and the window's end."""
    return {**feature_types(spec), "churned": "INT64", "training_window_end": "TIMESTAMP"}


def table_types(table: str, spec: FeatureSpec) -> dict[str, str]:
    """Column types of ``table`` (a computed table or partition_log)."""
    fixed = {"user_daily": DAILY_TYPES, "user_state": STATE_TYPES, "churn_labels": LABEL_TYPES}
    fixed |= {"subscription_state": SUBSCRIPTION_STATE_TYPES, "user_type_features": TYPE_FEATURE_TYPES}
    fixed |= {PARTITION_LOG: LOG_TYPES}
    if table in fixed:
        return fixed[table]
    return {"user_features": feature_types, "training_set": training_types}[table](spec)


DAY_LITERAL = re.compile(r"'(\d{4}-\d{2}-\d{2}) 00:00:00\+00'")


def for_engine(sql: str, engine: str) -> str:
    """GoogleSQL as written, or translated for DuckDB.

    Statements that differ only in their days (the state chain, feature chunks) share one translation:
    the day literals become numbered placeholders, the template is translated once and cached, and the
    days are put back. SQLGlot keeps a string literal's text as it is."""
    if engine == "bigquery":
        return sql
    if engine != "duckdb":
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    days: list[str] = []

    def placeholder(match: re.Match) -> str:
        days.append(match.group(1))
        return f"'@day{len(days) - 1}@ 00:00:00+00'"

    out = _translate(DAY_LITERAL.sub(placeholder, sql))
    return re.sub(r"@day(\d+)@", lambda m: days[int(m.group(1))], out)


@lru_cache(maxsize=256)
def _translate(sql: str) -> str:
    return ";\n".join(sqlglot.transpile(sql, read="bigquery", write="duckdb"))


def epoch_day(expr: str) -> str:
    """Whole days since 1970-01-01 of a timestamp. Day arithmetic goes through epoch seconds: DuckDB's calendar
    functions on TIMESTAMPTZ (date_diff, date_trunc, + INTERVAL) go through ICU and cost 50-100x as much."""
    return f"DIV(UNIX_SECONDS({expr}), 86400)"


def days_between(later: str, earlier: str) -> str:
    """SQL for the whole days from the TIMESTAMP ``earlier`` to ``later``."""
    return f"({epoch_day(later)} - {epoch_day(earlier)})"


def day_of(expr: str) -> str:
    """The UTC midnight that starts the day of a timestamp."""
    return f"TIMESTAMP_SECONDS({epoch_day(expr)} * 86400)"


def plus_days(expr: str, days: int) -> str:
    """SQL for the TIMESTAMP ``expr`` moved by ``days`` days."""
    return f"TIMESTAMP_SECONDS(UNIX_SECONDS({expr}) + {days * 86400})"


def ts(day: date) -> str:
    """A day as a UTC-midnight TIMESTAMP literal."""
    return f"TIMESTAMP '{day.isoformat()} 00:00:00+00'"


def create_table(schema: str, table: str, types: dict[str, str]) -> str:
    """A ``CREATE TABLE IF NOT EXISTS`` statement for ``schema.table`` with ``types``."""
    columns = ",\n  ".join(f"{name} {kind}" for name, kind in types.items())
    return f"CREATE TABLE IF NOT EXISTS {schema}.{table} (\n  {columns}\n)"
