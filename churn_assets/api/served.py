"""What the HTTP API serves, kept fresh: the production model and the predictions snapshot (re-read when their
pointers move, each swap one assignment), and posted rows scored in batches.

A watcher thread re-reads both pointers every few seconds; a request holds the model it started with, so a
promotion or a rollback switches the served version without a restart and without a failed request.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sklearn

from churn_assets.core.registry.artifacts import ArtifactStore
from churn_assets.core.registry.card import ModelCard
from churn_assets.core.registry.model_registry import ModelRegistry
from churn_assets.core.serving.snapshot import MAX_BATCH_ROWS, Snapshot, read_latest, scored_rows


@dataclass(frozen=True)
class Served:
    version: str
    model: Any
    card: ModelCard


class State:
    """The served model and snapshot, and what is missing while either is not there."""

    def __init__(self, store: ArtifactStore, risk: tuple[float, float]):
        self.store, self.registry, self.risk = store, ModelRegistry(store), risk
        self.served: Served | None = None
        self.snapshot: Snapshot | None = None
        self.pointer: dict | None = None
        self.problems: dict[str, str] = {}

    def refresh(self) -> None:
        """Load what moved: the production pointer (promotion, rollback) and the predictions pointer. Each swap is
        one assignment, so a request sees the old model or the new one, whole."""
        problems: dict[str, str] = {}
        try:
            version = self.registry.production()
            if version is None:
                problems["model"] = f"no production model: {self.registry.why_no_production()}"
            elif self.served is None or self.served.version != version:
                self.served = Served(version, self.registry.load(version), self.registry.card(version))
        except Exception as exc:  # a corrupt or refused model keeps the one served, and says why
            problems["model"] = str(exc)
        try:
            pointer = read_latest(self.store)
            if pointer is None:
                problems["predictions"] = "no predictions published yet: materialize churn_predictions"
            elif pointer != self.pointer:
                self.snapshot, self.pointer = Snapshot.load(self.store, pointer), pointer
        except Exception as exc:
            problems["predictions"] = f"predictions snapshot unreadable: {exc}"
        self.problems = problems

    def watch(self, every: float, stop: threading.Event) -> None:
        while not stop.wait(every):
            self.refresh()


class Batcher:
    """Scores posted rows in batches, in the event loop itself: while a batch is scored, new requests wait in
    their sockets; the loop then reads them all, and they form the next batch, one model call for their
    probabilities and reasons. (A worker thread would fight the event loop for the interpreter lock, and the
    batches would stay small.)"""

    def __init__(self, state: State, max_rows: int = 2 * MAX_BATCH_ROWS):
        self.state, self.max_rows = state, max_rows
        self.pending: list[tuple[list[dict], asyncio.Future]] = []
        self.running = False

    async def score(self, rows: list[dict]) -> tuple[str, list[dict]]:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((rows, future))
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                await asyncio.sleep(0)  # the requests already read join this batch
                batch, size = [], 0
                while self.pending and (not batch or size + len(self.pending[0][0]) <= self.max_rows):
                    batch.append(self.pending.pop(0))
                    size += len(batch[-1][0])
                served = self.state.served  # one model for the whole batch, named in every answer
                try:
                    answers = _score(served, [rows for rows, _ in batch], self.state.risk)
                except Exception:
                    # one request's rows broke the shared call: score each request alone, so only it fails
                    answers = [_alone(served, rows, self.state.risk) for rows, _ in batch]
                for (_, future), answer in zip(batch, answers, strict=True):
                    if isinstance(answer, Exception):
                        future.set_exception(answer)
                    else:
                        future.set_result((served.version, answer))
        finally:
            self.running = False


def _alone(served: Served, rows: list[dict], risk: tuple[float, float]) -> list[dict] | Exception:
    try:
        return _score(served, [rows], risk)[0]
    except Exception as exc:  # this request's own failure, answered to it alone
        return exc


def _score(served: Served, batches: list[list[dict]], risk: tuple[float, float]) -> list[list[dict]]:
    from churn_assets.core.modeling.scoring import probability_and_reasons, risk_tier

    names = served.card.features
    frame = pd.DataFrame.from_records([row for rows in batches for row in rows], columns=names)
    # the rows were checked (finite numbers, strings): scikit-learn's own checks of every step are skipped
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        probability, reasons = probability_and_reasons(served.model, frame, served.card)
    tiers = pd.DataFrame({"churn_probability": probability, "risk_tier": risk_tier(probability, *risk)})
    answers, out, start = scored_rows(pd.concat([tiers, reasons], axis=1)), [], 0
    for rows in batches:
        out.append(answers[start : start + len(rows)])
        start += len(rows)
    return out
