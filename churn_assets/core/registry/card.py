"""The model card: what travels with a registered model, as a typed record.

Training (``core/modeling/trainer.py``) fills the model's part, ``churn_model`` adds how it was launched, and the
registry adds the version, the file's digest and the time. ``card.json`` is ``ModelCard.to_dict()``: the same keys
and values as the cards earlier releases wrote, so their registries still load, and a key this release does not
know is kept as it is (``extra``). A card missing an optional section loads with it empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# sections that churn_model and the registry add: absent from a card that has not been through them
_LATER_KEYS = ("training_sample", "code_version", "launch", "version", "created", "artifact", "format", "sha256",
               "fingerprint", "definition", "renewal_grace_days", "type_features", "role",
               "fallback")  # fmt: skip
BASELINE_ROLE = "baseline"  # a baseline registered as a model: the fallback promoted when no candidate beats it


@dataclass
class ModelCard:
    """A trained model's description: its figures beside the baselines, its features and windows, its lineage."""

    candidate: str
    features: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)  # the chosen candidate's test metrics (modeling/metrics.py)
    threshold: float = 0.5
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # recency, bg_nbd on the same test rows
    calibration: dict[str, Any] = field(default_factory=dict)  # ece, tiers, tiers_ordered, method
    selection: dict[str, Any] = field(default_factory=dict)
    segments: dict[str, Any] = field(default_factory=dict)
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    feature_windows: list[int] = field(default_factory=list)
    eligibility_days: int | None = None
    feature_reference: dict[str, Any] = field(default_factory=dict)
    feature_importance: dict[str, float] | None = None
    windows: dict[str, Any] = field(default_factory=dict)  # train_first, train_last, test_first, test_last, gap_days
    training_rows: int | None = None
    test_rows: int | None = None
    label_horizon_days: int | None = None
    data_version: str | None = None
    definition: str | None = None  # what churn means to the model: inactivity or cancellation (older cards: inactivity)
    renewal_grace_days: int | None = None  # cancellation: a renewal within it continues the subscription
    type_features: dict[str, str] | None = None  # source event type -> its columns' prefix, fixed at training
    role: str | None = None  # "baseline" for a baseline registered as the fallback; None for a trained model
    fallback: str | None = None  # the version of the best baseline model registered beside this one
    # added by churn_model
    training_sample: dict[str, Any] | None = None
    code_version: str | None = None
    launch: dict[str, Any] | None = None
    # added by the registry
    version: str | None = None
    created: str | None = None
    artifact: str | None = None
    format: str | None = None
    sha256: str | None = None
    fingerprint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys of other releases, kept as they are

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """A card from its JSON form; a missing optional section is left empty. Raises ``KeyError`` naming a required
        key (candidate, features: without them the model cannot be described or served)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        for required in ("candidate", "features"):
            if required not in values:
                raise KeyError(required)
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every section (those added later only once set), and ``extra`` merged back."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for key in _LATER_KEYS:
            if out[key] is None:
                del out[key]
        return {**self.extra, **out}

    def metric(self, name: str) -> str:
        """A test metric to 4 places, or ``-`` for a card without it."""
        value = self.metrics.get(name)
        return f"{value:.4f}" if isinstance(value, int | float) else "-"

    @property
    def test_window(self) -> str:
        """``test_first..test_last``, or ``?`` for a card without windows."""
        if "test_first" not in self.windows:
            return "?"
        return f"{self.windows['test_first']}..{self.windows['test_last']}"
