"""What the HTTP API serves, without the web framework: the predictions snapshot the pipeline publishes, a
user's risk as ready-made JSON, and the checks a posted feature row must pass.

The pipeline publishes each scored day to the artifact store (``serving/predictions/<day>.parquet``) and then
moves ``serving/latest.json`` to it when the day is the newest scored. The API reads that snapshot, never the
warehouse: the embedded DuckDB file allows one writer, and serving must neither block a pipeline run nor be
blocked by one. Publishing writes the snapshot before the pointer, so a reader sees the old day or the new,
never half of one.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd

from churn_assets.core.registry.artifacts import ArtifactNotFound, ArtifactStore
from churn_assets.core.warehouse.feature_spec import (
    CATEGORICAL_FEATURES,
    MAX_CATEGORY_LENGTH,
    MAX_FEATURE_VALUE,
    may_be_negative,
)

LATEST = "serving/latest.json"
MAX_BATCH_ROWS = 1000  # rows one POST /v1/predict may carry


def snapshot_key(day: str) -> str:
    """The artifact key of day ``day``'s predictions snapshot."""
    return f"serving/predictions/{day}.parquet"


def publish_snapshot(store: ArtifactStore, predictions: pd.DataFrame) -> str | None:
    """Write each day of ``predictions`` as a snapshot; point ``latest`` at the newest day if it is newer than
    the one served (a backfill of older days does not move it back). Returns the day ``latest`` names."""
    current = read_latest(store)
    newest = current["day"] if current else None
    for stamp, day_rows in predictions.groupby("as_of_date"):
        day = pd.Timestamp(stamp).date().isoformat()
        buffer = io.BytesIO()
        day_rows.reset_index(drop=True).to_parquet(buffer, index=False)
        store.write_bytes(snapshot_key(day), buffer.getvalue())
        if newest is None or day >= newest:
            versions = sorted(day_rows["model_version"].unique().tolist())
            pointer = {"day": day, "key": snapshot_key(day), "rows": len(day_rows), "model_versions": versions}
            store.write_bytes(LATEST, json.dumps(pointer).encode())
            newest = day
    return newest


def read_latest(store: ArtifactStore) -> dict | None:
    """The pointer to the newest published snapshot (``day``, ``key``, ``rows``, ``model_versions``), or None."""
    try:
        return json.loads(store.read_bytes(LATEST))
    except ArtifactNotFound:
        return None


@dataclass
class Snapshot:
    """One scored day, indexed by user id, each user's answer already serialized."""

    day: str
    rows: int
    by_user: dict[str, bytes] = field(repr=False)

    @classmethod
    def load(cls, store: ArtifactStore, pointer: dict) -> Snapshot:
        frame = pd.read_parquet(io.BytesIO(store.read_bytes(pointer["key"])))
        return cls.from_frame(pointer["day"], frame)

    @classmethod
    def from_frame(cls, day: str, frame: pd.DataFrame) -> Snapshot:
        by_user = {
            user: orjson.dumps(
                {"user_id": user, "as_of_date": day, **answer, "rank": int(rank), "model_version": version, **money}
            )
            for user, answer, rank, version, money in zip(
                frame["user_id"].astype(str),
                scored_rows(frame),
                frame["rank"].to_numpy(dtype=int),
                frame["model_version"].astype(str),
                _retention_fields(frame),
                strict=True,
            )
        }
        return cls(day=day, rows=len(frame), by_user=by_user)


RETENTION_FIELDS = ("customer_value", "value_at_risk", "control")


def _retention_fields(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's value, value at risk and control flag (``core/retention``); none for a snapshot published
    before predictions carried them."""
    if not set(RETENTION_FIELDS) <= set(frame.columns):
        return [{} for _ in range(len(frame))]
    value = frame["customer_value"].to_numpy(dtype=float).round(4)
    at_risk = frame["value_at_risk"].to_numpy(dtype=float).round(4)
    control = frame["control"].to_numpy(dtype=bool)
    return [
        {"customer_value": float(v), "value_at_risk": float(r), "control": bool(c)}
        for v, r, c in zip(value, at_risk, control, strict=True)
    ]


class RowError(ValueError):
    """Posted feature rows that do not match the model's features; ``problems`` names each."""

    def __init__(self, problems: list[dict[str, Any]], message: str | None = None):
        super().__init__(message or f"{len(problems)} row(s) do not match the model's features")
        self.problems = problems


def rows_frame(rows: Sequence[Any], features: Sequence[str]) -> pd.DataFrame:
    """The posted rows as a frame of the model's ``features``, once ``check_rows`` accepts them."""
    check_rows(rows, features)
    return pd.DataFrame.from_records(list(rows), columns=list(features))


def check_rows(rows: Sequence[Any], features: Sequence[str]) -> None:
    """Refuse (``RowError``) a batch of the wrong size, or a row that is not an object, misses a feature, carries
    one the model does not know, or holds a value the pipeline would never compute: a number for numeric features,
    finite, within ``MAX_FEATURE_VALUE`` and not negative but for trends (``feature_spec.may_be_negative``); a
    UTF-8-encodable string of at most ``MAX_CATEGORY_LENGTH`` characters for ``plan`` and ``channel``. Every row is
    checked completely here, before it joins a scoring batch shared with other clients."""
    if not 1 <= len(rows) <= MAX_BATCH_ROWS:
        raise RowError([], f"post between 1 and {MAX_BATCH_ROWS} rows, got {len(rows)}")
    expected = set(features)
    problems = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append({"row": i, "error": "not an object of feature values"})
            continue
        found: dict[str, Any] = {}
        missing = sorted(expected - set(row))
        extra = sorted(_printable(str(name)) for name in set(row) - expected)
        invalid = {name: _type_error(name, row[name]) for name in features if name in row}
        invalid = {name: error for name, error in invalid.items() if error}
        if missing:
            found["missing"] = missing
        if extra:
            found["extra"] = extra
        if invalid:
            found["invalid"] = invalid
        if found:
            problems.append({"row": i, **found})
    if problems:
        raise RowError(problems)


def _type_error(name: str, value: Any) -> str | None:
    if name in CATEGORICAL_FEATURES:
        if not isinstance(value, str):
            return f"expected a string, got {type(value).__name__}"
        if len(value) > MAX_CATEGORY_LENGTH:
            return f"expected at most {MAX_CATEGORY_LENGTH} characters, got {len(value)}"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "expected text that UTF-8 can encode (a lone surrogate is not)"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"expected a number, got {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return "expected a finite number"
    if abs(value) > MAX_FEATURE_VALUE:  # an int of any size compares without overflow
        return f"expected at most {MAX_FEATURE_VALUE:.0e} in size"
    if value < 0 and not may_be_negative(name):
        return "expected a value that is not negative (a count, sum, rate or age)"
    return None


def _printable(text: str) -> str:
    """``text`` as it can be written back in a JSON answer (a lone surrogate escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def scored_rows(scored: pd.DataFrame) -> list[dict[str, Any]]:
    """Scored rows (probability, tier, ``reason_1..3``) as the API's answer per row: a snapshot's users and
    posted rows alike."""
    reasons = scored[["reason_1", "reason_2", "reason_3"]].astype(object).to_numpy()
    probability = scored["churn_probability"].to_numpy(dtype=float)
    return [
        {
            "churn_probability": round(float(p), 6),
            "risk_tier": str(tier),
            "reasons": [r for r in reasons[i] if isinstance(r, str)],
        }
        for i, (p, tier) in enumerate(zip(probability, scored["risk_tier"], strict=True))
    ]
