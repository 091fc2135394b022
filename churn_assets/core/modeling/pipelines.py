"""The candidate models as imbalanced-learn pipelines: what each one is made of, before any is fitted.

Logistic regression on log-scaled features (with and without SMOTE, which resamples inside ``fit`` only, so
scoring never sees synthetic rows), gradient boosting with BG/NBD's view of each customer beside the features
(``core/modeling/btyd.py``), a stack of the two, BG/NBD itself, and the baselines as models (recency, sBG,
per-type counts). ``core/modeling/candidates.py`` fits, calibrates and chooses among them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from churn_assets.core.modeling.baselines import BGNBDClassifier, RecencyClassifier
from churn_assets.core.modeling.btyd import BTYD_FEATURES, BTYDFeatures
from churn_assets.core.modeling.btyd import INPUTS as BTYD_INPUTS
from churn_assets.core.modeling.sbg import PERIOD as SBG_PERIOD
from churn_assets.core.modeling.sbg import SBGClassifier
from churn_assets.core.modeling.training import numeric_features
from churn_assets.core.warehouse.feature_spec import CATEGORICAL_FEATURES, may_be_negative
from churn_assets.core.warehouse.types import PREFIX as TYPE_PREFIX


def _preprocess(scale: bool, features: Sequence[str]) -> ColumnTransformer:
    """One-hot categories; for the linear candidates, log1p of the non-negative features (counts, days and sums
    are heavy-tailed: a customer's 200th purchase day says less than their 2nd) and standard scaling."""
    categorical = [c for c in features if c in CATEGORICAL_FEATURES]
    numeric = numeric_features(features)
    if not scale:
        parts = [("numeric", "passthrough", numeric)]
    else:
        logged = make_pipeline(FunctionTransformer(np.log1p, feature_names_out="one-to-one"), StandardScaler())
        parts = [
            ("logged", logged, [c for c in numeric if not may_be_negative(c)]),
            ("signed", StandardScaler(), [c for c in numeric if may_be_negative(c)]),
        ]
    return ColumnTransformer(
        [*parts, ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)]
    )


def _logistic(random_state: int, rows: int) -> LogisticRegression:
    return LogisticRegression(max_iter=2000, C=1.0, random_state=random_state)


ROWS_PER_LEAF = 200  # gradient boosting's leaves hold at least 1/200 of the rows (and at least 20)


def _boosting(random_state: int, rows: int) -> HistGradientBoostingClassifier:
    # Small trees on large leaves: a user appears on every day of the window, so rows are far from independent
    # and bigger trees learn individual users (on a purchase log, 31-leaf trees scored ROC-AUC 0.56 on held-out
    # users, these 0.59). A fixed number of trees (no early stopping, which holds out rows of its own and stops
    # at a different tree on every sample): the same rows take the same time.
    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=max(20, rows // ROWS_PER_LEAF),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


def candidate_pipelines(
    features: Sequence[str], random_state: int = 0, rows: int = 10_000, horizon: int = 30
) -> dict[str, Callable[[], Pipeline]]:
    """Factories of the candidates for ``rows`` training rows: logistic regression on log-scaled features, with
    and without SMOTE, gradient boosting given BG/NBD's view of the customer as features besides
    (``core/modeling/btyd.py``), a stack of the two learners (``stacked``, named by a run to train it), and BG/NBD
    itself (``core/modeling/baselines.py``, from three lifetime features). (Gradient boosting with SMOTE, a
    candidate until calibration came in, fitted twice the rows for no gain once its probabilities were
    calibrated.)"""
    btyd = all(c in features for c in BTYD_INPUTS)

    def build(scale: bool, model: Callable[[int, int], object], smote: bool) -> Callable[[], Pipeline]:
        # BG/NBD's columns for the trees only: the log-scaled linear models already read the three lifetime figures
        # they are made of, and with them scored 0.007 ROC-AUC lower out of time (docs/models.md)
        textbook = btyd and not scale

        def make() -> Pipeline:
            steps = [("btyd", BTYDFeatures(horizon))] if textbook else []
            steps.append(("preprocess", _preprocess(scale, [*features, *BTYD_FEATURES] if textbook else features)))
            if smote:
                steps.append(("smote", SMOTE(random_state=random_state)))
            steps.append(("model", model(random_state, rows)))
            return Pipeline(steps)

        return make

    counts = [c for c in features if c.startswith(TYPE_PREFIX) and not may_be_negative(c)]

    def type_activity() -> Pipeline:
        # the textbook's churn model: logistic regression on the recent event counts of each type
        steps = [("preprocess", _preprocess(True, counts)), ("model", _logistic(random_state, rows))]
        return Pipeline(steps)

    logistic, boosting = build(True, _logistic, False), build(False, _boosting, False)

    def stacked() -> Pipeline:
        # A logistic regression over the two learners' out-of-fold probabilities. The rows come ordered by day
        # (core/modeling/trainer.py), so unshuffled folds are blocks of days: each learner's weight is set by how
        # it scores days it was not fitted on.
        learners = [("logistic_regression", logistic()), ("gradient_boosting", boosting())]
        final = LogisticRegression(max_iter=2000, random_state=random_state)
        return Pipeline([("model", StackingClassifier(learners, final_estimator=final, cv=KFold(STACK_FOLDS)))])

    pipelines = {
        "logistic_regression": logistic,
        "logistic_regression_smote": build(True, _logistic, True),
        "gradient_boosting": boosting,
        "stacked": stacked,
        # the classic purchase-behaviour model on the same footing: it wins where histories are short and sparse
        "bg_nbd": lambda: Pipeline([("model", BGNBDClassifier(horizon))]),
        "recency": lambda: Pipeline([("model", RecencyClassifier())]),
    }
    if SBG_PERIOD in features:  # the subscription's state: the cancellation definition
        pipelines["sbg"] = lambda: Pipeline([("model", SBGClassifier(horizon))])
    if counts:
        pipelines["type_activity"] = type_activity
    return pipelines


STACK_FOLDS = 3
