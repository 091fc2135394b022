"""Reads of the warehouse's tables: the training extract, the checks' summaries, previews and scoring reads."""

from __future__ import annotations

from datetime import date

from churn_assets.core.warehouse.feature_spec import FeatureSpec, may_be_negative
from churn_assets.core.warehouse.sql import (
    PARTITION_COLUMNS,
    ts,
)
from churn_assets.core.warehouse.types import with_types


def training_extract_select(schema: str, first: date, last: date, spec: FeatureSpec, fraction: float) -> str:
    """user_features joined with churn_labels over first ... last, sampled inside the warehouse.

    Stratified by (day, label): each stratum keeps FLOOR(fraction * its rows) rows, chosen by the MD5 of user
    id and day (the same rows on every engine and every run), so the sample never exceeds fraction * all rows
    and every day keeps its churn rate. The rows are ranked on the narrow label table first; only the chosen
    ones are joined with their features."""
    feature_columns = ", ".join(f"f.{c}" for c in spec.columns)
    return f"""WITH ranked AS (
  SELECT user_id, as_of_date, churned,
    ROW_NUMBER() OVER (
      PARTITION BY as_of_date, churned
      ORDER BY TO_HEX(MD5(CONCAT(user_id, '|', FORMAT_TIMESTAMP('%Y-%m-%d', as_of_date))))
    ) AS sample_rank,
    COUNT(*) OVER (PARTITION BY as_of_date, churned) AS stratum_rows
  FROM {schema}.churn_labels
  WHERE as_of_date >= {ts(first)} AND as_of_date <= {ts(last)}
)
SELECT {feature_columns}, r.churned AS churned, {ts(last)} AS training_window_end
FROM ranked AS r
JOIN {schema}.user_features AS f ON f.user_id = r.user_id AND f.as_of_date = r.as_of_date
WHERE r.sample_rank <= FLOOR({fraction!r} * r.stratum_rows)"""


def feature_summary_select(schema: str, first: date, last: date, spec: FeatureSpec) -> str:
    """Per day: rows, duplicate (user, day) rows, missing values and negative values where none may be.
    Trends are differences and may be negative; every other numeric feature is a count, sum or age."""
    missing = " + ".join(f"IF({c} IS NULL, 1, 0)" for c in spec.numeric)
    negative = " + ".join(f"IF({c} < 0, 1, 0)" for c in spec.numeric if not may_be_negative(c))
    return f"""SELECT
  as_of_date AS day,
  COUNT(*) AS row_count,
  COUNT(*) - COUNT(DISTINCT user_id) AS duplicate_rows,
  SUM({missing}) AS missing_values,
  SUM({negative}) AS negative_values
FROM {schema}.user_features
WHERE as_of_date >= {ts(first)} AND as_of_date <= {ts(last)}
GROUP BY as_of_date"""


def label_summary_select(schema: str, first: date, last: date) -> str:
    """Per day: labelled users and churners."""
    return f"""SELECT as_of_date AS day, COUNT(*) AS labelled, SUM(churned) AS churned
FROM {schema}.churn_labels
WHERE as_of_date >= {ts(first)} AND as_of_date <= {ts(last)}
GROUP BY as_of_date"""


# What identifies a row within a day, where it is more than the user: the preview ranks and joins back on it
ROW_KEYS = {"user_type_features": ["user_id", "event_type"], "training_set": ["user_id", "as_of_date"]}


def preview_select(schema: str, table: str, first: date, last: date, rows: int = 5) -> str:
    """The first ``rows`` rows (by their key, ``ROW_KEYS``) of each day of first ... last: every partition's own
    preview. The days' first keys are ranked on the key columns alone and their rows joined back: ranking whole
    rows sorted every column of the range (millions of rows of user_state in a long log's first run) to keep five
    a day."""
    column = PARTITION_COLUMNS[table]
    keys = ROW_KEYS.get(table, ["user_id"])
    order = ", ".join(keys)

    def within(day: str) -> str:
        return f"{day} >= {ts(first)} AND {day} <= {ts(last)}"

    on = " AND ".join(f"t.{k} = k.{k}" for k in [column, *keys])
    return (
        f"WITH k AS (SELECT {column}, {order} FROM {schema}.{table} WHERE {within(column)} "
        f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {column} ORDER BY {order}) <= {rows}) "
        f"SELECT t.* FROM {schema}.{table} AS t JOIN k ON {on} WHERE {within('t.' + column)} "
        f"ORDER BY t.{column}, " + ", ".join(f"t.{k}" for k in keys)
    )


def scored_day_select(
    schema: str, first: date, last: date, prefixes: dict[str, str] | None = None, spec: FeatureSpec | None = None
) -> str:
    """The user_features rows to score, with the columns of the model's source types (``prefixes``, from its
    card), in a fixed order (chunks of it are read one after another)."""
    rows = f"SELECT * FROM {schema}.user_features WHERE as_of_date >= {ts(first)} AND as_of_date <= {ts(last)}"
    if prefixes and spec is not None:
        rows = f"SELECT * FROM ({with_types(schema, rows, prefixes, spec)}) AS typed"
    return f"{rows} ORDER BY as_of_date, user_id"


def label_days_select(schema: str, first: date, last: date) -> str:
    """Per labelled day in first ... last: rows and churned rows (what a training window would hold)."""
    return f"""SELECT as_of_date AS day, COUNT(*) AS rows, SUM(churned) AS positives
FROM {schema}.churn_labels WHERE as_of_date >= {ts(first)} AND as_of_date <= {ts(last)}
GROUP BY as_of_date"""


def training_summary_select(schema: str, end: date) -> str:
    """Label days and positive rate of the training set whose window ends on ``end``."""
    return f"""SELECT COUNT(DISTINCT as_of_date) AS label_days, AVG(churned) AS positive_rate
FROM {schema}.training_set WHERE training_window_end = {ts(end)}"""


def predictions_day_select(schema: str, day: date) -> str:
    """One scored day of churn_predictions."""
    return f"SELECT * FROM {schema}.churn_predictions WHERE as_of_date = {ts(day)} ORDER BY `rank`"


def outcome_rows_select(schema: str, day: date) -> str:
    """A scored day's predictions with their labels and the users' histories as of the day (for the baselines):
    only users both scored and labelled (the same eligible users, unless a table was re-run since). A row
    written before predictions carried ``control`` counts as targeted."""
    return f"""SELECT p.user_id, p.as_of_date, p.churn_probability, p.risk_tier, p.model_version,
  COALESCE(p.control, FALSE) AS control, l.churned,
  f.lifetime_active_days, f.days_since_first_activity, f.days_since_last_activity
FROM {schema}.churn_predictions AS p
JOIN {schema}.churn_labels AS l ON l.user_id = p.user_id AND l.as_of_date = p.as_of_date
JOIN {schema}.user_features AS f ON f.user_id = p.user_id AND f.as_of_date = p.as_of_date
WHERE p.as_of_date = {ts(day)} AND l.as_of_date = {ts(day)} AND f.as_of_date = {ts(day)}
ORDER BY p.user_id"""


def realized_select(schema: str) -> str:
    """Each judged day's realized ROC-AUC (all users) and the version that scored it."""
    return f"""SELECT as_of_date, model_version, roc_auc FROM {schema}.prediction_outcomes
WHERE group_name = 'all' AND risk_tier = 'all' ORDER BY as_of_date"""
