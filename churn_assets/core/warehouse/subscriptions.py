"""subscription_state and the cancellation label: SQL over raw_subscriptions (one row per period).

A period covers the end of day t (the instant E(t), midnight after t) when it starts before E(t) and ends at or
after it (an empty end: still running). A user's periods in order of start form *streaks*: a period that
starts within the renewal grace of the previous period's end continues the streak, a later one starts a new
streak (the gap between them was a lapse). Every figure of day t comes from the periods that started before
E(t): the state never looks ahead. Only the label reads the end of the streak that covers t.
"""

from __future__ import annotations

from datetime import date

from churn_assets.core.warehouse.sql import day_of, epoch_day, ts

# DIV's arguments are parenthesized: the DuckDB translation writes DIV(a - b, c) as a - b // c

DAY = 86_400
EPOCH = date(1970, 1, 1)
# The current row's end is never a feature: in a billing export it is the paid-through date, known when it was
# paid, but in a subscriptions export it is the cancellation, which nobody knew before it happened. The billing
# period's length is the previous row's (a finished row of at most 93 days), else 30 days, and the next renewal is
# the next such anniversary of the current row's start.
MAX_BILLING_PERIOD_DAYS = 93
ASSUMED_PERIOD_DAYS = 30


def streaks_ctes(schema: str, grace_days: int) -> str:
    """The CTEs ``periods`` and ``streaks``: each period with its number, the previous period's MRR, the next
    period's start, its streak number, the streak's start and end (NULL while it runs) and its place in it."""
    return f"""periods AS (
  SELECT user_id, start_time, end_time, plan, mrr,
    LAG(mrr) OVER w AS prev_mrr,
    LAG(start_time) OVER w AS last_start,
    LAG(end_time) OVER w AS last_end,
    LEAD(start_time) OVER w AS next_start,
    ROW_NUMBER() OVER w AS period_no,
    MAX(end_time) OVER (
      PARTITION BY user_id ORDER BY start_time ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS prev_end,
    MIN(start_time) OVER (PARTITION BY user_id) AS first_start
  FROM {schema}.raw_subscriptions
  WINDOW w AS (PARTITION BY user_id ORDER BY start_time)
),
numbered AS (
  SELECT *,
    SUM(IF(prev_end IS NULL OR UNIX_SECONDS(start_time) > UNIX_SECONDS(prev_end) + {grace_days * DAY}, 1, 0)) OVER (
      PARTITION BY user_id ORDER BY start_time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS streak_no
  FROM periods
),
streaks AS (
  SELECT *,
    MIN(start_time) OVER s AS streak_start,
    IF(SUM(IF(end_time IS NULL, 1, 0)) OVER s > 0, NULL, MAX(end_time) OVER s) AS streak_end,
    ROW_NUMBER() OVER (PARTITION BY user_id, streak_no ORDER BY start_time) AS period_in_streak
  FROM numbered
  WINDOW s AS (PARTITION BY user_id, streak_no)
)"""


def subscription_state_select(schema: str, first: date, last: date, grace_days: int) -> str:
    """One row per (user, day t) in first ... last from the user's first period on: the period current at E(t)
    (the latest that started before it), whether it covers E(t), the streak's start, periods in the streak and in
    all, plan, MRR and its change against the period before, days to the next renewal, the billing period's
    length and the lapses before the streak. Each period is expanded over the days it is current, so a range costs its
    rows whatever the history."""
    first_day, last_day = (first - EPOCH).days, (last - EPOCH).days
    end_of_day = f"(day + 1) * {DAY}"
    covered = f"(end_time IS NULL OR UNIX_SECONDS(end_time) >= {end_of_day})"
    last_length = f"DIV((UNIX_SECONDS(last_end) - UNIX_SECONDS(last_start) + {DAY // 2}), {DAY})"
    known = f"last_end IS NOT NULL AND {last_length} BETWEEN 1 AND {MAX_BILLING_PERIOD_DAYS}"
    length = f"IF({known}, {last_length}, {ASSUMED_PERIOD_DAYS})"
    to_end = f"{length} - MOD(day - {epoch_day('start_time')}, {length})"
    return f"""WITH {streaks_ctes(schema, grace_days)}
SELECT
  user_id,
  TIMESTAMP_SECONDS(day * {DAY}) AS as_of_date,
  {covered} AS covered,
  {day_of("first_start")} AS first_start_date,
  {day_of("streak_start")} AS streak_start_date,
  {day_of("start_time")} AS period_start_date,
  period_in_streak AS tenure_periods,
  period_no AS periods_paid,
  plan,
  mrr,
  ROUND(COALESCE(mrr, 0) - COALESCE(prev_mrr, mrr, 0), 6) AS mrr_change,
  IF({covered}, {to_end}, NULL) AS days_to_period_end,
  {length} AS period_days,
  streak_no - 1 AS past_lapses
FROM streaks
CROSS JOIN UNNEST(GENERATE_ARRAY(
  GREATEST({epoch_day("start_time")}, {first_day}),
  LEAST(COALESCE({epoch_day("next_start")} - 1, {last_day}), {last_day})
)) AS day"""


# --8<-- [start:cancellation_rule]
def cancellation_labels_select(schema: str, first: date, last: date, horizon: int, grace_days: int) -> str:
    """Labels for the users of user_features as of first ... last (the subscribers covered at the end of t):
    churned when the streak covering E(t) ends before E(t+H), i.e. coverage lapses on one of t+1 ... t+H and no
    renewal starts within the grace of that end (one that does continues the streak)."""
    return f"""WITH {streaks_ctes(schema, grace_days)},
spans AS (SELECT DISTINCT user_id, streak_start, streak_end FROM streaks)
SELECT
  f.user_id AS user_id,
  f.as_of_date AS as_of_date,
  IF(sp.streak_end IS NOT NULL AND UNIX_SECONDS(sp.streak_end) < UNIX_SECONDS(f.as_of_date) + {(horizon + 1) * DAY},
     1, 0) AS churned,
  {horizon} AS horizon_days
FROM {schema}.user_features AS f
JOIN spans AS sp
  ON sp.user_id = f.user_id
  AND UNIX_SECONDS(sp.streak_start) < UNIX_SECONDS(f.as_of_date) + {DAY}
  AND (sp.streak_end IS NULL OR UNIX_SECONDS(sp.streak_end) >= UNIX_SECONDS(f.as_of_date) + {DAY})
WHERE f.as_of_date >= {ts(first)} AND f.as_of_date <= {ts(last)}"""


# --8<-- [end:cancellation_rule]
