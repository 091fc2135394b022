"""Days and the days a computation needs (a missing one is an error that names it, never a silent gap), and the
label calendar: the horizon's date arithmetic, shared by the warehouse, training, the automation and the CLI."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta


class MissingDaysError(ValueError):
    """A computation needs days of a table that are not there; the message names them."""


def day_range(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included (empty when ``last`` is before ``first``)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_chunks(first: date, last: date, chunk_days: int) -> list[tuple[date, date]]:
    """first ... last cut into consecutive ranges of at most ``chunk_days`` days."""
    chunks, start = [], first
    while start <= last:
        end = min(last, start + timedelta(days=chunk_days - 1))
        chunks.append((start, end))
        start = end + timedelta(days=1)
    return chunks


def row_chunks(first: date, last: date, rows: Mapping[date, int], budget: int) -> list[tuple[date, date]]:
    """first ... last cut into consecutive ranges holding at most ``budget`` rows each (``rows`` per day; a day
    not in it holds none); a day over the budget on its own is a range of its own."""
    if first > last:
        return []
    chunks: list[tuple[date, date]] = []
    start, held, day = first, 0, first
    while day <= last:
        n = rows.get(day, 0)
        if held and held + n > budget:
            chunks.append((start, day - timedelta(days=1)))
            start, held = day, 0
        held += n
        day += timedelta(days=1)
    chunks.append((start, last))
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


# --8<-- [start:calendar]
@dataclass(frozen=True)
class LabelCalendar:
    """The label horizon's date arithmetic, in one place: which day decides a label, which days are labelled by
    a given day, which days a training window holds, and how many label days a model needs.

    The label of day t says whether the user churns in t+1 ... t+H (``horizon_days`` = H). It is settled once the
    data reaches t+H+S: ``settle_days`` S is 0 for inactivity (user_state of t+H decides) and the renewal grace
    for cancellation (a lapse on t+H is no lapse if a renewal starts within the grace). A model is tested on its
    window's last ``test_days`` and trained on days that end H+S days before them (``core/modeling/training.py``).
    """

    horizon_days: int
    train_days: int = 0  # 0 where only the horizon matters (the warehouse, the label sensor)
    test_days: int = 0
    settle_days: int = 0

    @property
    def decided_days(self) -> int:
        """Days after t until the label of t is settled: H+S."""
        return self.horizon_days + self.settle_days

    def horizon_end(self, day: date) -> date:
        """The last day of data that decides the label of ``day``: t+H+S."""
        return day + timedelta(days=self.decided_days)

    def last_labelled(self, data_last: date) -> date:
        """The newest day that can be labelled when the data ends on ``data_last``: its label is settled there."""
        return data_last - timedelta(days=self.decided_days)

    def training_window(self, last: date, *, first_day: date, train_days: int | None = None) -> tuple[date, date]:
        """The label days of a training window ending on ``last``: ``train_days`` (the setting by default), never
        before ``first_day`` (the first partition)."""
        days = self.train_days if train_days is None else train_days
        return max(first_day, last - timedelta(days=days - 1)), last

    def known_on(self, as_of: date, *, first_day: date) -> tuple[date, date]:
        """The training window known on ``as_of``: label days whose horizon has ended by then."""
        return self.training_window(self.last_labelled(as_of), first_day=first_day)

    @property
    def min_label_days(self) -> int:
        """Label days a model needs: its test days, a gap of H+S days, and one training day."""
        return self.test_days + self.decided_days + 1

    def split_days(self, window_last: date) -> tuple[date, date]:
        """The first test day and the last training day of a window ending on ``window_last``."""
        test_first = window_last - timedelta(days=self.test_days - 1)
        return test_first, test_first - timedelta(days=self.decided_days + 1)


# --8<-- [end:calendar]
