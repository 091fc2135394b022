"""Training data and the time split that keeps test numbers honest.

A label as of day d looks at d+1 ... d+H. The test window is the latest label-complete days; the
training window ends at least H days before the test window starts, so no training label sees a day
of the test period::

    |---- train ----|<-- gap >= H days -->|-- test --|
                  train_last        test_first

``check_split`` rejects any split that breaks this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from churn_assets.core.days import LabelCalendar
from churn_assets.core.quality import Outcome
from churn_assets.core.warehouse.feature_spec import CATEGORICAL_FEATURES

# the candidate models churn_model trains and chooses from (core/modeling/pipelines.candidate_pipelines builds them)
CANDIDATES = ("logistic_regression", "logistic_regression_smote", "gradient_boosting", "bg_nbd")
# more a training run may name (the launchpad's ``candidates``): a stack of the learners, which fits each of them
# four times for a few thousandths of ROC-AUC at best (docs/models.md)
OPTIONAL_CANDIDATES = ("stacked",)
# the baselines as models: each trained and calibrated beside the candidates, judged on the same test rows, and the
# best of them (held-out log loss) is the fallback promoted when no candidate beats them. sbg needs the subscription
# features (the cancellation definition), type_activity the per-type ones.
BASELINE_MODELS = ("recency", "bg_nbd", "sbg", "type_activity")


class CandidateError(ValueError):
    """A candidate set names an unknown model or none at all."""


def chosen_candidates(names: Sequence[str]) -> list[str]:
    """The given candidates in the canonical order; unknown names or an empty set are an error naming them."""
    known = (*CANDIDATES, *OPTIONAL_CANDIDATES, *BASELINE_MODELS)
    unknown = sorted(set(names) - set(known))
    if unknown or not names:
        raise CandidateError(
            f"candidates must be a non-empty subset of {list(dict.fromkeys(known))}; got {list(names)}"
        )
    return [c for c in dict.fromkeys(known) if c in names]


TARGET = "churned"


class LeakageError(ValueError):
    """A split whose training labels overlap the test period."""


class NotTrainableError(ValueError):
    """Training data too short or too thin to train and test a model; the message gives the numbers."""


MIN_CLASS_ROWS = 20  # churned and retained rows each window needs at least: fewer make every metric noise


@dataclass(frozen=True)
class TimeSplit:
    train_first: date
    train_last: date
    test_first: date
    test_last: date

    @property
    def gap_days(self) -> int:
        return (self.test_first - self.train_last).days - 1

    def as_dict(self) -> dict[str, str | int]:
        return {
            "train_first": self.train_first.isoformat(),
            "train_last": self.train_last.isoformat(),
            "test_first": self.test_first.isoformat(),
            "test_last": self.test_last.isoformat(),
            "gap_days": self.gap_days,
        }


def check_split(split: TimeSplit, horizon_days: int) -> None:
    """Raise ``LeakageError`` when a window is empty or training ends fewer than ``horizon_days`` before the test
    window starts (its labels would look into the test period)."""
    if split.train_first > split.train_last or split.test_first > split.test_last:
        raise LeakageError(f"empty window in {split.as_dict()}")
    if split.gap_days < horizon_days:
        raise LeakageError(
            f"training ends {split.train_last}, only {split.gap_days} days before the test window starts "
            f"{split.test_first}: labels of the last {horizon_days - split.gap_days} training days look into the "
            f"test period. The gap must be at least the label horizon ({horizon_days} days)."
        )


def time_split(window_first: date, window_last: date, *, test_days: int, horizon_days: int) -> TimeSplit:
    """Test on the last ``test_days`` of the window, train on what ends ``horizon_days`` before it."""
    test_first, train_last = LabelCalendar(horizon_days, test_days=test_days).split_days(window_last)
    if train_last < window_first:
        raise ValueError(
            f"the training window {window_first}..{window_last} is too short: it needs {test_days} test days, "
            f"a {horizon_days}-day gap and at least one training day ({test_days + horizon_days + 1} label days)"
        )
    split = TimeSplit(
        train_first=window_first,
        train_last=train_last,
        test_first=test_first,
        test_last=window_last,
    )
    check_split(split, horizon_days)
    return split


def numeric_features(features: Sequence[str]) -> list[str]:
    """The numeric ones of ``features`` (all but the categorical)."""
    return [c for c in features if c not in CATEGORICAL_FEATURES]


def with_features(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """``frame`` with every one of a model's ``features``: a source-type column the rows lack (the model was
    trained on a window that ranked a type these rows' window did not) is 0, as on a day without such events."""
    missing = [c for c in features if c not in frame.columns]
    return frame.assign(**dict.fromkeys(missing, 0)) if missing else frame


