"""Column contracts of the tables, shared by sources, validation and the warehouse SQL."""

from __future__ import annotations

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
