"""The control group: the share of users held out from retention work, by a hash of user and month.

A user is in the control group of a month when ``blake2b("<user_id>|<YYYY-MM>")``, read as a fraction of 2^64, is
below the share. Nothing is stored and nothing is random: the pipeline, the simulator and anyone with the user id
and the month (a CRM, an analyst's notebook) get the same answer, a user stays in or out for the whole month, and
the groups are drawn afresh each month so no one is held out forever. Comparing the churn of control and
targeted users of the same risk tier measures what retention work achieved (``core/retention/outcomes.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date

import numpy as np


def control_fraction(user_id: str, month: str) -> float:
    """The user's position in [0, 1) for ``month`` (``YYYY-MM``)."""
    digest = hashlib.blake2b(f"{user_id}|{month}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def in_control(user_ids: Iterable[str], days: Iterable[date], share: float) -> np.ndarray:
    """Whether each (user, day) pair is in the control group of the day's month."""
    months = [f"{d.year:04d}-{d.month:02d}" for d in days]
    return np.fromiter((control_fraction(str(u), m) < share for u, m in zip(user_ids, months, strict=True)), dtype=bool)
