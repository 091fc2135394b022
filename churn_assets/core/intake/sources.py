"""Reading events and users from files (CSV or Parquet), on local disk or in GCS (``gs://bucket/path``).

Files are reached through a ``Files`` object (``LOCAL`` here; ``io/objects.GCSFiles`` for ``gs://``), so
the parsing below is the same wherever the bytes come from. Two layouts of events are understood:

* one file holding every day, e.g. ``events.parquet``: a day's partition is the rows whose
  ``event_time`` falls on that UTC day;
* one file per day, a path with a ``{date}`` placeholder, e.g. ``exports/events-{date}.csv``:
  the day's partition is that file, and rows whose ``event_time`` lies on another day are
  quarantined by validation instead of being moved silently.

Structural problems (a missing file or column, a timestamp that cannot be read) raise
:class:`SourceFileError` naming the file, the column and the rows. Problems of single rows are
left to validation, which quarantines them with a reason.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Protocol

import numpy as np
import pandas as pd

from churn_assets.core.intake.schema import (
    REQUIRED_EVENT_COLUMNS,
    REQUIRED_USER_COLUMNS,
    SourceFileError,
    require_columns,
)
from churn_assets.core.intake.times import parse_times, refuse_ambiguous_dates
from churn_assets.core.intake.vocabulary import UNTYPED_KIND

DATE_PLACEHOLDER = "{date}"


class Files(Protocol):
    """Where source files live: ``version`` is None for a missing file, else a value that changes when the
    file does (a modification time, an object generation); ``open`` gives something pandas reads."""

    def version(self, path: str) -> int | None: ...

    def open(self, path: str) -> str | io.BytesIO: ...


class LocalFiles:
    def version(self, path: str) -> int | None:
        p = Path(path)
        return p.stat().st_mtime_ns if p.is_file() else None

    def open(self, path: str) -> str:
        return path


LOCAL = LocalFiles()


def read_table(path: str | Path, files: Files = LOCAL) -> pd.DataFrame:
    """Read a CSV or Parquet file with every column as it is; CSV cells stay strings."""
    path = str(path)
    refuse_directory(path)
    if files.version(path) is None:
        raise SourceFileError(f"{path}: file not found")
    suffix = PurePosixPath(path).suffix.lower()
    if suffix not in (".parquet", ".csv", ".txt"):
        raise SourceFileError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(files.open(path))
        return pd.read_csv(files.open(path), dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError) as exc:  # not chained: the file's name must be the innermost message
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceFileError(f"{path}: cannot be read as {suffix[1:]}: {reason}") from None


def day_window(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The half-open UTC range [midnight, next midnight) of a day."""
    start = pd.Timestamp(datetime(day.year, day.month, day.day, tzinfo=UTC))
    return start, start + timedelta(days=1)


def events_path_for(template: str, day: date) -> str:
    """The file of day ``day`` in a per-day template (``{date}`` replaced by the ISO day)."""
    return template.replace(DATE_PLACEHOLDER, day.isoformat())


