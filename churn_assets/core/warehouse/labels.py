"""The label rules: churn_labels of the eligible users. Inactivity: from user_state at the end of the horizon;
cancellation: from the subscription periods (``core/warehouse/subscriptions.py``)."""

from __future__ import annotations

from datetime import date, timedelta

from churn_assets.core.warehouse.feature_spec import CANCELLATION
from churn_assets.core.warehouse.sql import plus_days, ts
from churn_assets.core.warehouse.subscriptions import cancellation_labels_select


def labels_select(schema: str, first: date, last: date, horizon: int, *, definition: str, grace_days: int) -> str:
    """The label rule of ``definition`` for first ... last."""
    if definition == CANCELLATION:
        return cancellation_labels_select(schema, first, last, horizon, grace_days)
    return churn_labels_select(schema, first, last, horizon)


# --8<-- [start:label_rule]
def churn_labels_select(schema: str, first: date, last: date, horizon: int) -> str:
    """Labels for the users of user_features as of first ... last (the eligible ones): churned when the user's
    last active day as of t+H, from user_state, is still on or before t (no active day in t+1 ... t+H). The state's
    days are also bounded by constants (the join's own days), which lets a partitioned warehouse read only them."""
    end = last + timedelta(days=horizon)
    return f"""SELECT
  f.user_id AS user_id,
  f.as_of_date AS as_of_date,
  IF(st.last_active_date <= f.as_of_date, 1, 0) AS churned,
  {horizon} AS horizon_days
FROM {schema}.user_features AS f
JOIN {schema}.user_state AS st
  ON st.user_id = f.user_id AND st.as_of_date = {plus_days("f.as_of_date", horizon)}
WHERE f.as_of_date >= {ts(first)} AND f.as_of_date <= {ts(last)}
  AND st.as_of_date >= {ts(first + timedelta(days=horizon))} AND st.as_of_date <= {ts(end)}"""


# --8<-- [end:label_rule]
