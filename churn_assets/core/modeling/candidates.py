"""Fitting the candidates (``core/modeling/pipelines.py``), their metrics, and the threshold they flag churners at.

The training window is split by user: a quarter of its users (chosen by a hash of the id, the same on every
day and run) are held out. Candidates are fitted on the others; the held-out users' rows of the window's last
days choose the candidate, set its flagging threshold and calibrate its probabilities (Platt scaling: a logistic
curve on the model's own score, fitted by scikit-learn's ``CalibratedClassifierCV`` around the frozen model).
Resampling shifts a model's base rate (SMOTE trains on half churners); calibration on untouched rows puts it
back. The test window plays no part in choosing: it reports, and then recalibrates the model that will serve.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from imblearn.pipeline import Pipeline
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from threadpoolctl import threadpool_limits

from churn_assets.core.modeling.metrics import evaluate, f1_threshold
from churn_assets.core.modeling.pipelines import candidate_pipelines
from churn_assets.core.modeling.training import BASELINE_MODELS, CANDIDATES, TARGET, chosen_candidates, model_input


def predict_proba(model: Pipeline, frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Churn probability of each row of a frame holding (at least) the model's ``features``."""
    return model.predict_proba(model_input(frame, features))[:, 1]


VALIDATION_SHARE = 0.25  # of the training window's users, held out to choose, threshold and calibrate


def validation_rows(train: pd.DataFrame, share: float = VALIDATION_SHARE) -> np.ndarray:
    """Rows of the held-out users: a user is on the same side on every day (no user in both). Users are split
    within two strata, those who churned on some day of the window and those who never did, each ordered by a
    hash of the id and every ``1 / share``-th held out: the held-out users get their share of churners even in a
    small window, and the same training set always gives the same split."""
    users = train.groupby("user_id", sort=False)[TARGET].max()
    hashed = pd.util.hash_pandas_object(users.index.to_series().astype(str), index=False).to_numpy()
    order = pd.DataFrame({"user": users.index, "churned": users.to_numpy(), "hash": hashed})
    order = order.sort_values(["churned", "hash"], kind="stable")
    rank = order.groupby("churned").cumcount().to_numpy()
    held = set(order["user"].to_numpy()[rank % round(1 / share) == 0])
    return train["user_id"].isin(held).to_numpy()


def latest_days(frame: pd.DataFrame, days: int) -> np.ndarray:
    """Rows of ``frame``'s last ``days`` days (by ``as_of_date``)."""
    day = pd.to_datetime(frame["as_of_date"])
    return (day > day.max() - pd.Timedelta(days=days)).to_numpy()


def calibrate(model: Pipeline, X: pd.DataFrame, y: np.ndarray) -> CalibratedClassifierCV:
    """Platt scaling of a fitted model on rows it was not fitted on (a monotone map: rankings do not change)."""
    return CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid").fit(X, y)


def recalibrated(
    model: CalibratedClassifierCV, frame: pd.DataFrame, features: Sequence[str]
) -> CalibratedClassifierCV | None:
    """A calibrated model's Platt scaling refitted on ``frame`` (newer matured label days): the same fitted model,
    so the same ranking of any rows, with probabilities that follow ``frame``'s base rate. ``None`` where nothing
    can be refitted: ``frame`` holds one class only, or the model has no Platt scaling (an earlier release's)."""
    y = frame[TARGET].to_numpy()
    if len(np.unique(y)) < 2 or not hasattr(model, "calibrated_classifiers_"):
        return None
    fitted = model.calibrated_classifiers_[0].estimator.estimator  # the model inside its FrozenEstimator
    return calibrate(fitted, model_input(frame, features), y)


@dataclass
class TrainingResult:
    """Every candidate fitted on the training window's users but the held-out ones, chosen and calibrated on
    the held-out users, and judged on the test window."""

    metrics: dict[str, dict[str, float]]  # candidate -> test metrics at its threshold (calibrated probabilities)
    validation: dict[str, dict[str, float]]  # candidate -> held-out users' metrics: what chose the model
    test_scores: dict[str, np.ndarray]
    y_test: np.ndarray
    best: str  # the candidate with the lowest held-out log loss
    models: dict[str, CalibratedClassifierCV] = field(repr=False)
    fallback: str = ""  # the baseline model with the lowest held-out log loss: promoted when nothing beats it
    fitted: dict[str, Pipeline] = field(default_factory=dict, repr=False)  # each candidate before calibration
    fit_seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # fitted on / held out

    @property
    def model(self) -> CalibratedClassifierCV:
        return self.models[self.best]


