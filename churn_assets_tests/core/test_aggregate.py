import pandas as pd

from churn_assets.core.aggregate import aggregate_user_daily
from churn_assets.core.schema import DAILY_COLUMNS


def events(rows):
    return pd.DataFrame(
        [
            {
                "event_id": f"e{i}",
                "user_id": u,
                "event_time": pd.Timestamp(t, tz="UTC"),
                "event_type": k,
                "minutes": m,
                "amount": a,
            }
            for i, (u, t, k, m, a) in enumerate(rows)
        ]
    )


def test_counts_sums_and_active_flag_per_user_and_day():
    daily = aggregate_user_daily(
        events(
            [
                ("a", "2026-01-01 08:00", "session", 10.0, 0.0),
                ("a", "2026-01-01 09:00", "session", 5.5, 0.0),
                ("a", "2026-01-01 09:01", "feature_use", 0.0, 0.0),
                ("a", "2026-01-02 23:59:59", "support_ticket", 0.0, 0.0),
                ("b", "2026-01-01 00:00", "payment", 0.0, 9.99),
                ("b", "2026-01-01 12:00", "payment_failed", 0.0, 9.99),
            ]
        )
    )
    assert list(daily.columns) == list(DAILY_COLUMNS)
    rows = {(r.user_id, r.activity_date.date().isoformat()): r for r in daily.itertuples()}
    assert set(rows) == {("a", "2026-01-01"), ("a", "2026-01-02"), ("b", "2026-01-01")}
    a1 = rows[("a", "2026-01-01")]
    assert (a1.events, a1.sessions, a1.feature_uses, a1.minutes, a1.active) == (3, 2, 1, 15.5, True)
    assert (rows[("a", "2026-01-02")].support_tickets, rows[("a", "2026-01-02")].active) == (1, True)
    b = rows[("b", "2026-01-01")]
    assert (b.payments, b.payments_failed, b.amount, b.active) == (1, 1, 19.98, False)
    assert str(daily["activity_date"].dtype) == "datetime64[ns, UTC]"


def test_no_events_gives_an_empty_table_with_the_schema():
    daily = aggregate_user_daily(
        events([]).reindex(columns=["user_id", "event_time", "event_type", "minutes", "amount"])
    )
    assert daily.empty and list(daily.columns) == list(DAILY_COLUMNS)
