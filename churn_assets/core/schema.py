"""Column contracts of the tables, shared by sources, validation and transforms."""

from __future__ import annotations

# Event types the platform understands. Events of any other type are quarantined.
USER_EVENT_TYPES = ("session", "feature_use", "support_ticket")
BILLING_EVENT_TYPES = ("payment", "payment_failed")
EVENT_TYPES = USER_EVENT_TYPES + BILLING_EVENT_TYPES

# Value columns carried by events; missing ones in a file default to 0.
VALUE_COLUMNS = ("minutes", "amount")

EVENT_COLUMNS = ("event_id", "user_id", "event_time", "event_type", *VALUE_COLUMNS)
REQUIRED_EVENT_COLUMNS = ("user_id", "event_time", "event_type")

USER_COLUMNS = ("user_id", "signup_time", "plan", "country", "channel")
REQUIRED_USER_COLUMNS = ("user_id", "signup_time")

# Count columns of user_daily, one per event type, plus the sums of the value columns.
DAILY_COUNT_COLUMNS = {
    "session": "sessions",
    "feature_use": "feature_uses",
    "support_ticket": "support_tickets",
    "payment": "payments",
    "payment_failed": "payments_failed",
}
DAILY_COLUMNS = (
    "user_id",
    "activity_date",
    "events",
    *DAILY_COUNT_COLUMNS.values(),
    *VALUE_COLUMNS,
    "active",
)
