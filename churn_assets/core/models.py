"""Candidate models, their metrics, and the threshold they flag churners at.

Every candidate is an imbalanced-learn pipeline, so SMOTE (where used) resamples the training data
inside ``fit`` only; scoring never sees synthetic rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from churn_assets.core.features import CATEGORICAL_FEATURES
from churn_assets.core.training import TARGET, model_input, numeric_features


def _preprocess(scale: bool, features: Sequence[str]) -> ColumnTransformer:
    categorical = [c for c in features if c in CATEGORICAL_FEATURES]
    return ColumnTransformer(
        [
            ("numeric", StandardScaler() if scale else "passthrough", numeric_features(features)),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )


def _logistic(random_state: int) -> LogisticRegression:
    return LogisticRegression(max_iter=2000, C=1.0, random_state=random_state)


def _boosting(random_state: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.08, max_leaf_nodes=31, l2_regularization=1.0, random_state=random_state
    )


def candidate_pipelines(features: Sequence[str], random_state: int = 0) -> dict[str, Callable[[], Pipeline]]:
    """Factories of the candidates: a scaled logistic regression baseline and gradient boosting,
    each with and without SMOTE."""

    def build(scale: bool, model: Callable[[int], object], smote: bool) -> Callable[[], Pipeline]:
        def make() -> Pipeline:
            steps = [("preprocess", _preprocess(scale, features))]
            if smote:
                steps.append(("smote", SMOTE(random_state=random_state)))
            steps.append(("model", model(random_state)))
            return Pipeline(steps)

        return make

    return {
        "logistic_regression": build(True, _logistic, False),
        "logistic_regression_smote": build(True, _logistic, True),
        "gradient_boosting": build(False, _boosting, False),
        "gradient_boosting_smote": build(False, _boosting, True),
    }


def f1_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the best F1."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5


def lift_top_decile(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Positive rate among the top 10% scores divided by the overall positive rate."""
    base = float(np.mean(y_true))
    if base == 0:
        return 0.0
    top = np.argsort(-scores, kind="stable")[: max(1, int(np.ceil(len(scores) * 0.1)))]
    return float(np.mean(np.asarray(y_true)[top]) / base)


def evaluate(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    y_true = np.asarray(y_true).astype(int)
    flagged = (scores >= threshold).astype(int)
    return {
        "pr_auc": float(average_precision_score(y_true, scores)),
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "f1": float(f1_score(y_true, flagged, zero_division=0)),
        "precision": float(precision_score(y_true, flagged, zero_division=0)),
        "recall": float(recall_score(y_true, flagged, zero_division=0)),
        "brier": float(brier_score_loss(y_true, scores)),
        "lift_top_decile": lift_top_decile(y_true, scores),
        "positive_rate": float(np.mean(y_true)),
        "rows": int(len(y_true)),
        "threshold": float(threshold),
    }


def predict_proba(model: Pipeline, frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Churn probability of each row of a frame holding (at least) the model's ``features``."""
    return model.predict_proba(model_input(frame, features))[:, 1]


@dataclass
class TrainingResult:
    """Every candidate fitted on the training window and judged on the test window."""

    metrics: dict[str, dict[str, float]]  # candidate -> test metrics at its threshold
    test_scores: dict[str, np.ndarray]
    y_test: np.ndarray
    best: str  # the candidate with the best test PR-AUC
    models: dict[str, Pipeline] = field(repr=False)
    fit_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def model(self) -> Pipeline:
        return self.models[self.best]


def train_candidates(
    train: pd.DataFrame, test: pd.DataFrame, features: Sequence[str], random_state: int = 0
) -> TrainingResult:
    """Fit every candidate on ``train``; choose by PR-AUC on ``test``.

    Each candidate's threshold is the F1-best threshold on its own scores of the training window,
    so the test window plays no part in choosing it (nor the model).

    BLAS runs single-threaded here: the products are small (tens of thousands of rows, 28 columns), and
    OpenBLAS threads waking for each of them, beside the OpenMP threads of gradient boosting, made the
    logistic regressions ten times slower on 2 cores (0.48 s against 0.04 s for one fit).
    """
    X_train, y_train = model_input(train, features), train[TARGET].to_numpy()
    X_test, y_test = model_input(test, features), test[TARGET].to_numpy()
    if len(np.unique(y_train)) < 2 or len(np.unique(y_test)) < 2:
        raise ValueError(
            f"training needs churners and non-churners in both windows: train has {int(y_train.sum())} of "
            f"{len(y_train)} positive, test {int(y_test.sum())} of {len(y_test)}"
        )
    metrics, scores, models, seconds = {}, {}, {}, {}
    with threadpool_limits(limits=1, user_api="blas"):
        for name, make in candidate_pipelines(features, random_state).items():
            started = time.perf_counter()
            model = make().fit(X_train, y_train)
            seconds[name] = round(time.perf_counter() - started, 3)
            scores[name] = predict_proba(model, X_test, features)
            train_scores = predict_proba(model, X_train, features)
            metrics[name] = evaluate(y_test, scores[name], f1_threshold(y_train, train_scores))
            models[name] = model
    best = max(metrics, key=lambda n: (metrics[n]["pr_auc"], -len(n)))
    return TrainingResult(metrics, scores, y_test, best, models, seconds)
