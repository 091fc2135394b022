"""How a source's times are read: ISO 8601 by DuckDB's reader, every other form by pandas, ambiguous day/month
dates refused, and what cannot be read named by its file line."""

from __future__ import annotations

import re

import pandas as pd

from churn_assets.core.intake.schema import SourceFileError

_SHOWN_ROWS = 5


# 08/01/2026 is 1 August in the US and 8 January in most other places: such dates are refused, not guessed
AMBIGUOUS_DATE = re.compile(r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b")


def refuse_ambiguous_dates(values: pd.Series, column: str, where: str, line_offset: int = 2) -> None:
    """Raise ``SourceFileError`` naming the file, line and value when ``column`` holds a date like 03/04/2026,
    which reads as March or April depending on the writer's locale. ``values`` are labelled by their row's
    position in the file (a subset keeps its rows' labels); ``line_offset``: the file line of row 0."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return
    ambiguous = values.astype(str).str.match(AMBIGUOUS_DATE)
    if ambiguous.any():
        p = int(ambiguous.index[ambiguous.to_numpy().nonzero()[0][0]])  # the row's label: its position in the file
        raise SourceFileError(
            f"{where}: column {column!r} has {int(ambiguous.sum())} date(s) like {values.loc[p]!r} (line "
            f"{p + line_offset}) that read as day/month or as month/day; write them as ISO 8601, e.g. 2026-08-01 "
            "or 2026-08-01T14:30:00Z"
        )


def parse_times(values: pd.Series, column: str, where: str, line_offset: int = 2) -> pd.Series:
    """Parse timestamps to UTC; naive values are taken as UTC. Unreadable or ambiguous values raise.

    ``line_offset`` turns a row position into the line number a person sees in a CSV file
    (header on line 1).
    """
    parsed = _iso_times(values)
    rest = parsed.isna() & values.notna()
    if rest.any():  # the forms ISO 8601 does not cover: refused where ambiguous, else parsed by pandas
        refuse_ambiguous_dates(values[rest], column, where, line_offset)
        parsed[rest] = pd.to_datetime(values[rest], utc=True, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        positions = [int(i) for i in bad.to_numpy().nonzero()[0][:_SHOWN_ROWS]]
        shown = ", ".join(f"line {p + line_offset} ({values.iloc[p]!r})" for p in positions)
        raise SourceFileError(
            f"{where}: column {column!r} has {int(bad.sum())} value(s) that are not timestamps: {shown}"
        )
    return parsed


# ISO 8601 as exports write it: a date, a time with up to 6 decimals, Z or an offset; years pandas can hold
_ISO_TIME = (
    r"^\d{4}-[01]\d-[0-3]\d([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?)?(Z|[+-](0\d|1[0-4])(:?[0-5]\d)?)?$"
)


def _iso_times(values: pd.Series) -> pd.Series:
    """The values written in plain ISO 8601 parsed by DuckDB's reader (several times faster than pandas' parser
    of mixed forms, the form's check included), UTC; NaT for every other value (``parse_times``
    gives those to pandas, which reads the two alike: the form is checked first, and DuckDB's extra forms such
    as ``epoch`` never get to it)."""
    none = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if values.dtype != object or not len(values):
        return none
    import duckdb

    try:
        with duckdb.connect() as conn:
            conn.execute("SET TimeZone = 'UTC'")
            conn.register("frame", pd.DataFrame({"v": values.to_numpy()}))
            parsed = conn.execute(  # the pattern as a literal: a parameter is compiled again for every value
                f"SELECT CASE WHEN regexp_full_match(v, '{_ISO_TIME}') AND v >= '1678' AND v < '2262' "
                "THEN TRY_CAST(v AS TIMESTAMPTZ) END AS t FROM frame"
            ).df()["t"]
    except duckdb.Error:  # not all text (a Parquet column of mixed objects): pandas reads them
        return none
    return parsed.astype("datetime64[ns, UTC]").set_axis(values.index)
