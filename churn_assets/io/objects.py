"""Source files in GCS (``gs://bucket/path``) for ``core/intake/sources.py``: the same parsing as local files.

google-cloud-storage honours ``STORAGE_EMULATOR_HOST``, so tests read from a local emulator. Credentials: the
service-account key when one is given (``CHURN_GCP_CREDENTIALS_B64``), else Application Default Credentials.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import lru_cache

from google.cloud import storage
from google.oauth2 import service_account

from churn_assets.core.credentials import service_account_info

GCS_SCHEME = "gs://"


def client_from_service_account(credentials_b64: str, project: str | None) -> storage.Client:
    info = service_account_info(credentials_b64)
    credentials = service_account.Credentials.from_service_account_info(info)
    return storage.Client(project=project or info.get("project_id"), credentials=credentials)


@lru_cache(maxsize=4)
def _client(credentials_b64: str | None) -> storage.Client:
    # against the emulator the client is anonymous (a real key would make it dial Google's token service)
    if credentials_b64 and not os.environ.get("STORAGE_EMULATOR_HOST"):
        return client_from_service_account(credentials_b64, None)
    return storage.Client()


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix(GCS_SCHEME).partition("/")
    return bucket, name


@dataclass(frozen=True)
class GCSFiles:
    """``core.sources.Files`` over GCS objects; an object's generation is its version."""

    credentials_b64: str | None = None

    def version(self, path: str) -> int | None:
        bucket, name = split_uri(path)
        blob = _client(self.credentials_b64).bucket(bucket).get_blob(name)
        return None if blob is None else int(blob.generation)

    def open(self, path: str) -> io.BytesIO:
        bucket, name = split_uri(path)
        return io.BytesIO(_client(self.credentials_b64).bucket(bucket).blob(name).download_as_bytes())
