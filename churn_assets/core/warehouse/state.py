"""user_state: each user's lifetime aggregates at the end of every day, chained from the day before."""

from __future__ import annotations

from datetime import date, timedelta

from churn_assets.core.days import day_chunks
from churn_assets.core.warehouse.sql import ts


def user_state_select(schema: str, first: date, last: date, chain_start: bool) -> str:
    """Each user's lifetime aggregates at the end of every day t in first ... last: the state of the day before
    ``first`` plus the user_daily rows of first ... t. For one day this is state(t-1) + daily(t); for a range it
    is the same chain in one statement, so a day costs O(users) whatever the history. ``chain_start``: there is no
    day before ``first`` (the first partition).

    The running totals are taken over the users' own daily rows only (a purchase log touches a few customer-days
    in a hundred), and each total then holds from its row's day until the day before the user's next row; a user
    of the day before without a row yet keeps that day's state. (It gives the same rows as running totals over a
    grid of every user and day, at a fraction of the cost on a sparse log: docs/performance.md.)

    ``prev_active_date`` is the active day before ``last_active_date``. Each active day's predecessor is the
    latest active day before it (in the range, else the previous state's last); predecessors rise with the
    days, so the latest active day's predecessor is the running maximum of them."""
    prev_day = ts(first - timedelta(days=1))
    prev = "FALSE" if chain_start else f"as_of_date = {prev_day}"
    days = ", ".join(ts(first + timedelta(days=i)) for i in range((last - first).days + 1))
    after = ts(last + timedelta(days=1))
    return f"""WITH prev AS (SELECT * FROM {schema}.user_state WHERE {prev}),
d AS (SELECT * FROM {schema}.user_daily WHERE activity_date >= {ts(first)} AND activity_date <= {ts(last)}),
days AS (SELECT day FROM UNNEST([{days}]) AS day),
steps AS (
  SELECT d.*,
    MAX(IF(active, activity_date, NULL)) OVER (
      PARTITION BY user_id ORDER BY activity_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS active_before,
    LEAD(activity_date) OVER (PARTITION BY user_id ORDER BY activity_date) AS next_date
  FROM d
),
running AS (
  SELECT s.user_id, s.activity_date AS since, COALESCE(s.next_date, {after}) AS until,
    MIN(s.activity_date) OVER w AS first_seen,
    MIN(IF(s.active, s.activity_date, NULL)) OVER w AS first_active,
    MAX(IF(s.active, s.activity_date, NULL)) OVER w AS last_active,
    MAX(IF(s.active, COALESCE(s.active_before, p.last_active_date), NULL)) OVER w AS prev_active,
    SUM(IF(s.active, 1, 0)) OVER w AS active_days,
    SUM(COALESCE(s.events, 0)) OVER w AS events,
    SUM(COALESCE(s.minutes, 0)) OVER w AS minutes,
    SUM(COALESCE(s.amount, 0)) OVER w AS amount
  FROM steps AS s LEFT JOIN prev AS p ON p.user_id = s.user_id
  WINDOW w AS (PARTITION BY s.user_id ORDER BY s.activity_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
starts AS (SELECT user_id, MIN(activity_date) AS first_row FROM d GROUP BY user_id),
carried AS (
  SELECT p.user_id, days.day
  FROM prev AS p LEFT JOIN starts AS s ON s.user_id = p.user_id
  JOIN days ON days.day < COALESCE(s.first_row, {after})
)
SELECT
  r.user_id AS user_id,
  days.day AS as_of_date,
  COALESCE(p.first_seen_date, r.first_seen) AS first_seen_date,
  COALESCE(p.first_active_date, r.first_active) AS first_active_date,
  COALESCE(r.last_active, p.last_active_date) AS last_active_date,
  IF(r.last_active IS NULL, p.prev_active_date, r.prev_active) AS prev_active_date,
  COALESCE(p.active_days, 0) + r.active_days AS active_days,
  COALESCE(p.events, 0) + r.events AS events,
  ROUND(COALESCE(p.minutes, 0) + r.minutes, 6) AS minutes,
  ROUND(COALESCE(p.amount, 0) + r.amount, 6) AS amount
FROM running AS r JOIN days ON days.day >= r.since AND days.day < r.until
LEFT JOIN prev AS p ON p.user_id = r.user_id
UNION ALL
SELECT p.user_id, c.day, p.first_seen_date, p.first_active_date, p.last_active_date, p.prev_active_date,
  p.active_days, p.events, ROUND(p.minutes, 6), ROUND(p.amount, 6)
FROM carried AS c JOIN prev AS p ON p.user_id = c.user_id"""


STATE_CHUNK_DAYS = 30  # at least this many days per statement: its work is the rows it writes, users x days


def user_state_selects(schema: str, first: date, last: date, chain_start: bool, chunk_days: int) -> list[str]:
    """``user_state_select`` in chunks of ``chunk_days`` (at least ``STATE_CHUNK_DAYS``), run in order in one
    transaction: each chunk continues the state the chunk before it inserted. Each statement has a cost of its own
    (it reads the state of the day before its first and plans its window functions), so longer chunks cost less
    in all; the engine's ``chunk_days``, set for what user_features holds in memory, would be too short here."""
    chunks = day_chunks(first, last, max(chunk_days, STATE_CHUNK_DAYS))
    return [user_state_select(schema, a, b, chain_start and i == 0) for i, (a, b) in enumerate(chunks)]
