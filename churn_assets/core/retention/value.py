"""What a customer is worth over the label horizon, and so what their predicted churn puts at risk.

``value_at_risk = churn_probability x customer_value``, where ``customer_value`` is what the customer is expected
to bring in over the next H days if they stay. One of three models, chosen from the source (``value_model_for``):

* ``mrr``: a subscriber's monthly recurring revenue (``sub_mrr``, churn defined by cancellation) x H / 30;
* ``billing``: a subscription source with churn defined by inactivity: what the customer was billed over the
  long feature window (``amount_<long>``: payments), scaled to H days (the run rate of their bill);
* ``spend``: a purchase log: BG/NBD's expected active (purchase) days in the next H days x Gamma-Gamma's expected
  spend per active day (``core/modeling/baselines``), both fitted on the scored day's customers' histories up to
  that day (nothing after it, no label). Gamma-Gamma is fitted on customers with a repeat active day; the mean
  value of each customer is their lifetime amount per active day (the first purchase included, where the paper
  leaves it out: user_features does not keep it apart).

Every value is a number of the source's currency units, never negative; a source without amounts values every
customer at 0, and the call list then ranks by probability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VALUE_MODELS = ("mrr", "billing", "spend")
VALUE_INPUTS = ("lifetime_active_days", "days_since_first_activity", "days_since_last_activity", "lifetime_amount")
MAX_FIT_ROWS = 20_000


def value_model_for(cancellation: bool, has_subscriptions: bool) -> str:
    """The value model of a source: ``mrr`` under the cancellation definition, ``billing`` for other subscription
    sources, ``spend`` for the rest."""
    if cancellation:
        return "mrr"
    return "billing" if has_subscriptions else "spend"


def value_columns(model: str, long_window: int) -> list[str]:
    """The feature columns a value model reads (kept beside each scored chunk)."""
    if model == "mrr":
        return ["sub_mrr"]
    if model == "billing":
        return [f"amount_{long_window}"]
    return list(VALUE_INPUTS)


def customer_value(inputs: pd.DataFrame, model: str, horizon: int, long_window: int) -> np.ndarray:
    """Each row's expected value over the next ``horizon`` days under ``model`` (rows: ``value_columns``)."""
    if model not in VALUE_MODELS:
        raise ValueError(f"unknown value model {model!r}; one of {VALUE_MODELS}")
    if inputs.empty:
        return np.zeros(0)
    if model == "mrr":
        return np.round(inputs["sub_mrr"].to_numpy(dtype=float) * horizon / 30.0, 4)
    if model == "billing":
        return np.round(inputs[f"amount_{long_window}"].to_numpy(dtype=float) * horizon / long_window, 4)
    return np.round(expected_spend(inputs, horizon), 4)


def expected_spend(inputs: pd.DataFrame, horizon: int) -> np.ndarray:
    """BG/NBD expected active days x Gamma-Gamma expected spend per active day; 0 for a log without amounts."""
    from churn_assets.core.modeling.btyd import BGNBD, GammaGamma, rfm  # SciPy: loaded where it is used

    days = inputs["lifetime_active_days"].to_numpy(dtype=float)
    amount = inputs["lifetime_amount"].to_numpy(dtype=float)
    mean_value = np.divide(amount, days, out=np.zeros_like(amount), where=days > 0)
    x = np.maximum(days - 1, 0)
    if not np.any((x >= 1) & (mean_value > 0)):
        return np.zeros(len(inputs))
    step = max(1, len(inputs) // MAX_FIT_ROWS)  # four and three parameters: an evenly spaced subset is plenty
    bgnbd = BGNBD.fit_rows(inputs, MAX_FIT_ROWS)
    spend = GammaGamma.fit(x[::step], mean_value[::step])
    return bgnbd.expected_days(*rfm(inputs), horizon) * spend.expected_value(x, mean_value)


def with_value(scored: pd.DataFrame, inputs: pd.DataFrame, model: str, horizon: int, long_window: int) -> pd.DataFrame:
    """``scored`` (rows aligned with ``inputs``: ``as_of_date`` and ``value_columns``) with ``customer_value`` and
    ``value_at_risk``; a spend model is fitted on each day's customers apart."""
    value = np.zeros(len(inputs))
    for rows in inputs.groupby("as_of_date", sort=False).indices.values():
        value[rows] = customer_value(inputs.iloc[rows], model, horizon, long_window)
    probability = scored["churn_probability"].to_numpy(dtype=float)
    return scored.assign(customer_value=value, value_at_risk=np.round(probability * value, 4))
