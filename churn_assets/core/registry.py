"""A small model registry over an artifact store.

Layout under ``models/``::

    <version>/model.joblib      the fitted pipeline
    <version>/card.json         the model card (metrics, windows, features, sha256 of model.joblib)
    <version>/test_set.parquet  the test window it was judged on (promotion re-scores production on it)
    <version>/reference.parquet a sample of its training features (the drift reference)
    production.json             {"version": ..., "history": [earlier production versions]}
    decisions.json              every promotion decision: version, promoted, reason, time

The version id is derived from the artifact's sha256, so retraining on the same data with the same
code gives the same version and registers nothing new. Loading a model verifies the sha256 recorded in
its card before anything is unpickled; a mismatch or a file without a card is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from typing import Any

import joblib
import pandas as pd

from churn_assets.core.artifacts import ArtifactNotFound, ArtifactStore

PREFIX = "models"
POINTER = f"{PREFIX}/production.json"
DECISIONS = f"{PREFIX}/decisions.json"


class ModelIntegrityError(ValueError):
    """A model artifact that does not match its card, or has none: it is never unpickled."""


class RegistryError(ValueError):
    """An operation the registry cannot do (unknown version, nothing to roll back to)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ModelRegistry:
    def __init__(self, store: ArtifactStore):
        self.store = store

    def _key(self, version: str, name: str) -> str:
        return f"{PREFIX}/{version}/{name}"

    def register(self, model: Any, card: dict[str, Any], frames: dict[str, pd.DataFrame]) -> tuple[str, bool]:
        """Save a model with its card and frames. Returns (version, created): an identical model is not saved twice."""
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        data = buffer.getvalue()
        digest = sha256(data)
        version = f"m-{digest[:12]}"
        if self.store.exists(self._key(version, "card.json")):
            return version, False
        for name, frame in frames.items():
            self.store.write_bytes(self._key(version, f"{name}.parquet"), _parquet(frame))
        self.store.write_bytes(self._key(version, "model.joblib"), data)
        card = {
            **card,
            "version": version,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "artifact": self._key(version, "model.joblib"),
            "sha256": digest,
        }
        # the card goes last: a version without a card is incomplete and never listed or loaded
        self.store.write_bytes(self._key(version, "card.json"), json.dumps(card, indent=2, sort_keys=True).encode())
        return version, True

    def card(self, version: str) -> dict[str, Any]:
        try:
            return json.loads(self.store.read_bytes(self._key(version, "card.json")))
        except ArtifactNotFound as exc:
            raise RegistryError(f"no model version {version!r} in the registry") from exc

    def versions(self) -> list[dict[str, Any]]:
        """Cards of every registered version, oldest first."""
        cards = [json.loads(self.store.read_bytes(k)) for k in self.store.list(PREFIX) if k.endswith("/card.json")]
        return sorted(cards, key=lambda c: (c["created"], c["version"]))

    def latest(self) -> str | None:
        cards = self.versions()
        return cards[-1]["version"] if cards else None

    def load(self, version: str) -> Any:
        """Unpickle a model only after its bytes match the sha256 in its card."""
        card = self.card(version)
        try:
            data = self.store.read_bytes(self._key(version, "model.joblib"))
        except ArtifactNotFound as exc:
            raise ModelIntegrityError(
                f"model {version}: artifact {self._key(version, 'model.joblib')} missing"
            ) from exc
        digest = sha256(data)
        if digest != card.get("sha256"):
            raise ModelIntegrityError(
                f"model {version}: sha256 of {self._key(version, 'model.joblib')} is {digest[:16]}…, "
                f"its card says {str(card.get('sha256'))[:16]}…; refusing to load a modified or foreign file"
            )
        return joblib.load(io.BytesIO(data))

    def frame(self, version: str, name: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.store.read_bytes(self._key(version, f"{name}.parquet"))))

    def _pointer(self) -> dict[str, Any]:
        if not self.store.exists(POINTER):
            return {"version": None, "history": []}
        return json.loads(self.store.read_bytes(POINTER))

    def production(self) -> str | None:
        return self._pointer()["version"]

    def _write_pointer(self, version: str, history: list[str], reason: str) -> None:
        pointer = {
            "version": version,
            "history": history,
            "reason": reason,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.store.write_bytes(POINTER, json.dumps(pointer, indent=2).encode())

    def promote(self, version: str, reason: str) -> None:
        self.card(version)  # must exist
        pointer = self._pointer()
        history = [*pointer["history"], pointer["version"]] if pointer["version"] else pointer["history"]
        self._write_pointer(version, history, reason)

    def decisions(self) -> list[dict[str, Any]]:
        return json.loads(self.store.read_bytes(DECISIONS)) if self.store.exists(DECISIONS) else []

    def decision(self, version: str) -> dict[str, Any] | None:
        return next((d for d in reversed(self.decisions()) if d["version"] == version), None)

    def record_decision(self, version: str, promoted: bool, reason: str) -> None:
        entry = {
            "version": version,
            "promoted": promoted,
            "reason": reason,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.store.write_bytes(DECISIONS, json.dumps([*self.decisions(), entry], indent=2).encode())

    def rollback(self, version: str | None = None) -> str:
        """Point production at ``version``, or at the previous production version. Returns the new version."""
        pointer = self._pointer()
        history = list(pointer["history"])
        if version is None:
            if not history:
                raise RegistryError("no earlier production version to roll back to")
            version = history.pop()
        else:
            self.card(version)
            history = [v for v in history if v != version]
        self.load(version)  # never point production at a model that fails its integrity check
        self._write_pointer(version, history, f"rollback from {pointer['version']}")
        return version


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
