"""Training a model as ``churn_model`` does, and the card that travels with it (``core/registry/card.py``): the
time split, the candidates, the baselines on the same test rows, calibration and tiers, the recently active
segment, the drift reference. Pure (no Dagster): the asset and the walk-forward (``core/modeling/walkforward.py``)
train through it alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from churn_assets.core.modeling.training import CANDIDATES, TARGET, TimeSplit, check_trainable, split_frame
from churn_assets.core.registry.card import ModelCard
from churn_assets.core.warehouse.feature_spec import FeatureSpec

REFERENCE_ROWS = 5000  # test-window rows kept as the drift reference
IMPORTANCE_ROWS = 2000  # of them, the rows feature importance is measured on


@dataclass
class TrainedModel:
    result: Any  # core.models.TrainingResult
    split: TimeSplit
    train: pd.DataFrame
    test: pd.DataFrame
    card: ModelCard
    frames: dict[str, pd.DataFrame]  # kept beside the model in the registry: its test set, the drift reference


def train_model(
    training_set: pd.DataFrame,
    window_last: date,
    spec: FeatureSpec,
    *,
    policy: Any,
    horizon: int,
    candidates: Sequence[str] = CANDIDATES,
) -> TrainedModel:
    """Split, train ``candidates``, judge and describe, for labels of a ``horizon``-day horizon. ``policy``: the
    model policy's fields (``test_days``, ``random_state``, ``risk_high``, ``risk_medium``)."""
    from churn_assets.core.modeling.baselines import baseline_scores, judge_baselines, segment_report
    from churn_assets.core.modeling.candidates import train_candidates
    from churn_assets.core.modeling.scoring import calibration_report, feature_importance, feature_reference

    # the warehouse returns rows in no particular order: fix one, so the same rows give the same model
    training_set = training_set.sort_values(["as_of_date", "user_id"], kind="stable").reset_index(drop=True)
    by_day = training_set.groupby("as_of_date")[TARGET].agg(rows="size", positives="sum").reset_index()
    split = check_trainable(
        by_day.rename(columns={"as_of_date": "day"}), window_last, test_days=policy.test_days, horizon_days=horizon
    )
    train, test = split_frame(training_set, split)
    features = list(spec.model_features)
    result = train_candidates(
        train, test, features, random_state=policy.random_state, horizon=horizon, candidates=candidates
    )
    best, chosen = result.metrics[result.best], result.test_scores[result.best]
    scores, fit = baseline_scores(train, test, horizon)
    # The drift reference: the model's latest labelled days (its test window), not the start of the training
    # window, where features still have short histories and the population is younger.
    sample = test.sample(min(REFERENCE_ROWS, len(test)), random_state=policy.random_state)
    reference = feature_reference(train, features)
    card = ModelCard(
        candidate=result.best,
        metrics=best,
        # the classic baselines on the same test rows: recency alone and BG/NBD (core/modeling/baselines.py)
        baselines=judge_baselines(test, scores, fit, best),
        # on the test rows: calibration error and the observed churn rate of each risk tier
        calibration=calibration_report(result.y_test, chosen, high=policy.risk_high, medium=policy.risk_medium)
        | {"method": "Platt scaling on the held-out users of the training window"},
        selection={
            "chosen_by": "log loss on the held-out users of the training window (after calibration)",
            "candidates": list(result.metrics),
            "held_out": result.validation,
            "rows": result.rows,
        },
        # users active in the last short window: recency cannot separate them, a model has to
        segments={f"active_last_{spec.short}_days": segment_report(test, chosen, scores, spec.short)},
        candidates=result.metrics,
        threshold=best["threshold"],
        features=features,
        feature_windows=list(spec.windows),
        eligibility_days=spec.eligibility_days,
        feature_reference=reference,
        feature_importance=feature_importance(result.model, sample.head(IMPORTANCE_ROWS), reference, features),
        windows=split.as_dict(),
        training_rows=len(train),
        test_rows=len(test),
        label_horizon_days=horizon,
        data_version=_data_version(training_set),
    )
    return TrainedModel(result, split, train, test, card, {"test_set": test, "reference": sample[features]})


def _data_version(frame: pd.DataFrame) -> str:
    from churn_assets.core.registry.model_files import sha256

    return sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
