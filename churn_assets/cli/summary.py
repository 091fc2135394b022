"""What ``churn-assets run`` prints when it ends: the rows written and the figures the assets recorded.

The figures are read back from the runs' materialization metadata through the types their writers use
(``ModelFigures``, ``Judgement``), so a renamed key fails here, in a test, rather than in front of a user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from churn_assets.core.modeling.promotion import Judgement
from churn_assets.wiring.metadata import ROW_COUNT
from churn_assets.wiring.model_metadata import ModelFigures

TIERS = ("high", "medium", "low")


@dataclass(frozen=True)
class RunSummary:
    rows: dict[str, int]
    model: ModelFigures | None = None
    judgement: Judgement | None = None
    tiers: dict[str, int] | None = None  # users per risk tier on the last day
    drift: Mapping[str, Any] | None = None  # drift_report's day summary

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Mapping[str, Any]]) -> RunSummary:
        """``outputs``: each asset's latest materialization metadata in the run (rows summed over its runs)."""
        predictions = outputs.get("churn_predictions")
        return cls(
            rows={table: int(meta[ROW_COUNT]) for table, meta in outputs.items() if ROW_COUNT in meta},
            model=ModelFigures.from_metadata(outputs["churn_model"]) if "churn_model" in outputs else None,
            judgement=Judgement.from_metadata(outputs["production_model"]) if "production_model" in outputs else None,
            tiers={t: int(predictions[f"tier_{t}"]) for t in TIERS} if predictions else None,
            drift=outputs.get("drift_report"),
        )

    def lines(self, last: date) -> list[str]:
        out = ["Summary (rows written):", *(f"  {table:<30} {rows:>10,}" for table, rows in self.rows.items())]
        if m := self.model:
            out.append(
                f"Model {m.model_version} ({m.chosen_candidate}): test PR-AUC {m.test_pr_auc}, ROC-AUC "
                f"{m.test_roc_auc}; on the same rows recency alone {m.recency_pr_auc} / {m.recency_roc_auc}, "
                f"BG/NBD {m.bg_nbd_pr_auc} / {m.bg_nbd_roc_auc}"
            )
        if j := self.judgement:
            verdict = "promoted" if j.promoted else "not promoted"
            out.append(f"Promotion: {j.candidate_version} {verdict} ({j.reason})")
            out.append(f"Production model: {j.production_version or 'none'}")
        if t := self.tiers:
            out.append(f"Predictions {last}: {t['high']} high, {t['medium']} medium, {t['low']} low risk")
        if d := self.drift:
            psi = f"Drift {last}: max important PSI {d['max_important_psi']}"
            if not d["drift_detected"]:
                out.append(f"{psi}, no drift; largest shift {d.get('largest_shift') or '-'}")
            else:
                out.append(f"{psi}, drifted: {', '.join(d['drifted_features'])}")
                out.append(
                    "  drift detected: the drift sensor requests a retraining run (churn-assets dev runs the daemon)"
                )
        return out
