"""A small model registry over an artifact store.

Layout under ``models/``::

    <version>/model.skops       the fitted pipeline, in skops' format (loading it runs no code from the file)
    <version>/card.json         the model card (metrics, windows, features, sha256 of model.skops)
    <version>/card.html         the same card as a page a person reads (core/registry/card_page.py)
    <version>/test_set.parquet  the test window it was judged on (promotion re-scores production on it)
    <version>/reference.parquet a sample of its test-window features (the drift reference)
    production.json             {"version": ..., "history": [earlier production versions]}
    decisions.json              every promotion decision: version, promoted, reason, time

Why skops and not pickle/joblib, and the trusted types: ``core/registry/model_files.py``.

The version id is ``m-`` + the first 12 hex digits of the artifact's sha256, and loading checks the bytes
against both the version id and the card: a swapped file under an existing version is refused. What this does
not protect against: someone with write access to the store can register a *new* version (new id, new card)
and point production at it; that access is the trust boundary (see docs/models.md, "What protects the models").

Retraining on the same data with the same code gives the same fitted model; its ``fingerprint`` (sha256 of
the pickled model, computed on save, never loaded) finds the existing version, so nothing is registered twice.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from churn_assets.core.registry.artifacts import ArtifactNotFound, ArtifactStore
from churn_assets.core.registry.card import BASELINE_ROLE, ModelCard
from churn_assets.core.registry.card_page import card_page
from churn_assets.core.registry.model_files import ModelIntegrityError, dumps, load_verified, sha256

PREFIX = "models"
POINTER = f"{PREFIX}/production.json"
DECISIONS = f"{PREFIX}/decisions.json"
ARTIFACT = "model.skops"


VERSION = re.compile(r"m-[0-9a-f]{12}")


class RegistryError(ValueError):
    """An operation the registry cannot do (unknown version, nothing to roll back to, a corrupt file)."""


def normalize_version(text: str) -> str:
    """A version id as typed (``m-…``, a trailing slash allowed), or a RegistryError naming what is wrong."""
    version = text.strip().rstrip("/")
    if not VERSION.fullmatch(version):
        raise RegistryError(f"{text!r} is not a model version id (m- and 12 hex digits, as `model list` shows)")
    return version


class ModelRegistry:
    def __init__(self, store: ArtifactStore):
        self.store = store
        self.unreadable: list[str] = []  # errors of cards left out by the last versions()

    def _key(self, version: str, name: str) -> str:
        return f"{PREFIX}/{version}/{name}"

    def _json(self, key: str) -> Any:
        """A JSON file of the registry, or a RegistryError naming the file when it is not valid JSON."""
        data = self.store.read_bytes(key)
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise RegistryError(f"{self.store.uri(key)} is corrupt: {exc}; restore it or remove it") from None

    def register(self, model: Any, card: ModelCard, frames: dict[str, pd.DataFrame]) -> tuple[str, bool]:
        """Save a model with its card and frames. Returns (version, created): an identical model is not saved twice.

        The version id is the digest of the model's canonical skops bytes (``model_files.dumps``), so the same
        fitted model has the same id in any data directory, and two processes registering it at once write the
        same version, once. A model an earlier release registered under another id is found by its fingerprint."""
        data = dumps(model)
        digest = sha256(data)
        version = f"m-{digest[:12]}"
        if self.store.exists(self._key(version, "card.json")):
            return version, False
        fingerprint = sha256(pickle.dumps(model, protocol=5))
        known = next((c.version for c in self.versions() if c.fingerprint == fingerprint), None)
        if known is not None:
            return known, False
        for name, frame in frames.items():
            self.store.write_bytes(self._key(version, f"{name}.parquet"), _parquet(frame))
        self.store.write_bytes(self._key(version, ARTIFACT), data)
        card = replace(
            card,
            version=version,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            artifact=self._key(version, ARTIFACT),
            format="skops",
            sha256=digest,
            fingerprint=fingerprint,
        )
        # the page a person reads, then the card: a version without a card is incomplete and never listed or loaded
        self.store.write_bytes(self._key(version, "card.html"), card_page(card, production=None).encode())
        card_json = json.dumps(card.to_dict(), indent=2, sort_keys=True).encode()
        self.store.write_bytes(self._key(version, "card.json"), card_json)
        return version, True

    def card(self, version: str) -> ModelCard:
        key = self._key(version, "card.json")
        try:
            data = self._json(key)
        except ArtifactNotFound:
            raise RegistryError(f"no model version {version!r} in the registry") from None
        if not isinstance(data, dict) or data.get("version") != version or "created" not in data:
            raise RegistryError(f"{self.store.uri(key)} is not the card of {version}")
        try:
            return ModelCard.from_dict(data)
        except KeyError as exc:
            raise RegistryError(f"{self.store.uri(key)} has no {exc.args[0]!r}: it is not a model card") from None

    def versions(self) -> list[ModelCard]:
        """Cards of every registered version, oldest first. A card that cannot be read is left out and its
        error kept in ``unreadable``, so one bad card never hides the others."""
        cards, self.unreadable = [], []
        for key in self.store.list(PREFIX):
            parts = key.split("/")
            if len(parts) != 3 or parts[2] != "card.json" or not VERSION.fullmatch(parts[1]):
                continue
            try:
                cards.append(self.card(parts[1]))
            except RegistryError as exc:
                self.unreadable.append(str(exc))
        # within one second (``created`` has seconds), a baseline fallback is registered before the model it backs
        return sorted(cards, key=lambda c: (c.created, c.role != BASELINE_ROLE, c.version))

    def latest(self) -> str | None:
        """The newest trained model (a baseline registered as its fallback is not one)."""
        cards = [c for c in self.versions() if c.role != BASELINE_ROLE]
        return cards[-1].version if cards else None

    def load(self, version: str) -> Any:
        """Load a model after its bytes match its version id and its card, building only trusted types."""
        version = normalize_version(version)
        card = self.card(version)
        key = self._key(version, ARTIFACT)
        try:
            data = self.store.read_bytes(key)
        except ArtifactNotFound:
            older = self.store.exists(self._key(version, "model.joblib"))
            hint = " (a pickle artifact of an earlier release, which is never loaded: retrain)" if older else ""
            raise ModelIntegrityError(f"model {version}: artifact {key} missing{hint}") from None
        return load_verified(data, version, key, card.sha256)

    def frame(self, version: str, name: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.store.read_bytes(self._key(version, f"{name}.parquet"))))

    def _pointer(self) -> dict[str, Any]:
        if not self.store.exists(POINTER):
            return {"version": None, "history": []}
        pointer = self._json(POINTER)
        if not isinstance(pointer, dict) or "version" not in pointer or not isinstance(pointer.get("history"), list):
            raise RegistryError(f"{self.store.uri(POINTER)} is corrupt: no version and history; restore it")
        return pointer

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
        version = normalize_version(version)
        self.card(version)  # must exist
        pointer = self._pointer()
        history = [*pointer["history"], pointer["version"]] if pointer["version"] else pointer["history"]
        self._write_pointer(version, history, reason)

    def decisions(self) -> list[dict[str, Any]]:
        decisions = self._json(DECISIONS) if self.store.exists(DECISIONS) else []
        if not isinstance(decisions, list):
            raise RegistryError(f"{self.store.uri(DECISIONS)} is corrupt: not a list of decisions; restore it")
        return decisions

    def why_no_production(self) -> str:
        """What a reader needs when nothing is in production: which model was refused and why, or what to run."""
        latest = self.latest()
        if latest is None:
            return "no model is registered yet; materialize churn_model, then production_model"
        decision = self.decision(latest)
        if decision is None:
            return f"{latest} is registered but not judged yet; materialize production_model"
        return f"{latest} was not promoted ({decision['reason']}); no earlier model was either"

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
        """Point production at ``version``, or at the previous production version. Returns the new version.

        Without ``version`` this undoes the last promotion: the previous production comes off the history. With
        one, the production it replaces joins the history, so nothing that was in production is forgotten and a
        plain rollback afterwards returns to it."""
        pointer = self._pointer()
        history = list(pointer["history"])
        if version is None:
            if not history:
                raise RegistryError("no earlier production version to roll back to")
            version = history.pop()
        else:
            version = normalize_version(version)
            self.card(version)
            current = pointer["version"]
            history = [v for v in history if v not in (version, current)] + ([current] if current != version else [])
            history = [v for v in history if v]
        self.load(version)  # never point production at a model that fails its integrity check
        self._write_pointer(version, history, f"rollback from {pointer['version']}")
        return version


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
