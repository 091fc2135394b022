"""Dagster APIs this project uses on purpose although Dagster marks them beta or preview.

Single-run backfill policies, partition mappings that allow missing upstream days and partitioned asset checks
each warn on every load. ``deliberate()`` silences those two warning classes while such an object is built, and
nowhere else: a process that imports this package keeps every other warning.
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg


@contextmanager
def deliberate() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        yield
