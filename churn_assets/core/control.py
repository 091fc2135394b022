"""The control group: the share of users held out from retention work, by a hash of user and month.

A user is in the control group of a month when ``blake2b("<user_id>|<YYYY-MM>")``, read as a fraction of 2^64, is
below the share. Nothing is stored and nothing is random: the pipeline, the simulator and anyone with the user id
and the month (a CRM, an analyst's notebook) get the same answer, a user stays in or out for the whole month, and
the groups are drawn afresh each month so no one is held out forever. Comparing the churn of control and
targeted users of the same risk tier measures what retention work achieved (``core/retention/outcomes.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd


def control_fraction(user_id: str, month: str) -> float:
    """The user's position in [0, 1) for ``month`` (``YYYY-MM``)."""
    return _hashed(f"{user_id}|{month}".encode()) / 2.0**64


def _hashed(key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def in_control(user_ids: Sequence[str], days: Sequence, share: float) -> np.ndarray:
    """Whether each (user, day) pair is in the control group of the day's month. The months are found once and
    each user is one hash compared with an integer bound: a million pairs in about a second."""
    users = np.asarray(user_ids, dtype=object)
    stamps = pd.to_datetime(pd.Series(days), utc=True)
    if len(stamps) != len(users):
        raise ValueError(f"{len(users)} users but {len(stamps)} days")
    months = (stamps.dt.year * 100 + stamps.dt.month).to_numpy()
    bound = int(share * 2**64)
    flags = np.zeros(len(users), dtype=bool)
    for month in np.unique(months):
        rows = np.flatnonzero(months == month)
        suffix = f"|{month // 100:04d}-{month % 100:02d}".encode()
        flags[rows] = [_hashed(str(u).encode() + suffix) < bound for u in users[rows]]
    return flags