def _two_classes(name: str, y: np.ndarray) -> None:
    if len(np.unique(y)) < 2:
        raise ValueError(
            f"training needs churners and non-churners in every part: the {name} rows have {int(y.sum())} of "
            f"{len(y)} positive"
        )


def train_candidates(
    train: pd.DataFrame,
    test: pd.DataFrame,
    features: Sequence[str],
    *,
    random_state: int = 0,
    horizon: int = 30,
    candidates: Sequence[str] = CANDIDATES,
    validation_days: int = 14,
) -> TrainingResult:
    """Fit every candidate on the training window's users but the held-out ones; calibrate each on the held-out
    users' rows of the window's last ``validation_days`` (the newest labelled days before the test window: out of
    time as well as out of sample) and choose the one with the lowest log loss there (a proper score: it rewards
    ranking and honest probabilities; PR-AUC on a few dozen held-out users picked a worse model by noise); judge
    on ``test``.

    Threads are fixed: BLAS single-threaded (the products are small, and OpenBLAS threads waking for each of
    them beside gradient boosting's made the logistic regressions ten times slower on 2 cores), and gradient
    boosting's OpenMP on one thread, so that a training run's time does not depend on what else the host
    runs (with a thread per core on a shared host, the same fit's time varied by two orders of magnitude).
    """
    held = validation_rows(train)
    fit, val = train[~held], train[held & latest_days(train, validation_days)]
    X_fit, y_fit = model_input(fit, features), fit[TARGET].to_numpy()
    X_val, y_val = model_input(val, features), val[TARGET].to_numpy()
    X_test, y_test = model_input(test, features), test[TARGET].to_numpy()
    for name, y in (("training", y_fit), ("held-out", y_val), ("test", y_test)):
        _two_classes(name, y)
    metrics, validation, scores, models, seconds, fitted = {}, {}, {}, {}, {}, {}
    with threadpool_limits(limits=1):
        pipelines = candidate_pipelines(features, random_state, len(fit), horizon)
        chosen = chosen_candidates(candidates)
        baselines = [b for b in BASELINE_MODELS if b in pipelines and b not in chosen]
        for name in [*(c for c in chosen if c in pipelines), *baselines]:
            make = pipelines[name]
            started = time.perf_counter()
            model = make().fit(X_fit, y_fit)
            seconds[name] = round(time.perf_counter() - started, 3)
            calibrated = calibrate(model, X_val, y_val)
            val_scores = calibrated.predict_proba(X_val)[:, 1]
            threshold = f1_threshold(y_val, val_scores)
            validation[name] = evaluate(y_val, val_scores, threshold)
            scores[name] = calibrated.predict_proba(X_test)[:, 1]
            metrics[name] = evaluate(y_test, scores[name], threshold)
            models[name], fitted[name] = calibrated, model

    def lowest_log_loss(names) -> str:
        return min(names, key=lambda n: (validation[n]["log_loss"], len(n)))

    best = lowest_log_loss([n for n in chosen if n in pipelines])
    fallback = lowest_log_loss([b for b in BASELINE_MODELS if b in validation])
    rows = {"fitted": len(fit), "held_out": len(val), "held_out_users": int(val["user_id"].nunique())}
    days = pd.to_datetime(val["as_of_date"])
    rows |= {"held_out_first": str(days.min().date()), "held_out_last": str(days.max().date())}
    return TrainingResult(
        metrics, validation, scores, y_test, best, models, fallback, fitted, fit_seconds=seconds, rows=rows
    )


def recalibrate(result: TrainingResult, name: str, frame: pd.DataFrame, features: Sequence[str]) -> None:
    """Refit ``name``'s Platt scaling on ``frame`` (the newest matured label days: the test window) so that its
    probabilities follow the latest base rate; the ranking, and every test figure already taken, stay."""
    result.models[name] = calibrate(result.fitted[name], model_input(frame, features), frame[TARGET].to_numpy())
