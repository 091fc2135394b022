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
from churn_assets.core.modeling.metrics import lift_top_decile
from churn_assets.core.modeling.promotion import Bars, promote_if_better
from churn_assets.core.modeling.scoring import chance_calibration_errors, expected_calibration_error
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
    from churn_assets.core.modeling.candidates import recalibrated
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
    else:  # kept: its calibration follows the newest matured days (where they hold both classes)
        refit = recalibrated(production.model, with_features(trained.test, production.features), production.features)
        production.model = production.model if refit is None else refit

    keep = production.type_features if production else {}
    scored = plan.read_window(read, as_of, as_of, {**prefixes, **keep})
    scored = scored.sort_values("user_id", kind="stable").reset_index(drop=True)
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
    # the baselines trained as models on this date's window, where they apply (subscriptions, per-type counts)
    for name in TRAINED_BASELINES:
        if name in result.models:
            scores[name] = result.models[name].predict_proba(model_input(scored, card.features))[:, 1]
    scored_model = production is not None and len(np.unique(y)) == 2
    row["mean_probability"] = round(float(probability.mean()), 4) if production and len(y) else None
    row["calibration_error"] = round(expected_calibration_error(y, probability), 4) if scored_model else None
    # what a perfectly calibrated model would show on the same users by chance: on average, and an error it
    # exceeds on one date in twenty (an error above that is the model's, not the draw's)
    chance = chance_calibration_errors(probability, draws=400) if scored_model else None
    row["calibration_error_by_chance"] = round(float(chance.mean()), 4) if scored_model else None
    row["calibration_error_chance_p95"] = round(float(np.quantile(chance, 0.95)), 4) if scored_model else None
    recent = (scored["days_since_last_activity"] < plan.recent_days).to_numpy()
    for name, score in scores.items():
        metrics = _metrics(y, score)
        row |= {f"{name}_roc_auc": metrics["roc_auc"], f"{name}_pr_auc": metrics["pr_auc"]}
        row[f"{name}_lift"] = None if metrics["roc_auc"] is None else round(lift_top_decile(y, score), 3)
    for name, score in scores.items():  # where recency cannot separate users
        row[f"recent_{name}_pr_auc"] = _metrics(y[recent], None if score is None else score[recent])["pr_auc"]
    frame = pd.DataFrame({"user_id": scored["user_id"], "churn_probability": probability, TARGET: y})
    return row, frame, production


TRAINED_BASELINES = ("sbg", "type_activity")


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


def baselines_of(table: pd.DataFrame) -> list[str]:
    """The baselines a walk-forward table judged, in the order of its columns."""
    return [c.removesuffix("_roc_auc") for c in table.columns if c.endswith("_roc_auc") and c != "model_roc_auc"]


def printed(table: pd.DataFrame) -> pd.DataFrame:
    """The table as ``evaluate`` prints it: per date the production model, every baseline's ROC-AUC, PR-AUC and
    top-decile lift, the calibration error; a last row of the means over the scored dates."""
    names = ["model", *baselines_of(table)]
    columns = ["as_of", "candidate", "promoted", "scored_by", "population", "positive_rate", "mean_probability"]
    columns += ["calibration_error", "calibration_error_by_chance", "calibration_error_chance_p95"] + [
        f"{n}_{m}" for m in ("roc_auc", "pr_auc", "lift") for n in names
    ]
    out = table[columns]
    scored = out[out["model_roc_auc"].notna()]
    means = {c: round(float(scored[c].mean()), 4) for c in columns[5:]} | {"as_of": f"mean of {len(scored)}"}
    return pd.concat([out, pd.DataFrame([means])], ignore_index=True)


def summary(table: pd.DataFrame) -> dict:
    """Means over the dates the production model scored (ROC-AUC, PR-AUC and lift of the model and of every
    baseline, the calibration error), on how many of them the model beat each baseline (ROC-AUC), and its
    largest calibration error."""
    table = table[table["model_roc_auc"].notna()]
    out: dict = {"dates": len(table)}
    for name in ("model", *baselines_of(table)):
        for metric in ("roc_auc", "pr_auc", "lift"):
            out[f"mean_{name}_{metric}"] = round(float(table[f"{name}_{metric}"].mean()), 4)
    for name in baselines_of(table):
        out[f"model_beats_{name}"] = int((table["model_roc_auc"] > table[f"{name}_roc_auc"]).sum())
    out["mean_calibration_error"] = round(float(table["calibration_error"].mean()), 4)
    out["mean_calibration_error_by_chance"] = round(float(table["calibration_error_by_chance"].mean()), 4)
    out["max_calibration_error"] = round(float(table["calibration_error"].max()), 4)
    above = table["calibration_error"] > table["calibration_error_chance_p95"]
    out["calibration_above_chance"] = int(above.sum())  # dates whose error a perfect model would rarely show
    return out


def summary_line(table: pd.DataFrame) -> str:
    """The means of ``summary`` in a sentence, as ``evaluate`` ends."""
    means, baselines = summary(table), baselines_of(table)
    return (
        f"Mean ROC-AUC: model {means['mean_model_roc_auc']}, "
        + ", ".join(f"{b} {means[f'mean_{b}_roc_auc']}" for b in baselines)
        + f"; calibration error mean {means['mean_calibration_error']} (by chance "
        f"{means['mean_calibration_error_by_chance']}), largest {means['max_calibration_error']}, above what a "
        f"perfectly calibrated model shows on 19 dates in 20 on {means['calibration_above_chance']}; the model beat "
        + ", ".join(f"{b} on {means[f'model_beats_{b}']}" for b in baselines)
        + f" of {means['dates']} dates"
    )
