"""How right a scored day's predictions were, once its horizon has passed and its labels exist.

``day_outcomes`` takes the day's predictions joined with their labels (and the users' histories as of the day,
for the baselines) and returns one tidy table: per group (``all``, ``targeted``, ``control``) and risk tier
(``all``, ``high``, ``medium``, ``low``) the users, churners, churn rate and mean predicted probability; for each
group's ``all`` tier the realized ROC-AUC, PR-AUC, Brier score, calibration error and top-decile lift of the
model, and the ROC-AUC of recency alone and of BG/NBD (fitted on the same users' histories up to the day, no
label) on the same users. A metric that needs both churners and stayers is empty where a group has only one
kind. The figures belong to the model version that scored the day (``model_version``), never to the one in
production when they are computed.

``decay`` reads those rows back: the realized ROC-AUC of the last matured days scored by a version against its
test ROC-AUC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from churn_assets.core.modeling.btyd import BGNBD, RECENCY, rfm
from churn_assets.core.modeling.metrics import lift_top_decile
from churn_assets.core.modeling.scoring import expected_calibration_error
from churn_assets.core.retention.call_list import held_out

GROUPS = ("all", "targeted", "control")
TIERS = ("all", "high", "medium", "low")
RANKING = ("roc_auc", "pr_auc", "brier", "ece", "top_decile_lift", "recency_roc_auc", "bg_nbd_roc_auc")
OUTCOME_COLUMNS = (
    "as_of_date",
    "model_version",
    "group_name",
    "risk_tier",
    "users",
    "churned",
    "churn_rate",
    "mean_probability",
    *RANKING,
)


def day_outcomes(joined: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The outcome rows of one scored day (``joined``: its predictions with ``churned`` and the history columns
    ``rfm`` reads; one model version)."""
    if joined.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTCOME_COLUMNS})
    days = joined["as_of_date"].unique()
    versions = joined["model_version"].unique()
    if len(days) != 1 or len(versions) != 1:
        raise ValueError(f"one scored day of one model version at a time, got days {days} and versions {versions}")
    frame = joined.reset_index(drop=True).copy()
    frame["recency"] = frame[RECENCY].to_numpy(dtype=float)
    frame["bg_nbd"] = BGNBD.fit_rows(frame).churn_probability(*rfm(frame), horizon)
    control = held_out(frame)
    rows = []
    for group, members in (("all", frame), ("targeted", frame[~control]), ("control", frame[control])):
        for tier in TIERS:
            part = members if tier == "all" else members[members["risk_tier"] == tier]
            row = {
                "as_of_date": days[0],
                "model_version": versions[0],
                "group_name": group,
                "risk_tier": tier,
                **_counts(part),
            }
            rows.append(row | (_ranking(part) if tier == "all" else dict.fromkeys(RANKING, np.nan)))
    out = pd.DataFrame(rows, columns=list(OUTCOME_COLUMNS))
    return out.astype({"users": "int64", "churned": "int64"})


def _counts(part: pd.DataFrame) -> dict:
    y = part["churned"].to_numpy(dtype=float)
    return {
        "users": len(part),
        "churned": int(y.sum()),
        "churn_rate": round(float(y.mean()), 6) if len(y) else np.nan,
        "mean_probability": round(float(part["churn_probability"].mean()), 6) if len(y) else np.nan,
    }


def _ranking(part: pd.DataFrame) -> dict:
    y = part["churned"].to_numpy(dtype=int)
    if len(np.unique(y)) < 2:
        return dict.fromkeys(RANKING, np.nan)
    p = part["churn_probability"].to_numpy(dtype=float)
    figures = {
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "brier": brier_score_loss(y, p),
        "ece": expected_calibration_error(y, p),
        "top_decile_lift": lift_top_decile(y, p),
        "recency_roc_auc": roc_auc_score(y, part["recency"].to_numpy(dtype=float)),
        "bg_nbd_roc_auc": roc_auc_score(y, part["bg_nbd"].to_numpy(dtype=float)),
    }
    return {k: round(float(v), 6) for k, v in figures.items()}


def headline(outcomes: pd.DataFrame) -> dict:
    """The day's figures a person reads first: the model's realized metrics and baselines on all users, and the
    churn of targeted against control users."""
    table = outcomes.set_index(["group_name", "risk_tier"])
    overall = table.loc[("all", "all")]
    figures = {name: _number(overall[name]) for name in RANKING}
    for group in ("targeted", "control"):
        figures[f"{group}_churn_rate"] = _number(table.loc[(group, "all"), "churn_rate"])
    figures["users"] = int(overall["users"])
    return figures


def _number(value) -> float | None:
    return None if pd.isna(value) else round(float(value), 4)


@dataclass(frozen=True)
class Decay:
    """The realized ROC-AUC of a version's last matured days against its test ROC-AUC; ``decayed`` when the mean
    falls below it by more than the margin. ``days`` is empty when fewer than asked have matured."""

    version: str
    days: tuple[str, ...]
    realized: float | None
    test: float
    margin: float
    wanted: int

    @property
    def decayed(self) -> bool:
        return self.realized is not None and self.realized < self.test - self.margin

    def describe(self) -> str:
        if self.realized is None:
            have = f"{len(self.days)} of the {self.wanted} matured days"
            return f"{have} the decay check needs were scored by {self.version}: waiting"
        span = f"{self.days[0]}..{self.days[-1]}" if len(self.days) > 1 else self.days[0]
        verdict = "below" if self.decayed else "within"
        return (
            f"realized ROC-AUC of {self.version} over {span} ({len(self.days)} days) {self.realized:.4f} is {verdict} "
            f"its test ROC-AUC {self.test:.4f} - margin {self.margin:.4f}"
        )


def decay(realized: pd.DataFrame, version: str, test_roc_auc: float, days: int, margin: float) -> Decay:
    """``realized``: rows of (as_of_date, model_version, roc_auc) for the ``all``/``all`` outcome rows."""
    mine = realized[(realized["model_version"] == version) & realized["roc_auc"].notna()]
    mine = mine.sort_values("as_of_date").tail(days)
    stamps = tuple(pd.Timestamp(d).date().isoformat() for d in mine["as_of_date"])
    value = round(float(mine["roc_auc"].mean()), 4) if len(mine) == days else None
    return Decay(version, stamps, value, round(float(test_roc_auc), 4), margin, days)
