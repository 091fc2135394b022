"""When a newly trained model may replace production."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def promote_if_better(
    candidate: dict[str, float], production: dict[str, float] | None, margin: float, floor_roc_auc: float
) -> Decision:
    """Promote when the candidate beats production by ``margin`` PR-AUC on the same test window.

    ``production`` holds the production model's metrics re-scored on the candidate's test window
    (``None`` when nothing is in production: then the candidate must clear ``floor_roc_auc``).
    """
    if production is None:
        if candidate["roc_auc"] >= floor_roc_auc:
            return Decision(True, f"first model: ROC-AUC {candidate['roc_auc']:.4f} clears the floor {floor_roc_auc}")
        return Decision(False, f"first model: ROC-AUC {candidate['roc_auc']:.4f} is below the floor {floor_roc_auc}")
    gain = candidate["pr_auc"] - production["pr_auc"]
    verdict = f"PR-AUC {candidate['pr_auc']:.4f} vs production {production['pr_auc']:.4f} on the same test window"
    if gain > margin:
        return Decision(True, f"{verdict}: +{gain:.4f} beats the margin {margin}")
    return Decision(False, f"{verdict}: {gain:+.4f} does not beat the margin {margin}")
