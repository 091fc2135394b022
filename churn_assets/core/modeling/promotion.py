"""When a newly trained model may replace production.

Every rule compares numbers of the same test window (the candidate's), and every refusal says which rule
refused and with which numbers:

1. the risk tiers must mean what they say: the observed churn rate rises from ``low`` to ``medium`` to ``high``;
2. a first model must clear an absolute ROC-AUC floor (a guard), and beat the best baseline on the same test rows
   (recency alone, BG/NBD, and sBG and per-type counts where they apply) by a share of the room that baseline
   leaves: ``CHURN_BASELINE_MARGIN`` x (1 - its ROC-AUC). A fixed margin would let a near-perfect baseline (recency
   at 0.9865 where the silent have mostly left already) refuse every model forever; against a baseline at 0.75
   the default share, 0.02, asks for +0.005, against one at 0.99 for +0.0002;
3. a later model must beat the production model, re-scored on the same rows, by a PR-AUC margin.

When nothing is in production and the first model is refused, the best baseline model (trained and calibrated
beside the candidates, ``TrainingResult.fallback``) is promoted in its place: a first run on a valid log always
ends with predictions, from a model that says what it is.

When a candidate is refused and production stays, production's calibration still follows the newest matured
label days (``recalibrate_production``): its Platt scaling is refitted on the candidate's test window, a newer
window than the one it was calibrated on, and the result is registered and promoted as a version of its own. Its
fitted model, and so its ranking and every test figure, are production's. A production model kept for months
otherwise drifts away from the base rate (on the purchase profile's walk-forward at 32,000 customers its mean
prediction fell from 0.382 to 0.361 over four months while the churn rate stayed at 0.38-0.39).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


@dataclass(frozen=True)
class Bars:
    """The margins a candidate must clear (``ModelPolicy``'s settings)."""

    margin: float  # PR-AUC over production
    floor_roc_auc: float
    baseline_margin: float  # share of the best baseline's room to a perfect ROC-AUC a first model must close


# --8<-- [start:promotion_rule]
def promote_if_better(
    candidate: dict[str, float],
    production: dict[str, float] | None,
    *,
    bars: Bars,
    baselines: dict[str, dict[str, float]],
    calibration: dict,
) -> Decision:
    """Whether a candidate may replace production, and why.

    Parameters
    ----------
    candidate : the candidate's test metrics (``roc_auc``, ``pr_auc``).
    production : the production model's metrics re-scored on the candidate's test window; ``None`` when nothing
        is in production.
    bars : the margins and the floor to clear.
    baselines : each baseline's metrics on the same test rows (``roc_auc``), by name.
    calibration : the candidate's ``calibration_report`` on its test window (``tiers_ordered``, ``tiers``).

    Returns
    -------
    Decision : ``promote`` and a ``reason`` that names the rule and its numbers.
    """
    if not calibration["tiers_ordered"]:
        rates = ", ".join(f"{name} {t['churn_rate']:.1%}" for name, t in calibration["tiers"].items())
        return Decision(False, f"risk tiers not ordered on the test window (observed churn: {rates})")
    roc = candidate["roc_auc"]
    if production is None:
        if roc < bars.floor_roc_auc:
            return Decision(False, f"first model: ROC-AUC {roc:.4f} is below the floor {bars.floor_roc_auc}")
        name, best = max(baselines.items(), key=lambda item: (item[1]["roc_auc"], item[0]))
        lift, needed = roc - best["roc_auc"], bars.baseline_margin * (1 - best["roc_auc"])
        versus = (
            f"ROC-AUC {roc:.4f} vs the best baseline, {name}, {best['roc_auc']:.4f} on the same test rows: "
            f"{lift:+.4f}, and {bars.baseline_margin} of its room to 1 is {needed:+.4f}"
        )
        if lift < needed:
            return Decision(False, f"first model: {versus}: not beaten")
        return Decision(True, f"first model: {versus}: beaten; floor {bars.floor_roc_auc}")
    gain = candidate["pr_auc"] - production["pr_auc"]
    verdict = f"PR-AUC {candidate['pr_auc']:.4f} vs production {production['pr_auc']:.4f} on the same test window"
    if gain > bars.margin:
        return Decision(True, f"{verdict}: +{gain:.4f} beats the margin {bars.margin}")
    return Decision(False, f"{verdict}: {gain:+.4f} does not beat the margin {bars.margin}")


# --8<-- [end:promotion_rule]


@dataclass(frozen=True)
class Judgement:
    """What ``production_model`` decided about the newest model, with the figures it decided on. Its metadata form
    (``as_metadata``) is what the asset records and ``churn-assets run`` reads back (``from_metadata``)."""

    candidate_version: str
    production_version: str  # after the decision; "" while nothing is in production
    promoted: bool
    reason: str
    previous_version: str | None = None  # production before the decision (unset when the model was judged before)
    candidate_pr_auc: float | None = None
    production_pr_auc_same_window: float | None = None

    def as_metadata(self) -> dict[str, str | bool | float]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Judgement:
        return cls(**{f.name: metadata[f.name] for f in fields(cls) if f.name in metadata})


class NothingToJudge(LookupError):
    """The registry holds no trained model."""


def judge_latest(registry, bars: Bars) -> Judgement:
    """Judge the registry's newest model against production, re-scored on the candidate's test window; record the
    decision (every version is judged once, so a rollback is not undone by the next run) and promote it when it
    wins. Returns what was decided, with the figures it was decided on."""
    from churn_assets.core.modeling.candidates import predict_proba
    from churn_assets.core.modeling.metrics import evaluate
    from churn_assets.core.modeling.training import TARGET, with_features

    candidate = registry.latest()
    if candidate is None:
        raise NothingToJudge("no trained model in the registry: materialize churn_model first")
    current = registry.production()
    earlier = registry.decision(candidate)
    if candidate == current or earlier is not None:
        reason = "already production" if candidate == current else f"already judged: {earlier['reason']}"
        return Judgement(candidate, current or "", False, reason)
    card = registry.card(candidate)
    test = registry.frame(candidate, "test_set")
    production_metrics = None
    if current is not None:
        production_card, served = registry.card(current), registry.load(current)
        rows = with_features(test, production_card.features)
        scores = predict_proba(served, rows, production_card.features)
        production_metrics = evaluate(test[TARGET].to_numpy(), scores, production_card.threshold)
    decision = promote_if_better(
        card.metrics, production_metrics, bars=bars, baselines=card.baselines, calibration=card.calibration
    )
    registry.record_decision(candidate, decision.promote, decision.reason)
    reason = decision.reason
    if not decision.promote and current is not None:
        refreshed = recalibrate_production(registry, production_card, served, card, rows)
        if refreshed is not None:
            reason += f"; production {current} recalibrated on the newest matured label days as {refreshed}"
    # the best baseline model: registered beside the candidate, or the candidate itself when it is that baseline
    fallback = card.fallback or (candidate if card.selection.get("fallback") == card.candidate else None)
    if decision.promote:
        registry.promote(candidate, decision.reason)
    elif current is None and fallback:
        reason = (
            f"fallback: no trained model beats the baselines ({decision.reason}); the best baseline model, "
            f"{registry.card(fallback).candidate} ({fallback}), is promoted so that every day is scored"
        )
        if fallback != candidate:
            registry.record_decision(fallback, True, reason)
        registry.promote(fallback, reason)
    return Judgement(
        candidate_version=candidate,
        production_version=registry.production() or "",
        promoted=decision.promote,
        reason=reason,
        previous_version=current or "",
        candidate_pr_auc=round(card.metrics["pr_auc"], 4),
        production_pr_auc_same_window=round(production_metrics["pr_auc"], 4) if production_metrics else None,
    )


def _calibrated_on(card, end: str) -> str | None:
    """The first or last (``end``) label day a model's probabilities were calibrated on: its test window's, or
    a later refit's."""
    return (card.calibration.get("recalibrated_on") or {}).get(end) or card.windows.get(f"test_{end}")


def recalibrate_production(registry, card, served, candidate_card, rows) -> str | None:
    """Production (``card``, its loaded model ``served``) with its Platt scaling refitted on ``rows``, the test
    window of a refused candidate with production's features, registered and promoted as a version of its own;
    ``None`` when that window is not newer than the one production was calibrated on. The new card is
    production's, with ``calibration.recalibrated_on`` naming the window and the version it came from."""
    from churn_assets.core.modeling.candidates import recalibrated
    from churn_assets.core.modeling.training import recalibration_record
    from churn_assets.core.registry.artifacts import ArtifactNotFound

    current = card.version
    newest, held = _calibrated_on(candidate_card, "last"), _calibrated_on(card, "last")
    if newest is None or (held is not None and newest <= held):
        return None
    model = recalibrated(served, rows, card.features)
    if model is None:  # one class in the window, or a model of an earlier release without Platt scaling
        return None
    method = (
        f"Platt scaling refitted while in production on the newest matured label days (the test window of "
        f"{candidate_card.version}); the fitted model, its ranking and its test figures are {current}'s"
    )
    window = recalibration_record(_calibrated_on(candidate_card, "first"), newest, rows, method, source=current)
    frames = {}
    for name in ("test_set", "reference"):
        try:
            frames[name] = registry.frame(current, name)
        except ArtifactNotFound:
            continue
    version, _ = registry.register(
        model, replace(card, calibration=card.calibration | {"recalibrated_on": window}), frames
    )
    reason = f"{current} recalibrated on {window['first']}..{window['last']} ({window['rows']} rows, churn rate "
    reason += f"{window['churn_rate']:.1%}), the newest matured label days; its ranking is {current}'s"
    registry.record_decision(version, True, reason)
    registry.promote(version, reason)
    return version
