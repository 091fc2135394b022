"""user_state: each user's lifetime aggregates at the end of every day, chained from the day before."""

from __future__ import annotations

from datetime import date, timedelta

from churn_assets.core.days import day_chunks
from churn_assets.core.warehouse.sql import ts


def user_state_select(schema: str, first: date, last: date, chain_start: bool) -> str:
    """Each user's lifetime aggregates at the end of every day t in first ... last: the state of the day before
    ``first`` plus the user_daily rows of first ... t. For one day this is state(t-1) + daily(t); for a range it
    is the same chain in one statement (running totals per user over the range's days), so a day costs O(users)
    whatever the history. ``chain_start``: there is no day before ``first`` (the first partition).

    ``prev_active_date`` is the active day before ``last_active_date``. Each active day's predecessor is the
    latest active day before it (in the range, else the previous state's last); predecessors rise with the
    days, so the latest active day's predecessor is the running maximum of them."""
    prev_day = ts(first - timedelta(days=1))
    prev = "FALSE" if chain_start else f"as_of_date = {prev_day}"
    days = ", ".join(ts(first + timedelta(days=i)) for i in range((last - first).days + 1))
    return f"""WITH prev AS (SELECT * FROM {schema}.user_state WHERE {prev}),
d AS (SELECT * FROM {schema}.user_daily WHERE activity_date >= {ts(first)} AND activity_date <= {ts(last)}),
people AS (SELECT user_id FROM prev UNION DISTINCT SELECT user_id FROM d),
grid AS (
  SELECT people.user_id, day, d.activity_date, d.active, d.events, d.minutes, d.amount
  FROM people CROSS JOIN UNNEST([{days}]) AS day
  LEFT JOIN d ON d.user_id = people.user_id AND d.activity_date = day
),
steps AS (
  SELECT grid.*,
    MAX(IF(active, activity_date, NULL)) OVER (
      PARTITION BY user_id ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS active_before
  FROM grid
),
running AS (
  SELECT s.user_id, s.day,
    MIN(s.activity_date) OVER w AS first_seen,
    MIN(IF(s.active, s.activity_date, NULL)) OVER w AS first_active,
    MAX(IF(s.active, s.activity_date, NULL)) OVER w AS last_active,
    MAX(IF(s.active, COALESCE(s.active_before, p.last_active_date), NULL)) OVER w AS prev_active,
    SUM(IF(s.active, 1, 0)) OVER w AS active_days,
    SUM(COALESCE(s.events, 0)) OVER w AS events,
    SUM(COALESCE(s.minutes, 0)) OVER w AS minutes,
    SUM(COALESCE(s.amount, 0)) OVER w AS amount
  FROM steps AS s LEFT JOIN prev AS p ON p.user_id = s.user_id
  WINDOW w AS (PARTITION BY s.user_id ORDER BY s.day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT
  r.user_id AS user_id,
  r.day AS as_of_date,
  COALESCE(p.first_seen_date, r.first_seen) AS first_seen_date,
  COALESCE(p.first_active_date, r.first_active) AS first_active_date,
  COALESCE(r.last_active, p.last_active_date) AS last_active_date,
  IF(r.last_active IS NULL, p.prev_active_date, r.prev_active) AS prev_active_date,
  COALESCE(p.active_days, 0) + r.active_days AS active_days,
  COALESCE(p.events, 0) + r.events AS events,
  ROUND(COALESCE(p.minutes, 0) + r.minutes, 6) AS minutes,
  ROUND(COALESCE(p.amount, 0) + r.amount, 6) AS amount
FROM running AS r LEFT JOIN prev AS p ON p.user_id = r.user_id
WHERE p.user_id IS NOT NULL OR r.first_seen IS NOT NULL"""


def user_state_selects(schema: str, first: date, last: date, chain_start: bool, chunk_days: int) -> list[str]:
    """``user_state_select`` in chunks of ``chunk_days``, run in order in one transaction: each chunk continues
    the state the chunk before it inserted, so one statement's running-totals grid is users x chunk_days.
    (On the 44,000-user benchmark the process peak stayed at about 1.9 GB either way: the grid is not what
    holds the most memory there.)"""
    chunks = day_chunks(first, last, chunk_days)
    return [user_state_select(schema, a, b, chain_start and i == 0) for i, (a, b) in enumerate(chunks)]
