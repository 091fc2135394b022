"""Scoring eligible users: probability, risk tier, rank and reason codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from churn_assets.core.modeling.training import model_input
from churn_assets.core.registry.card import ModelCard

PREDICTION_COLUMNS = (
    "user_id",
    "as_of_date",
    "churn_probability",
    "risk_tier",
    "rank",
    "model_version",
    "reason_1",
    "reason_2",
    "reason_3",
)


def risk_tier(probability: np.ndarray, high: float, medium: float) -> np.ndarray:
    """``high`` at or above ``high``, ``medium`` from ``medium`` up to it, else ``low``."""
    return np.where(probability >= high, "high", np.where(probability >= medium, "medium", "low"))


def feature_reference(training: pd.DataFrame, features: Sequence[str]) -> dict[str, Any]:
    """A typical value per feature (median, or the most common category), stored with the model."""
    ref: dict[str, Any] = {}
    for column in features:
        values = training[column]
        ref[column] = values.mode().iloc[0] if values.dtype == object else float(values.median())
    return ref


STACKED_ROWS = 200_000  # rows x (candidates + 1) up to which the pushes are one model call


def feature_pushes(
    model: Any,
    frame: pd.DataFrame,
    reference: dict[str, Any],
    features: Sequence[str],
    candidates: Sequence[str] | None = None,
) -> np.ndarray:
    """How much each of ``candidates`` (default: every feature) pushes each row's churn probability up
    (rows x candidates). ``features`` are the model's inputs.

    A feature's push is how much the probability falls when that feature alone is set to its typical
    value (``feature_reference``): model-agnostic, and exact for what the model actually does. Up to
    ``STACKED_ROWS`` rows x (candidates + 1) it is one model call over the stacked variants, else one call per
    candidate.
    """
    return _probability_and_pushes(model, frame, reference, features, candidates)[1]


def _probability_and_pushes(
    model: Any,
    frame: pd.DataFrame,
    reference: dict[str, Any],
    features: Sequence[str],
    candidates: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The rows' own probabilities and ``feature_pushes``, from the same model calls."""
    candidates = list(features if candidates is None else candidates)
    inputs = model_input(frame, features)
    n, k = len(inputs), len(candidates)
    if n * (k + 1) <= STACKED_ROWS:  # one model call for all: a request of a few rows costs one call, not k + 1
        stacked = pd.concat([inputs] * (k + 1), ignore_index=True)
        for j, column in enumerate(candidates):
            value = reference[column]
            if isinstance(stacked[column].dtype, pd.CategoricalDtype) and value not in stacked[column].cat.categories:
                stacked[column] = stacked[column].cat.add_categories([value])
            stacked.iloc[(j + 1) * n : (j + 2) * n, stacked.columns.get_loc(column)] = value
        probability = model.predict_proba(stacked)[:, 1]
        return probability[:n], probability[:n, None] - probability[n:].reshape(k, n).T
    base = model.predict_proba(inputs)[:, 1]
    pushes = np.empty((n, k))
    for j, column in enumerate(candidates):
        original = inputs[column].copy()
        inputs[column] = reference[column]
        pushes[:, j] = base - model.predict_proba(inputs)[:, 1]
        inputs[column] = original
    return base, pushes


def feature_importance(
    model: Any, frame: pd.DataFrame, reference: dict[str, Any], features: Sequence[str]
) -> dict[str, float]:
    """Mean absolute push per feature: what the drift check treats as the model's important features."""
    mean = np.abs(feature_pushes(model, frame, reference, features)).mean(axis=0)
    return {c: round(float(v), 6) for c, v in sorted(zip(features, mean, strict=True), key=lambda x: -x[1])}


def reason_codes(
    model: Any,
    frame: pd.DataFrame,
    reference: dict[str, Any],
    features: Sequence[str],
    candidates: Sequence[str] | None = None,
    top: int = 3,
) -> pd.DataFrame:
    """The ``top`` features (among ``candidates``, default all) pushing each user's risk up most; a feature
    that lowers risk is never a reason, so a user with fewer than ``top`` gets nulls."""
    return _top_reasons(feature_pushes(model, frame, reference, features, candidates), candidates or features, top)


def probability_and_reasons(
    model: Any, frame: pd.DataFrame, card: ModelCard, top: int = 3
) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's churn probability and its reasons, from one model call when the rows are few (an API request)."""
    names, candidates = card.features, reason_candidates(card)
    base, pushes = _probability_and_pushes(model, frame, card.feature_reference, names, candidates)
    return base, _top_reasons(pushes, candidates, top)


def _top_reasons(pushes: np.ndarray, candidates: Sequence[str], top: int) -> pd.DataFrame:
    candidates = list(candidates)
    order = np.argsort(-pushes, axis=1, kind="stable")[:, :top]
    names = np.array(candidates, dtype=object)[order]
    positive = np.take_along_axis(pushes, order, axis=1) > 1e-9
    out = pd.DataFrame(np.where(positive, names, None), columns=[f"reason_{i + 1}" for i in range(top)])
    return out.astype("string")


