"""Walk-forward evaluation: at each as-of date, train and promote as the pipeline would on what was known that
day, score that day's eligible users with the production model, and judge the scores against what the users
did in the following horizon.

As of date D the pipeline knows events up to D. A label of day d looks at d+1 ... d+H, so the labels known on
D are those of days up to D - H: the training window ends there (its own test window and gap inside it, as in
``churn_model``). Features of day d read days up to d only (the warehouse layer), so scoring D's users reads
nothing after D. Only the outcome the scores are judged against, D's labels, looks at D+1 ... D+H.

The data comes through ``read(first, last)``: feature rows joined with labels of those days (the warehouse's
training extract), so this module stays free of any engine. With per-type features, ``plan.rank_types(first,
last)`` names the types a model of that window takes (and their columns' prefix), and ``read(first, last,
prefixes)`` adds their columns.

Under the cancellation definition a label is settled ``settle_days`` (the renewal grace) after its horizon: the
labels known on D are those of days up to D - H - S.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from churn_assets.core.days import LabelCalendar
from churn_assets.core.modeling.baselines import baseline_scores, ranking_metrics
from churn_assets.core.modeling.promotion import Bars, promote_if_better
from churn_assets.core.modeling.training import TARGET, model_input, with_features
from churn_assets.core.warehouse.feature_spec import FeatureSpec

EVERY = re.compile(r"^(\d+)([DWM])$")


def as_of_dates(first: date, last: date, every: str) -> list[date]:
    """first, first + every, ... up to last. ``every``: ``14D`` days, ``2W`` weeks, ``1M`` months (the same day
    of the month, or the month's last day when it has fewer)."""
    found = EVERY.match(every.strip().upper())
    if not found or int(found.group(1)) < 1:
        raise ValueError(f"--every must be a count and a unit D, W or M (e.g. 1M, 2W, 14D), got {every!r}")
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    n, unit = int(found.group(1)), found.group(2)
    dates, i = [], 0
    while True:
        if unit == "M":
            month = first.month - 1 + i * n
            year, month = first.year + month // 12, month % 12 + 1
            day = date(year, month, min(first.day, calendar.monthrange(year, month)[1]))
        else:
            day = first + timedelta(days=i * n * (7 if unit == "W" else 1))
        if day > last:
            return dates
        dates.append(day)
        i += 1


@dataclass(frozen=True)
class WalkForwardPolicy:
    """What an as-of date trains on and scores, from the pipeline's settings; it is also the model policy that
    ``core/modeling/trainer.train_model`` reads."""

    horizon: int
    train_days: int
    test_days: int
    start: date  # the first day of data
    spec: FeatureSpec
    bars: Bars
    risk: tuple[float, float] = (0.8, 0.5)  # high, medium
    random_state: int = 0
    settle_days: int = 0
    rank_types: Callable[[date, date], dict[str, str]] | None = None

    @property
    def risk_high(self) -> float:
        return self.risk[0]

    @property
    def risk_medium(self) -> float:
        return self.risk[1]

    @property
    def recent_days(self) -> int:
        """The segment of users active in the last days: the short feature window."""
        return self.spec.short

    def label_window(self, as_of: date) -> tuple[date, date]:
        """The label days known on ``as_of``: their horizon has ended by then."""
        calendar = LabelCalendar(self.horizon, self.train_days, settle_days=self.settle_days)
        return calendar.known_on(as_of, first_day=self.start)

    def read_window(self, read: Callable, first: date, last: date, prefixes: dict[str, str]) -> pd.DataFrame:
        return read(first, last, prefixes) if prefixes else read(first, last)


def _metrics(y: np.ndarray, score: np.ndarray | None) -> dict:
    if score is None or len(np.unique(y)) < 2:
        return {"pr_auc": None, "roc_auc": None}
    return ranking_metrics(y, score)


@dataclass
class Production:
    """The model in production during a walk-forward, and the as-of date it was trained on."""

    model: object
    trained_as_of: date
    features: list[str]
    type_features: dict[str, str]


def evaluate_as_of(
    as_of: date, plan: WalkForwardPolicy, read: Callable[[date, date], pd.DataFrame], production: Production | None
) -> tuple[dict, pd.DataFrame, Production | None]:
    """One as-of date as the pipeline runs it: train a candidate, decide its promotion by the pipeline's rule
    (against recency alone for a first model, against production re-scored on the same test rows after), score
    the day's eligible users with the production model. Returns the table's row, the scored users (user_id,
    churn_probability, churned; empty without a production model) and the production model after the date."""
    from churn_assets.core.modeling.metrics import evaluate
    from churn_assets.core.modeling.trainer import train_model

    first, last = plan.label_window(as_of)
    prefixes = plan.rank_types(first, last) if plan.rank_types else {}
    trained = train_model(
        plan.read_window(read, first, last, prefixes),
        last,
        plan.spec,
        policy=plan,
        horizon=plan.horizon,
        settle_days=plan.settle_days,
        type_features=prefixes,
    )
    result, card = trained.result, trained.card
    current = None
    if production is not None:
        old = production.model.predict_proba(
            model_input(with_features(trained.test, production.features), production.features)
        )
        current = evaluate(result.y_test, old[:, 1], 0.5)
    decision = promote_if_better(
        card.metrics, current, bars=plan.bars, baselines=card.baselines, calibration=card.calibration
    )
    if decision.promote:
        production = Production(result.model, as_of, card.features, prefixes)
    elif production is None:  # the pipeline's fallback: the best baseline model
        production = Production(result.models[result.fallback], as_of, card.features, prefixes)

    keep = production.type_features if production else {}
    scored = plan.read_window(read, as_of, as_of, keep).sort_values("user_id", kind="stable").reset_index(drop=True)
    y = scored[TARGET].to_numpy()
    row: dict = {
        "as_of": as_of.isoformat(),
        "trained_on": f"{trained.split.train_first}..{trained.split.train_last}",
        "candidate": result.best,
        "promoted": decision.promote,
        "fallback": result.fallback if production and production.model is result.models.get(result.fallback) else "",
        "scored_by": production.trained_as_of.isoformat() if production else "none",
        "population": len(scored),
        "positive_rate": round(float(y.mean()), 4) if len(y) else None,
    }
    if production is None:
        probability = np.full(len(scored), np.nan)
        scores = {"model": None}
    else:
        probability = production.model.predict_proba(model_input(scored, production.features))[:, 1]
        scores = {"model": probability}
    scores |= baseline_scores(trained.train, scored, plan.horizon)[0]
    row["mean_probability"] = round(float(probability.mean()), 4) if production and len(y) else None
    recent = (scored["days_since_last_activity"] < plan.recent_days).to_numpy()
    for name, score in scores.items():
        metrics = _metrics(y, score)
        row |= {f"{name}_roc_auc": metrics["roc_auc"], f"{name}_pr_auc": metrics["pr_auc"]}
    for name, score in scores.items():  # where recency cannot separate users
        row[f"recent_{name}_pr_auc"] = _metrics(y[recent], None if score is None else score[recent])["pr_auc"]
    frame = pd.DataFrame({"user_id": scored["user_id"], "churn_probability": probability, TARGET: y})
    return row, frame, production


def walk_forward(
    dates: list[date],
    plan: WalkForwardPolicy,
    read: Callable[[date, date], pd.DataFrame],
    say: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, dict[date, pd.DataFrame]]:
    """Every as-of date in turn, the production model carried from one to the next: the table (one row per
    date) and each date's scored users."""
    rows, scored, production = [], {}, None
    for as_of in dates:
        row, scored[as_of], production = evaluate_as_of(as_of, plan, read, production)
        say(
            f"  {as_of}: {row['population']:,} users, churn {row['positive_rate']}; candidate {row['candidate']} "
            f"{'promoted' if row['promoted'] else 'not promoted'}; ROC-AUC model {row['model_roc_auc']}, "
            f"recency {row['recency_roc_auc']}, BG/NBD {row['bg_nbd_roc_auc']}"
        )
        rows.append(row)
    return pd.DataFrame(rows), scored


def summary(table: pd.DataFrame) -> dict:
    """Means over the dates the production model scored, and on how many of them it beat each baseline
    (ROC-AUC)."""
    table = table[table["model_roc_auc"].notna()]
    out: dict = {"dates": len(table)}
    for name in ("model", "recency", "bg_nbd"):
        out[f"mean_{name}_roc_auc"] = round(float(table[f"{name}_roc_auc"].mean()), 4)
        out[f"mean_{name}_pr_auc"] = round(float(table[f"{name}_pr_auc"].mean()), 4)
    for name in ("recency", "bg_nbd"):
        out[f"model_beats_{name}"] = int((table["model_roc_auc"] > table[f"{name}_roc_auc"]).sum())
    return out
