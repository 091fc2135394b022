"""user_daily: one row per user and UTC day, the day's events counted by kind (SQL run in the warehouse).

The builders in this folder return GoogleSQL SELECT statements for one day or a range; the warehouse
(``io/warehouse.py``) translates them for its engine (``core/warehouse/sql.py``) and inserts them into the table's
partitions inside one transaction.
"""

from __future__ import annotations

from datetime import date, timedelta

from churn_assets.core.intake.schema import DAILY_COUNT_COLUMNS
from churn_assets.core.intake.vocabulary import Vocabulary, kinds_where
from churn_assets.core.warehouse.sql import day_of, ts


def user_daily_select(schema: str, first: date, last: date, vocabulary: Vocabulary) -> str:
    """One row per (user, UTC day) with any counted event in first ... last: counts by kind, value sums, ``active``.

    Each event's kind comes from the vocabulary (core/intake/vocabulary.py); ``ignore``d types count nowhere.
    ``active`` means a user-initiated event (session, feature use, support ticket, purchase); billing events
    alone do not make a day active, because a subscription bills whether or not anyone uses it. ``amount`` is
    the value of purchases and payments (a failed payment's amount is not revenue)."""
    cases = " ".join(f"WHEN '{source}' THEN '{kind}'" for source, kind in vocabulary.mapping)
    kind = f"CASE event_type {cases} ELSE event_type END" if cases else "event_type"
    counts = ",\n  ".join(f"COUNTIF(kind = '{k}') AS {c}" for k, c in DAILY_COUNT_COLUMNS.items())
    active = ", ".join(f"'{k}'" for k in kinds_where(active=True))
    value = ", ".join(f"'{k}'" for k in kinds_where(value=True))
    counted = ", ".join(f"'{k}'" for k in DAILY_COUNT_COLUMNS)
    return f"""WITH typed AS (
  SELECT user_id, event_time, minutes, amount, {kind} AS kind
  FROM {schema}.raw_events
  WHERE event_time >= {ts(first)} AND event_time < {ts(last + timedelta(days=1))}
)
SELECT
  user_id,
  {day_of("event_time")} AS activity_date,
  COUNT(*) AS events,
  {counts},
  ROUND(CAST(SUM(COALESCE(minutes, 0)) AS FLOAT64), 6) AS minutes,
  ROUND(CAST(SUM(IF(kind IN ({value}), COALESCE(amount, 0), 0)) AS FLOAT64), 6) AS amount,
  COUNTIF(kind IN ({active})) > 0 AS active
FROM typed
WHERE kind IN ({counted})
GROUP BY user_id, activity_date"""