def typed_events(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """A copy with the required columns checked and ``event_type`` present: a plain log of activity (no type
    column) is a log of purchases (core/intake/vocabulary.py). Types lose padding spaces (`` cart `` is ``cart``):
    an export's padding is never part of a name, and a setting could not name it."""
    require_columns(frame, REQUIRED_EVENT_COLUMNS, where)
    frame = frame.copy()
    if "event_type" not in frame.columns:
        frame["event_type"] = UNTYPED_KIND
    elif frame["event_type"].dtype == object or pd.api.types.is_string_dtype(frame["event_type"]):
        frame["event_type"] = frame["event_type"].str.strip().where(frame["event_type"].notna(), None)
    return frame


@lru_cache(maxsize=4)
def _read_events_file(path: str, version: int, files: Files) -> pd.DataFrame:
    frame = typed_events(read_table(path, files), path)
    if "event_id" not in frame.columns:
        # Files without ids get a stable one: the file name and the row's line.
        name = PurePosixPath(path).name
        frame.insert(0, "event_id", [f"{name}:{i + 2}" for i in range(len(frame))])
    frame["event_time"] = parse_times(frame["event_time"], "event_time", path)
    return frame


@lru_cache(maxsize=4)
def _rows_by_day(path: str, version: int, files: Files) -> dict[date, np.ndarray]:
    """The positions of each UTC day's rows in a single events file, in the file's order: found once, where
    selecting each day by comparing every row's time would read the whole file once per day."""
    times = _read_events_file(path, version, files)["event_time"]
    return {day.date(): rows for day, rows in times.groupby(times.dt.floor("D")).indices.items()}


def refuse_directory(path: str) -> None:
    """A local directory given where a file belongs is named as such, not as a missing file."""
    if not path.startswith("gs://") and Path(path).is_dir():
        raise SourceFileError(
            f"{path}: is a directory, not a CSV or Parquet file (give the file, or a per-day template such as "
            f"{Path(path) / 'events_{date}.csv'})"
        )


def _version(path: str, files: Files, missing: str) -> int:
    """The file's version (``Files.version``), or ``SourceFileError`` naming it with ``missing``."""
    refuse_directory(path)
    version = files.version(path)
    if version is None:
        raise SourceFileError(f"{path}: {missing}")
    return version


def _events_file(path: str, files: Files, missing: str) -> pd.DataFrame:
    return _read_events_file(path, _version(path, files, missing), files)


def _single_file(path: str, files: Files) -> tuple[pd.DataFrame, dict[date, np.ndarray]]:
    """A single events file and its rows per UTC day, both of one version of it (asked once: in GCS a request)."""
    version = _version(path, files, "file not found")
    return _read_events_file(path, version, files), _rows_by_day(path, version, files)


def read_events(template: str, day: date, files: Files = LOCAL) -> pd.DataFrame:
    """The raw events of one UTC day from a single file or a per-day file template."""
    if DATE_PLACEHOLDER in template:
        path = events_path_for(template, day)
        return _events_file(path, files, f"no events file for {day.isoformat()}").reset_index(drop=True)
    frame, rows = _single_file(template, files)
    return frame.take(rows.get(day, np.empty(0, dtype=np.intp))).reset_index(drop=True)


def waiting_for(template: str, day: date, files: Files = LOCAL) -> str | None:
    """None once a file source holds the UTC day ``day`` (its day file exists; a single file holds an event of the
    day or later), else what the refresh waits for. The day itself has ended: Dagster lists no later partition."""
    if DATE_PLACEHOLDER in template:
        path = events_path_for(template, day)
        return None if files.version(path) is not None else f"{path} does not exist yet"
    if files.version(template) is None:
        return f"{template} does not exist yet"
    return holds_day(template, _events_file(template, files, "file not found")["event_time"].max(), day)


def source_days(template: str, files: Files = LOCAL) -> tuple[date, date] | None:
    """The first and last UTC day of a file source (``source_day_rows``); None when there are none."""
    return day_span(source_day_rows(template, files))


def day_span(rows: dict[date, int] | None) -> tuple[date, date] | None:
    """The first and last day of a source's rows per day; None when it holds no day (or they are unknown)."""
    return (min(rows), max(rows)) if rows else None


def source_day_rows(template: str, files: Files = LOCAL) -> dict[date, int] | None:
    """The rows of each UTC day of a file source, found cheaply: a per-day template's from its day files (found by
    listing; rows counted from a Parquet file's footer or a CSV file's line breaks, nothing parsed; local templates
    only, else None), a single file's from its events' times (the file read once, as the run reads it, and kept)."""
    if DATE_PLACEHOLDER in template:
        if template.startswith("gs://"):
            return None
        folder, pattern = Path(template).parent, Path(template).name
        named = re.compile(re.escape(pattern).replace(re.escape(DATE_PLACEHOLDER), r"(\d{4}-\d{2}-\d{2})") + "$")
        days = {date.fromisoformat(m.group(1)): p for p in folder.glob("*") if (m := named.match(p.name))}
        return {day: _file_rows(path) for day, path in sorted(days.items())}
    return {day: len(rows) for day, rows in sorted(_single_file(template, files)[1].items())}


def _file_rows(path: Path) -> int:
    """Data rows of a local CSV (its line breaks, less the header) or Parquet file (its footer)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    breaks, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            breaks, last = breaks + chunk.count(b"\n"), chunk[-1:]
    return max(0, breaks + (last != b"\n") - 1)


def holds_day(source: str, latest, day: date) -> str | None:
    """None when a source whose newest event is at ``latest`` holds day ``day`` (an event of it or later)."""
    if pd.isna(latest) or pd.Timestamp(latest) < day_window(day)[0]:
        return f"{source} holds no event of {day} or later yet (its last is {latest})"
    return None


def read_users(path: str, files: Files = LOCAL) -> pd.DataFrame:
    """The users file at ``path`` (local or ``gs://``), refused with the file named when a column is missing or a
    signup date is ambiguous."""
    frame = read_table(path, files)
    require_columns(frame, REQUIRED_USER_COLUMNS, path)
    refuse_ambiguous_dates(frame["signup_time"], "signup_time", path)
    return frame


def users_from_events(template: str, days: list[date] | None = None, files: Files = LOCAL) -> pd.DataFrame:
    """Derive users from their first event when no users file is given.

    With a per-day template the days to read must be given; a single file is read whole.
    """
    if DATE_PLACEHOLDER in template:
        paths = [events_path_for(template, d) for d in days or []]
        frames = [_events_file(p, files, "") for p in paths if files.version(p) is not None]
        if not frames:
            raise SourceFileError(f"{template}: no per-day events file found to derive users from")
        events = pd.concat(frames, ignore_index=True)
    else:
        events = _events_file(template, files, "file not found")
    first = events.groupby("user_id", sort=True)["event_time"].min()  # rows without a user are left out
    first = first[first.index.astype(str).str.strip() != ""]  # so are blank ids (looked at once per user)
    return pd.DataFrame({"user_id": first.index.astype(str), "signup_time": first.to_numpy()})
