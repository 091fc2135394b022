"""What churn_model records in Dagster about a trained model: its figures, curves and links."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from importlib.metadata import version as package_version
from typing import Any

import dagster as dg
import pandas as pd

from churn_assets.core.registry.card import ModelCard


def _image(png: bytes, title: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})")


def _metrics_table(result) -> str:
    columns = ["pr_auc", "roc_auc", "f1", "precision", "recall", "brier", "lift_top_decile", "threshold"]
    table = pd.DataFrame(result.metrics).T[columns].round(4)
    table.insert(0, "held_out_pr_auc", pd.Series({n: round(m["pr_auc"], 4) for n, m in result.validation.items()}))
    table.insert(0, "fit_s", pd.Series(result.fit_seconds))
    table.index = [
        f"**{n}** (chosen)" if n == result.best else f"{n} (baseline, fallback)" if n == result.fallback else n
        for n in table.index
    ]
    return table.to_markdown()


def code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return f"churn_assets {package_version('churn_assets')} ({commit})"


@dataclass(frozen=True)
class ModelFigures:
    """The headline figures churn_model records, which ``churn-assets run`` reads back for its summary."""

    model_version: str
    chosen_candidate: str
    test_pr_auc: float
    test_roc_auc: float
    recency_pr_auc: float | None
    recency_roc_auc: float | None
    bg_nbd_pr_auc: float | None
    bg_nbd_roc_auc: float | None

    @classmethod
    def of(cls, version: str, card: ModelCard) -> ModelFigures:
        def baseline(name: str, metric: str) -> float | None:
            return card.baselines.get(name, {}).get(metric)

        return cls(
            version,
            card.candidate,
            round(card.metrics["pr_auc"], 4),
            round(card.metrics["roc_auc"], 4),
            *(baseline(name, metric) for name in ("recency", "bg_nbd") for metric in ("pr_auc", "roc_auc")),
        )

    def as_metadata(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> ModelFigures:
        return cls(**{f.name: metadata.get(f.name) for f in fields(cls)})


def model_metadata(version: str, created: bool, card: ModelCard, result, card_link: str) -> dict:
    from churn_assets.core.modeling.plots import calibration_png, pr_curves_png

    y = result.y_test
    return {
        **ModelFigures.of(version, card).as_metadata(),
        "newly_registered": created,
        "churn_definition": card.definition or "inactivity",
        "fallback": result.fallback,  # the best baseline model: promoted when no candidate beats the baselines
        "type_features": dg.MetadataValue.json(card.type_features or {}),
        "baselines": dg.MetadataValue.json(card.baselines),
        "calibration_error": card.calibration["ece"],
        # the serving model's calibration, refitted on the newest matured days once the figures were taken
        "recalibrated_on": _recalibrated_on(card.calibration.get("recalibrated_on")),
        "recently_active": dg.MetadataValue.json(card.segments),
        "tiers_ordered": card.calibration["tiers_ordered"],
        "test_churn_rate_by_tier": dg.MetadataValue.json(
            {name: t["churn_rate"] for name, t in card.calibration["tiers"].items()}
        ),
        "candidates": dg.MetadataValue.md(_metrics_table(result)),
        "windows": dg.MetadataValue.json(card.windows),
        "pr_curve": _image(pr_curves_png(y, result.test_scores), "precision-recall"),
        "calibration": _image(calibration_png(y, result.test_scores[result.best], result.best), "calibration"),
        "model_card": dg.MetadataValue.url(card_link),
    }


def _recalibrated_on(window: dict | None) -> str:
    if not window:
        return "-"
    return f"{window['first']}..{window['last']} ({window['rows']:,} rows, {window['churn_rate']:.1%} churned)"
