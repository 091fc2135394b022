"""A BigQuery events source (``CHURN_EVENTS_QUERY``): a table name or a GoogleSQL query, read one UTC day at a time.

The statements here run in BigQuery; ``finish_query_events`` shapes a day's rows like a file's (see sources.py).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pandas as pd

from churn_assets.core.intake.sources import typed_events


def latest_event_select(query: str) -> str:
    """The newest event time of a BigQuery events source (the refresh sensor's readiness test)."""
    return f"SELECT MAX(event_time) AS latest FROM {_source_from(query)} AS src"


# A BigQuery events source (CHURN_EVENTS_QUERY): a table name, or a GoogleSQL query
TABLE_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


def events_query_problem(query: str) -> str | None:
    """Why ``query`` is not one read-only SELECT (or a table name), or None: checked when the settings are read,
    before anything runs, so a query with an appended statement or one that writes never reaches BigQuery."""
    import sqlglot
    from sqlglot import exp

    if TABLE_NAME.fullmatch(query):
        return None
    try:
        statements = [s for s in sqlglot.parse(query, read="bigquery") if s is not None]
    except sqlglot.errors.ParseError as exc:
        return f"is not GoogleSQL that parses: {str(exc).splitlines()[0]}"
    if len(statements) != 1:
        return f"holds {len(statements)} statements; give one SELECT (or a table name)"
    [statement] = statements
    if not isinstance(statement, exp.Query):
        return f"is a {statement.key.upper()} statement, not a SELECT: the events source is read, never written"
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command)
    if any(isinstance(node, writes) for node in statement.walk()):
        return "writes inside its SELECT: the events source is read, never written"
    return None


def _source_from(query: str) -> str:
    return f"`{query}`" if TABLE_NAME.fullmatch(query) else f"({query})"


def events_query_select(query: str, day: date) -> str:
    """One UTC day of a BigQuery events source; the time range is a filter BigQuery pushes into the source
    (partition pruning on a table partitioned by event_time)."""
    start, end = (d.isoformat() for d in (day, day + timedelta(days=1)))
    return (
        f"SELECT * FROM {_source_from(query)} AS src "
        f"WHERE event_time >= TIMESTAMP '{start} 00:00:00+00' AND event_time < TIMESTAMP '{end} 00:00:00+00'"
    )


def first_events_select(query: str, last: date) -> str:
    """Users of a BigQuery events source derived from their first event up to ``last``."""
    end = (last + timedelta(days=1)).isoformat()
    return (
        f"SELECT CAST(user_id AS STRING) AS user_id, MIN(event_time) AS signup_time FROM {_source_from(query)} AS src "
        f"WHERE event_time < TIMESTAMP '{end} 00:00:00+00' AND user_id IS NOT NULL GROUP BY 1 ORDER BY 1"
    )


def subscriptions_query_select(query: str) -> str:
    """Every period of a BigQuery subscriptions source (``CHURN_SUBSCRIPTIONS_QUERY``): the table is small beside
    the events (a row per user and billing period) and read whole."""
    return f"SELECT * FROM {_source_from(query)} AS src"


def finish_query_events(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """A day read from a BigQuery source, shaped like a file's: the same defaults, and ids when it has none
    (user, time and the row's rank among identical ones: the same on every read)."""
    frame = typed_events(frame, where)
    if "event_id" not in frame.columns:
        frame = frame.sort_values(["user_id", "event_time"], kind="stable").reset_index(drop=True)
        rank = frame.groupby(["user_id", "event_time"]).cumcount().astype(str)
        stamp = pd.to_datetime(frame["event_time"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        frame.insert(0, "event_id", frame["user_id"].astype(str) + "@" + stamp + "#" + rank)
    return frame
