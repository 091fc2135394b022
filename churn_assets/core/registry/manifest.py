"""Which source a data directory (warehouse and artifact store) holds, so two sources are never mixed.

The first run records the source's identity in the artifact store (``source.json``); a later run with a
different identity is refused with the settings that differ. Without this, ``--days 14`` on a data directory
that holds a 90-day simulation silently overwrote 14 days of one simulation with another and kept the rest.
Injected drift (``--drift-from``) is not part of the identity: it deliberately rewrites the days it shifts. Nor is
the simulator's number of days: its population does not depend on it (``CHURN_SIM_SIGNUP_DAYS`` does, and a run that
leaves it unset adopts the recorded one, ``recorded_signup_days``), so a longer run over the same directory extends
the source.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Protocol

from churn_assets.core.registry.artifacts import ArtifactNotFound

MANIFEST = "source.json"
SOURCE_DAYS = "source_days.json"  # a file source's rows per day as the last complete run counted them
SIGNUP_DAYS = "CHURN_SIM_SIGNUP_DAYS"
SIMULATED_DRIFT = "simulated_drift.json"  # the injected drift the simulator's days hold after a complete run
UNKNOWN = "unknown"  # no record, or a run that changes the drift has not completed


class SourceMismatch(ValueError):
    """The data directory holds another source; the message lists the settings that differ."""


class _Store(Protocol):
    def read_bytes(self, key: str) -> bytes: ...

    def write_bytes(self, key: str, data: bytes) -> None: ...

    def uri(self, key: str) -> str: ...


def source_identity(settings: Any) -> dict[str, str]:
    """The settings that decide what the source produces, by environment variable name."""
    if settings.events_query:
        return {"CHURN_EVENTS_QUERY": settings.events_query, "CHURN_USERS_FILE": settings.users_file or ""}
    if settings.events_file:
        return {"CHURN_EVENTS_FILE": settings.events_file, "CHURN_USERS_FILE": settings.users_file or ""}
    profile = {"CHURN_PROFILE": settings.profile} if settings.profile != "subscription" else {}
    return {
        **profile,
        "CHURN_SEED": str(settings.seed),
        "CHURN_USERS": str(settings.users),
        "CHURN_START_DATE": settings.start_date.isoformat(),
        SIGNUP_DAYS: str(settings.simulation().signup_days),
    }


def check_source(store: _Store, settings: Any) -> None:
    """Record the source on first use; refuse a different one afterwards.

    Raises
    ------
    SourceMismatch
        naming every setting whose value differs from the recorded one, or the manifest if it is corrupt.
    """
    current = source_identity(settings)
    recorded = _recorded(store)
    if recorded is None:
        store.write_bytes(MANIFEST, json.dumps(current, indent=2, sort_keys=True).encode())
        return
    differ = sorted(set(current) | set(recorded))
    diffs = [
        f"{k}={recorded.get(k, '(unset)')!s} there, {current.get(k, '(unset)')!s} now"
        for k in differ
        if recorded.get(k) != current.get(k)
    ]
    if diffs:
        raise SourceMismatch(
            f"{settings.data_dir} holds data of another source ({'; '.join(diffs)}). "
            "Use another --data-dir, or the settings it was made with."
        )


def recorded_signup_days(store: _Store) -> int | None:
    """The simulator's signup span the directory was made with (None: no record, or not the simulator's)."""
    span = (_recorded(store) or {}).get(SIGNUP_DAYS)
    return int(span) if span else None


def _recorded(store: _Store) -> dict[str, str] | None:
    """The recorded identity (None before a first run); a simulator's record of an earlier release names its days,
    which were its span."""
    try:
        raw = store.read_bytes(MANIFEST)
    except ArtifactNotFound:
        return None
    try:
        recorded = json.loads(raw)
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict):
        raise SourceMismatch(f"{store.uri(MANIFEST)} is corrupt; restore it or remove it")
    if "CHURN_DAYS" in recorded and SIGNUP_DAYS not in recorded:
        recorded[SIGNUP_DAYS] = recorded.pop("CHURN_DAYS")
    return recorded


def read_source_days(store: _Store) -> dict[date, int]:
    """The rows per day of the source as the last complete run counted them (none before a first run)."""
    try:
        recorded = json.loads(store.read_bytes(SOURCE_DAYS))
    except (ArtifactNotFound, ValueError):
        return {}
    return {date.fromisoformat(day): int(rows) for day, rows in recorded.items()}


def read_simulated_drift(store: _Store) -> date | None | str:
    """The day from which the simulator's stored days hold injected drift (None: none), or ``UNKNOWN``."""
    try:
        recorded = json.loads(store.read_bytes(SIMULATED_DRIFT))
    except (ArtifactNotFound, ValueError):
        return UNKNOWN
    if not isinstance(recorded, dict) or not recorded.get("complete"):
        return UNKNOWN
    return date.fromisoformat(recorded["drift_from"]) if recorded.get("drift_from") else None


def record_simulated_drift(store: _Store, drift_from: date | None, complete: bool) -> None:
    """Keep the drift the simulator's days hold: ``complete=False`` before a run that changes it (a run that stops
    leaves some days shifted and some not), ``True`` once it has completed."""
    value = {"drift_from": drift_from.isoformat() if drift_from else None, "complete": complete}
    store.write_bytes(SIMULATED_DRIFT, json.dumps(value).encode())


def record_source_days(store: _Store, rows: dict[date, int]) -> None:
    """Keep the rows per day a complete run computed, for the next run to tell new and changed days from the rest."""
    store.write_bytes(SOURCE_DAYS, json.dumps({d.isoformat(): n for d, n in sorted(rows.items())}, indent=1).encode())
