"""Column contracts of the tables, shared by sources, validation and the warehouse SQL, and the error a source
file that cannot be used as a whole raises."""

from __future__ import annotations

import pandas as pd

from churn_assets.core.intake.vocabulary import KINDS

# Value columns carried by events; missing ones in a file default to 0.
VALUE_COLUMNS = ("minutes", "amount")

EVENT_COLUMNS = ("event_id", "user_id", "event_time", "event_type", *VALUE_COLUMNS)
# without event_type every row is a purchase (core/intake/vocabulary.py); without event_id each row gets one
REQUIRED_EVENT_COLUMNS = ("user_id", "event_time")

# subscription periods (core/intake/subscriptions.py); end_time empty = still running, plan and mrr optional
SUBSCRIPTION_COLUMNS = ("user_id", "start_time", "end_time", "plan", "mrr")
REQUIRED_SUBSCRIPTION_COLUMNS = ("user_id", "start_time", "end_time")

USER_COLUMNS = ("user_id", "signup_time", "plan", "country", "channel")
REQUIRED_USER_COLUMNS = ("user_id", "signup_time")

# Count columns of user_daily, one per event kind (core/intake/vocabulary.py), plus the sums of the value columns.
DAILY_COUNT_COLUMNS = {kind: column for kind, (column, _, _) in KINDS.items()}
DAILY_COLUMNS = (
    "user_id",
    "activity_date",
    "events",
    *DAILY_COUNT_COLUMNS.values(),
    *VALUE_COLUMNS,
    "active",
)


class SourceFileError(ValueError):
    """A source file cannot be used as a whole; the message names the file and the problem."""


def require_columns(frame: pd.DataFrame, required: tuple[str, ...], where: str) -> None:
    """Raise ``SourceFileError`` naming ``where`` and the missing columns unless ``frame`` has all of ``required``."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise SourceFileError(f"{where}: missing required column(s) {missing}; found columns {list(frame.columns)}")