def recalibration_record(first: str, last: str, frame: pd.DataFrame, method: str, source: str | None = None) -> dict:
    """What a card says of the label days its model's Platt scaling was refitted on (``calibration.recalibrated_on``),
    and, for production recalibrated later, the version (``source``) whose fitted model it keeps."""
    rate = round(float(frame[TARGET].mean()), 4)
    record = {"first": first, "last": last, "rows": len(frame), "churn_rate": rate, "method": method}
    return record | ({"from": source} if source else {})


def model_input(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The model's input columns (``features``, in order): numeric ones as one float64 block, categories as
    categoricals.

    scikit-learn turns a DataFrame into an array; with mixed integer and float columns pandas
    interleaves them value by value, and string columns make the one-hot encoder compare strings.
    Together they were most of the cost of scoring a million users.
    """
    names = numeric_features(features)
    numeric = np.column_stack([frame[c].to_numpy(dtype="float64") for c in names])
    out = pd.DataFrame(numeric, columns=names, index=frame.index)
    for column in (
        c for c in features if c in CATEGORICAL_FEATURES
    ):  # categorical dtype: the one-hot encoder skips string comparisons
        out[column] = frame[column].astype("category")
    return out


def check_trainable(days: pd.DataFrame, window_last: date, *, test_days: int, horizon_days: int) -> TimeSplit:
    """The split of a training set, refused before any fitting when it cannot train and test a model.

    ``days``: one row per labelled day (``day``, ``rows``, ``positives``). Each of the training and test
    windows needs ``MIN_CLASS_ROWS`` churned and as many retained rows."""
    if days.empty or int(days["rows"].sum()) == 0:
        raise NotTrainableError(
            f"the training set ending {window_last} has no labelled rows: no user was eligible (active within the "
            "eligibility window) on any label-complete day"
        )
    day = pd.to_datetime(days["day"], utc=True).dt.date
    window_first = min(day)
    try:
        split = time_split(window_first, window_last, test_days=test_days, horizon_days=horizon_days)
    except ValueError as exc:
        raise NotTrainableError(str(exc)) from None
    for name, first, last in (
        ("training", split.train_first, split.train_last),
        ("test", split.test_first, split.test_last),
    ):
        inside = days[(day >= first) & (day <= last)]
        rows, positives = int(inside["rows"].sum()), int(inside["positives"].sum())
        if min(positives, rows - positives) < MIN_CLASS_ROWS:
            raise NotTrainableError(
                f"the {name} window {first}..{last} has {rows:,} labelled rows, {positives:,} churned and "
                f"{rows - positives:,} retained; a model needs at least {MIN_CLASS_ROWS} of each to be trained and "
                "judged. Use a longer range, or more users."
            )
    return split


def trainable_outcome(days: pd.DataFrame, window_last: date, *, test_days: int, horizon_days: int) -> Outcome:
    """``check_trainable`` as a check verdict: a model can be trained and judged on these labelled days."""
    meta = {"labelled_rows": int(days["rows"].sum()) if len(days) else 0}
    meta["churned_rows"] = int(days["positives"].sum()) if len(days) else 0
    try:
        split = check_trainable(days, window_last, test_days=test_days, horizon_days=horizon_days)
    except NotTrainableError as exc:
        return Outcome(False, "ERROR", f"Not trainable: {exc}", meta)
    return Outcome(True, "ERROR", f"Trainable: {split.as_dict()}", meta | {"split": split.as_dict()})


def split_frame(training_set: pd.DataFrame, split: TimeSplit) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and the test rows of ``training_set`` (by ``as_of_date``) for ``split``."""
    day = training_set["as_of_date"].dt.date
    train = training_set[(day >= split.train_first) & (day <= split.train_last)]
    test = training_set[(day >= split.test_first) & (day <= split.test_last)]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def training_sample(labelled_rows: int, max_rows: int) -> dict:
    """The share of labelled rows the training extract keeps: all of them up to ``max_rows``, else a stratified
    sample (by day and label, inside the warehouse) of at most ``max_rows``. Recorded in the model card."""
    # rounded down, so that the sample never exceeds max_rows
    fraction = 1.0 if labelled_rows <= max_rows else math.floor(max_rows / labelled_rows * 1e8) / 1e8
    return {
        "labelled_rows": int(labelled_rows),
        "max_rows": int(max_rows),
        "fraction": fraction,
        "method": "stratified by day and label; FLOOR(fraction x rows) rows of each stratum, ordered by MD5(user|day)",
    }
