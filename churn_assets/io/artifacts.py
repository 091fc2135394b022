"""The artifact stores as Dagster resources: the contract every deployment binds, and the local folder's.

GCS's is in ``io/gcs.py``, imported only by the gcp deployment.
"""

from __future__ import annotations

from abc import abstractmethod

import dagster as dg

from churn_assets.core.registry.artifacts import ArtifactStore, LocalArtifactStore
from churn_assets.core.registry.model_registry import ModelRegistry


class ArtifactsResource(dg.ConfigurableResource):
    """Where artifacts (models, model cards, reports) live; each deployment binds a subclass."""

    @abstractmethod
    def store(self) -> ArtifactStore:
        """The deployment's store."""

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.store())

    def link(self, key: str, served_path: str) -> str:
        """Where a person opens the artifact ``key``: a browser refuses ``file://`` links from the UI."""
        return self.store().uri(key)


class LocalArtifactsResource(ArtifactsResource):
    """Artifacts in a local folder; people open them through the HTTP API (``churn-assets serve``) at
    ``serve_url``."""

    root: str
    serve_url: str

    def store(self) -> ArtifactStore:
        return LocalArtifactStore(self.root)

    def link(self, key: str, served_path: str) -> str:
        return f"{self.serve_url.rstrip('/')}{served_path}"
