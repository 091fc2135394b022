"""The call list: the targeted users a retention team should call first, ranked by value at risk.

Control users are never on it (``core/control.py``); a user whose value at risk is not above what a call costs
is left off (calling them costs more than it can save); of the rest, the ``size`` with the most value at risk
(fewer when a budget pays for fewer calls: ``calls_affordable``), ties broken by probability and then user id so
the list is the same on every run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def call_list_key(day: str, suffix: str) -> str:
    """The artifact key of a day's call list export (``csv`` for a CRM, ``parquet`` typed)."""
    return f"exports/call_list/{day}.{suffix}"


CALL_LIST_COLUMNS = (
    "as_of_date",
    "call_rank",
    "user_id",
    "value_at_risk",
    "churn_probability",
    "customer_value",
    "risk_tier",
    "reason_1",
    "reason_2",
    "reason_3",
    "model_version",
)


def held_out(predictions: pd.DataFrame) -> pd.Series:
    """Each row's control flag; a row stored before predictions carried one counts as targeted."""
    return predictions["control"].astype("boolean").fillna(False).astype(bool)


def calls_affordable(size: int, call_cost: float, budget: float) -> int:
    """The list's length: ``size``, or fewer when a day's ``budget`` pays for fewer calls of ``call_cost``."""
    # a hair above the quotient: 0.3 // 0.1 is 2.0 in binary floating point, and 0.30 pays for three calls of 0.10
    return min(size, int(budget / call_cost + 1e-9)) if budget and call_cost else size


def call_list(predictions: pd.DataFrame, size: int, call_cost: float = 0.0) -> pd.DataFrame:
    """Each day's call list from its predictions (``churn_predictions`` rows)."""
    targeted = predictions[~held_out(predictions)]
    worth = targeted[targeted["value_at_risk"] > call_cost] if call_cost > 0 else targeted
    days = [_day_top(rows, size) for _, rows in worth.groupby("as_of_date", sort=True)]
    if not days:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CALL_LIST_COLUMNS})
    return pd.concat(days, ignore_index=True)[list(CALL_LIST_COLUMNS)]


def _day_top(rows: pd.DataFrame, size: int) -> pd.DataFrame:
    """A day's ``size`` largest values at risk in order. Only the rows at or above the size-th largest value are
    sorted (a million users: the sort of a few hundred rows, not of the day)."""
    values = rows["value_at_risk"].fillna(-1.0).to_numpy()
    if len(values) > size:
        bound = np.partition(values, len(values) - size)[len(values) - size]
        rows = rows[values >= bound]  # ties at the bound kept, so the order below decides them
    ranked = rows.sort_values(
        ["value_at_risk", "churn_probability", "user_id"], ascending=[False, False, True], kind="stable"
    ).head(size)
    return ranked.assign(call_rank=np.arange(1, len(ranked) + 1, dtype="int64"))
