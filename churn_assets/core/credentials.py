"""The service-account key given as base64 JSON (``CHURN_GCP_CREDENTIALS_B64``), decoded in one place."""

from __future__ import annotations

import base64
import json


def service_account_info(credentials_b64: str) -> dict:
    """The key's JSON. A value that is not base64 JSON is refused without quoting any part of it."""
    try:
        info = json.loads(base64.b64decode(credentials_b64, validate=True))
    except ValueError:
        # never chain the decoding error: its message could quote part of the key
        raise ValueError("the service-account key (CHURN_GCP_CREDENTIALS_B64) is not base64-encoded JSON") from None
    if not isinstance(info, dict):
        raise ValueError("the service-account key (CHURN_GCP_CREDENTIALS_B64) is not a JSON object")
    return info
