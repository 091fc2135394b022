"""Artifacts (models, model cards, drift reports) in a GCS bucket under a prefix.

The client comes from dagster-gcp's ``GCSResource``. google-cloud-storage honours the standard
``STORAGE_EMULATOR_HOST`` variable, so the same code talks to a local emulator in tests.
"""

import os

from dagster_gcp import GCSResource
from google.api_core.exceptions import NotFound
from google.cloud import storage

from churn_assets.core.registry.artifacts import ArtifactNotFound, ArtifactStore
from churn_assets.io.artifacts import ArtifactsResource
from churn_assets.io.objects import client_from_service_account


class GCSArtifactStore:
    """The ``ArtifactStore`` protocol over ``gs://<bucket>/<prefix>/<key>``."""

    def __init__(self, client: storage.Client, bucket: str, prefix: str = ""):
        self.bucket = client.bucket(bucket)
        self.prefix = prefix.strip("/")

    def _name(self, key: str) -> str:
        if ".." in key.split("/"):
            raise ValueError(f"artifact key {key!r} leaves the store")
        return f"{self.prefix}/{key}" if self.prefix else key

    def write_bytes(self, key: str, data: bytes) -> None:
        # one object upload is atomic: readers see the old object or the new one, never a part
        self.bucket.blob(self._name(key)).upload_from_string(data)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.bucket.blob(self._name(key)).download_as_bytes()
        except NotFound as exc:
            raise ArtifactNotFound(f"no artifact {key!r} in gs://{self.bucket.name}/{self.prefix}") from exc

    def exists(self, key: str) -> bool:
        return self.bucket.blob(self._name(key)).exists()

    def list(self, prefix: str) -> list[str]:
        start = len(self.prefix) + 1 if self.prefix else 0
        return sorted(b.name[start:] for b in self.bucket.list_blobs(prefix=self._name(prefix)))

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket.name}/{self._name(key)}"


class GCSArtifactsResource(ArtifactsResource):
    """Artifacts in ``gs://<bucket>/<prefix>``, through dagster-gcp's GCS client (Application Default
    Credentials), or a service account given as base64 JSON."""

    gcs: GCSResource
    bucket: str
    prefix: str = ""
    credentials_b64: str | None = None

    def store(self) -> ArtifactStore:
        # against the emulator the client is anonymous (a real key would make it dial Google's token service)
        if self.credentials_b64 and not os.environ.get("STORAGE_EMULATOR_HOST"):
            client = client_from_service_account(self.credentials_b64, self.gcs.project)
        else:
            client = self.gcs.get_client()
        return GCSArtifactStore(client, self.bucket, self.prefix)

    def link(self, key: str, served_path: str) -> str:
        """The object's page in the Cloud console (the API serves it too, at ``served_path``)."""
        name = f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key
        return f"https://console.cloud.google.com/storage/browser/_details/{self.bucket}/{name}"
