"""What the source's event types mean to the pipeline.

The pipeline understands a fixed set of event *kinds*; each has a role and a count column in
``user_daily`` (the table's schema never depends on the data):

==================  ====================  ===========  ===========================================
kind                user_daily column     active day   role
==================  ====================  ===========  ===========================================
``session``         ``sessions``          yes          use of the product (``minutes``: its length)
``feature_use``     ``feature_uses``      yes          use of the product
``support_ticket``  ``support_tickets``   yes          a request for help
``purchase``        ``purchases``         yes          a purchase; ``amount`` is its value
``payment``         ``payments``          no           a subscription charge; ``amount`` is its value
``payment_failed``  ``payments_failed``   no           a failed charge (its amount is not revenue)
``ignore``          (none)                no           kept in ``raw_events``, left out of every figure
==================  ====================  ===========  ===========================================

A source whose types already are these names needs no setting. Any other vocabulary is mapped with
one setting, ``CHURN_EVENT_TYPES``: comma-separated ``source_type=kind`` pairs, e.g.
``order=purchase,login=session,page_view=ignore``. A type neither a kind nor mapped is quarantined
(reason ``unmapped_event_type``) and reported once per run with its row count and the setting to change.

A log without an ``event_type`` column (user id, event time, optional amount) needs no setting either:
each of its rows is a ``purchase`` (an activity whose ``amount`` is its value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# kind -> (user_daily count column, makes a day active, amount counts as value)
KINDS: dict[str, tuple[str, bool, bool]] = {
    "session": ("sessions", True, False),
    "feature_use": ("feature_uses", True, False),
    "support_ticket": ("support_tickets", True, False),
    "purchase": ("purchases", True, True),
    "payment": ("payments", False, True),
    "payment_failed": ("payments_failed", False, False),
}
IGNORE = "ignore"
UNTYPED_KIND = "purchase"  # the kind of every row of a log without an event_type column
SETTING = "CHURN_EVENT_TYPES"
# a source type ends up in SQL text as a string literal: any letters (accents and all scripts), digits, spaces and
# punctuation but the characters that would end or escape the literal or the setting's own separators
SOURCE_TYPE = re.compile(r"[^'\"\\,=\x00-\x1f\x7f]{1,100}")
UNNAMEABLE = "' \" \\ , ="


class VocabularyError(ValueError):
    """A CHURN_EVENT_TYPES value that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Vocabulary:
    """Source event type -> kind (or ``ignore``); a kind's own name maps to itself unless remapped."""

    mapping: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Vocabulary:
        pairs: dict[str, str] = {}
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            source, sep, kind = (part.strip() for part in entry.partition("="))
            if not sep or not source:
                raise VocabularyError(f"{SETTING}: {entry!r} is not source_type=kind")
            if not SOURCE_TYPE.fullmatch(source):
                raise VocabularyError(
                    f"{SETTING}: {source!r} is not a type name: at most 100 characters, none of {UNNAMEABLE}"
                )
            if kind not in (*KINDS, IGNORE):
                raise VocabularyError(f"{SETTING}: {entry!r} maps to {kind!r}; kinds are {[*KINDS, IGNORE]}")
            if source in pairs and pairs[source] != kind:
                raise VocabularyError(f"{SETTING}: {source!r} is mapped twice ({pairs[source]}, {kind})")
            pairs[source] = kind
        return cls(tuple(sorted(pairs.items())))

    @property
    def table(self) -> dict[str, str]:
        return {**{k: k for k in KINDS}, **dict(self.mapping)}

    def kind_of(self, event_type: str) -> str | None:
        return self.table.get(event_type)

    def known(self) -> list[str]:
        """Every source type that is accepted (mapped to a kind or to ``ignore``)."""
        return sorted(self.table)

    def setting(self) -> str:
        return ",".join(f"{s}={k}" for s, k in self.mapping)

    def hint(self, unmapped: dict[str, int]) -> str:
        """The message for types that are not mapped: each with its rows, and the setting that maps them."""
        listed = ", ".join(f"{t!r} ({n:,} rows)" for t, n in sorted(unmapped.items(), key=lambda x: (-x[1], x[0])))
        nameable = sorted(t for t in unmapped if SOURCE_TYPE.fullmatch(t))
        example = ",".join([*(f"{s}={k}" for s, k in self.mapping), *(f"{t}=<kind>" for t in nameable)])
        message = (
            f"event types not in the vocabulary: {listed}. Map each to one of {[*KINDS, IGNORE]} with "
            f"{SETTING}='{example}' (see docs/sources.md, Event vocabulary)"
        )
        unnameable = sorted(set(unmapped) - set(nameable))
        if unnameable:
            message += f"; {unnameable} cannot be named in the setting (they hold one of {UNNAMEABLE}): rename them"
        return message


DEFAULT_VOCABULARY = Vocabulary()


def kinds_where(*, active: bool | None = None, value: bool | None = None) -> tuple[str, ...]:
    """The event kinds that are user-initiated (``active``) and/or carry a value (``value``); ``None`` = either."""
    return tuple(
        k
        for k, (_, is_active, is_value) in KINDS.items()
        if (active is None or is_active == active) and (value is None or is_value == value)
    )