def score_users(
    model: Any,
    features: pd.DataFrame,
    version: str,
    card: ModelCard,
    *,
    high: float,
    medium: float,
) -> pd.DataFrame:
    """Score every row of ``features`` (user_features holds only eligible users): probability, tier and reasons.
    ``card`` is the model's card: its feature list and typical values. Ranks are left to ``rank_predictions``,
    which sees a whole day when the day is scored in chunks."""
    if features.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PREDICTION_COLUMNS if c != "rank"})
    frame = features.reset_index(drop=True)
    probability, reasons = probability_and_reasons(model, frame, card)
    out = pd.DataFrame(
        {
            "user_id": frame["user_id"],
            "as_of_date": frame["as_of_date"],
            "churn_probability": probability,
            "risk_tier": risk_tier(probability, high, medium),
            "model_version": version,
        }
    )
    return pd.concat([out, reasons], axis=1)


REASON_CANDIDATES = 10


def reason_candidates(card: ModelCard) -> list[str]:
    """The features reasons are chosen from: the model's ``REASON_CANDIDATES`` most important (mean absolute
    push on its reference sample, in the card), or every feature when the card has no importance. Each
    candidate costs a model call per scored user; the others rarely move a prediction."""
    importance = card.feature_importance
    if not importance:
        return list(card.features)
    return sorted(importance, key=lambda c: -importance[c])[:REASON_CANDIDATES]


def rank_predictions(scored: pd.DataFrame) -> pd.DataFrame:
    """Rank 1 = highest churn probability of its day; rows in rank order, ``PREDICTION_COLUMNS`` first and any
    other columns of ``scored`` (value at risk, control: ``core/retention``) after them."""
    if scored.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PREDICTION_COLUMNS})
    scored = scored.copy()
    ranks = scored.groupby("as_of_date")["churn_probability"].rank(method="first", ascending=False)
    scored["rank"] = ranks.astype("int64")
    columns = [*PREDICTION_COLUMNS, *(c for c in scored.columns if c not in PREDICTION_COLUMNS)]
    return scored.sort_values(["as_of_date", "rank"], kind="stable").reset_index(drop=True)[columns]


def expected_calibration_error(y_true: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """The row-weighted mean |predicted - observed| over ``bins`` equal-width probability bins."""
    y_true, probability = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    if not len(probability):
        return 0.0
    edges = np.minimum((probability * bins).astype(int), bins - 1)
    predicted = np.bincount(edges, probability, minlength=bins)
    observed = np.bincount(edges, y_true, minlength=bins)
    return float(np.abs(predicted - observed).sum() / len(probability))


def chance_calibration_errors(
    probability: np.ndarray, *, draws: int = 200, seed: int = 0, bins: int = 10
) -> np.ndarray:
    """The calibration errors a perfectly calibrated model shows by chance on these rows: the ECE of each of
    ``draws`` outcomes in which every row churns with exactly its predicted probability."""
    probability = np.asarray(probability, dtype=float)
    rng = np.random.default_rng(seed)
    drawn = rng.random((draws, len(probability))) < probability
    return np.array([expected_calibration_error(y, probability, bins) for y in drawn])


def chance_calibration_error(probability: np.ndarray, *, draws: int = 200, seed: int = 0, bins: int = 10) -> float:
    """The calibration error a perfectly calibrated model shows by chance on these rows, on average. On a few
    hundred users it is not small, so a measured error is read against it (and against the 95th percentile of
    ``chance_calibration_errors``, which a perfect model exceeds on one date in twenty)."""
    return float(np.mean(chance_calibration_errors(probability, draws=draws, seed=seed, bins=bins)))


def calibration_report(
    y_true: np.ndarray, probability: np.ndarray, *, high: float, medium: float, bins: int = 10
) -> dict:
    """How far the probabilities are from what happened, on rows the model was not fitted on.

    ``ece``: expected calibration error, the row-weighted mean |predicted - observed| over ``bins`` equal-width
    probability bins. ``tiers``: rows, mean predicted probability and observed churn rate per risk tier;
    ``tiers_ordered``: the observed rate rises from low to medium to high (tiers without rows are skipped)."""
    y_true, probability = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    ece = expected_calibration_error(y_true, probability, bins)
    tier = risk_tier(probability, high, medium)
    tiers = {
        name: {
            "rows": int(np.sum(tier == name)),
            "mean_probability": round(float(probability[tier == name].mean()), 4),
            "churn_rate": round(float(y_true[tier == name].mean()), 4),
        }
        for name in ("low", "medium", "high")
        if np.any(tier == name)
    }
    rates = [t["churn_rate"] for t in tiers.values()]
    return {
        "ece": round(float(ece), 4),
        "mean_probability": round(float(probability.mean()), 4),
        "churn_rate": round(float(y_true.mean()), 4),
        "tiers": tiers,
        "tiers_ordered": all(a < b for a, b in zip(rates, rates[1:], strict=False)),
    }
