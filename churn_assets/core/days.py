"""Days and the days a computation needs: a missing one is an error that names it, never a silent gap."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, timedelta


class MissingDaysError(ValueError):
    """A computation needs days of a table that are not there; the message names them."""


def day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_chunks(first: date, last: date, chunk_days: int) -> list[tuple[date, date]]:
    """first ... last cut into consecutive ranges of at most ``chunk_days`` days."""
    chunks, start = [], first
    while start <= last:
        end = min(last, start + timedelta(days=chunk_days - 1))
        chunks.append((start, end))
        start = end + timedelta(days=1)
    return chunks


def describe_days(days: list[date]) -> str:
    """Compact ranges, e.g. '2026-05-01..2026-05-03, 2026-05-07 (4 days)'."""
    runs: list[list[date]] = []
    for d in sorted(days):
        if runs and d - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(d)
        else:
            runs.append([d])
    text = ", ".join(r[0].isoformat() if len(r) == 1 else f"{r[0].isoformat()}..{r[-1].isoformat()}" for r in runs)
    return f"{text} ({len(days)} day{'s' if len(days) != 1 else ''})"


def require_days(what: str, table: str, needed: Iterable[date], available: Collection[date]) -> None:
    """Raise ``MissingDaysError`` naming the days of ``table`` that ``what`` needs and that are not available."""
    missing = sorted(set(needed) - set(available))
    if missing:
        raise MissingDaysError(
            f"Cannot compute {what}: {table} is missing {describe_days(missing)}. Materialize those days first."
        )
