"""Training a model as ``churn_model`` does, and the card that travels with it (``core/registry/card.py``): the
time split, the candidates, the baselines on the same test rows, calibration and tiers, the recently active
segment, the drift reference. Pure (no Dagster): the asset and the walk-forward (``core/modeling/walkforward.py``)
train through it alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pandas as pd

from churn_assets.core.modeling.training import (
    CANDIDATES,
    TARGET,
    TimeSplit,
    check_trainable,
    recalibration_record,
    split_frame,
)
from churn_assets.core.registry.card import BASELINE_ROLE, ModelCard
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
    fallback_card: ModelCard | None = None  # the best baseline model's, when it is not the chosen candidate itself

    @property
    def fallback_model(self) -> Any:
        return self.result.models[self.result.fallback]


def train_model(
    training_set: pd.DataFrame,
    window_last: date,
    spec: FeatureSpec,
    *,
    policy: Any,
    horizon: int,
    candidates: Sequence[str] = CANDIDATES,
    settle_days: int = 0,
    type_features: dict[str, str] | None = None,
) -> TrainedModel:
    """Split, train ``candidates`` and the baseline models, judge and describe, for labels of a ``horizon``-day
    horizon settled ``settle_days`` after it (the cancellation definition's renewal grace: the split's gap is
    both). ``policy``: the model policy's fields (``test_days``, ``random_state``, ``risk_high``, ``risk_medium``).
    ``type_features``: the source event types (and their columns' prefix) the frame holds as features."""
    from churn_assets.core.modeling.candidates import recalibrate, train_candidates
    from churn_assets.core.warehouse.types import type_feature_names

    # the warehouse returns rows in no particular order: fix one, so the same rows give the same model
    training_set = training_set.sort_values(["as_of_date", "user_id"], kind="stable").reset_index(drop=True)
    by_day = training_set.groupby("as_of_date")[TARGET].agg(rows="size", positives="sum").reset_index()
    split = check_trainable(
        by_day.rename(columns={"as_of_date": "day"}),
        window_last,
        test_days=policy.test_days,
        horizon_days=horizon + settle_days,
    )
    train, test = split_frame(training_set, split)
    types = dict(type_features or {})
    features = [*spec.model_features, *type_feature_names(types, spec)]
    result = train_candidates(
        train,
        test,
        features,
        random_state=policy.random_state,
        horizon=horizon,
        candidates=candidates,
        validation_days=policy.test_days,
    )
    described = _Described(result, split, train, test, spec, policy, horizon, features, training_set)
    card = described.card(result.best)
    card.definition, card.type_features = spec.definition, types
    card.renewal_grace_days = settle_days if spec.cancellation else None
    fallback = None
    if result.fallback and result.fallback != result.best:
        fallback = replace(card, **_own(described.card(result.fallback)), role=BASELINE_ROLE)
    # judged, the models that may serve follow the newest matured base rate: the test window's
    for name, model_card in ((result.best, card), (result.fallback, fallback)):
        if name and model_card is not None:
            recalibrate(result, name, test, features)
            model_card.calibration = model_card.calibration | {"recalibrated_on": _recalibration(split, test)}
    frames = {"test_set": test, "reference": described.sample[features]}
    return TrainedModel(result, split, train, test, card, frames, fallback)


def _recalibration(split: TimeSplit, test: pd.DataFrame) -> dict:
    method = (
        "Platt scaling refitted on the test window, the newest matured label days, once the test figures were taken"
    )
    return recalibration_record(split.test_first.isoformat(), split.test_last.isoformat(), test, method)


def _own(card: ModelCard) -> dict:
    """The fields of a candidate's card that are its own (the rest is the training run's, shared)."""
    keys = ("candidate", "metrics", "baselines", "calibration", "segments", "threshold", "feature_importance")
    return {k: getattr(card, k) for k in keys}


@dataclass
class _Described:
    """What every card of one training run shares, and the card of any of its candidates."""

    result: Any
    split: TimeSplit
    train: pd.DataFrame
    test: pd.DataFrame
    spec: FeatureSpec
    policy: Any
    horizon: int
    features: list[str]
    training_set: pd.DataFrame

    def __post_init__(self) -> None:
        from churn_assets.core.modeling.baselines import baseline_scores
        from churn_assets.core.modeling.scoring import feature_reference

        # The drift reference: the model's latest labelled days (its test window), not the start of the training
        # window, where features still have short histories and the population is younger.
        self.sample = self.test.sample(min(REFERENCE_ROWS, len(self.test)), random_state=self.policy.random_state)
        self.reference = feature_reference(self.train, self.features)
        self.scores, self.fit = baseline_scores(self.train, self.test, self.horizon)
        # the baselines trained as models on the same rows: sBG (subscriptions), per-type counts (the textbook)
        for name in ("sbg", "type_activity"):
            if name in self.result.test_scores:
                self.scores[name] = self.result.test_scores[name]

    def card(self, name: str) -> ModelCard:
        from churn_assets.core.modeling.baselines import judge_baselines, segment_report
        from churn_assets.core.modeling.scoring import calibration_report, feature_importance

        result, spec, policy = self.result, self.spec, self.policy
        metrics, chosen = result.metrics[name], result.test_scores[name]
        model = result.models[name]
        return ModelCard(
            candidate=name,
            metrics=metrics,
            # the baselines on the same test rows: recency alone, BG/NBD, and sBG and per-type counts where they apply
            baselines=judge_baselines(self.test, self.scores, self.fit, metrics),
            # on the test rows: calibration error and the observed churn rate of each risk tier
            calibration=calibration_report(result.y_test, chosen, high=policy.risk_high, medium=policy.risk_medium)
            | {"method": "Platt scaling on the held-out users of the training window's last days"},
            selection={
                "chosen_by": "log loss on the held-out users of the training window's last days (after calibration)",
                "candidates": list(result.metrics),
                "held_out": result.validation,
                "rows": result.rows,
                "fallback": result.fallback,
            },
            # users active in the last short window: recency cannot separate them, a model has to
            segments={f"active_last_{spec.short}_days": segment_report(self.test, chosen, self.scores, spec.short)},
            candidates=result.metrics,
            threshold=metrics["threshold"],
            features=self.features,
            feature_windows=list(spec.windows),
            eligibility_days=spec.eligibility_days,
            feature_reference=self.reference,
            feature_importance=feature_importance(
                model, self.sample.head(IMPORTANCE_ROWS), self.reference, self.features
            ),
            windows=self.split.as_dict(),
            training_rows=len(self.train),
            test_rows=len(self.test),
            label_horizon_days=self.horizon,
            data_version=_data_version(self.training_set),
        )


def _data_version(frame: pd.DataFrame) -> str:
    from churn_assets.core.registry.model_files import sha256

    return sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
