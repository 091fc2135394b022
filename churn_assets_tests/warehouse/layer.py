"""Hand-made logs for the warehouse layer's tests: days counted from START, events as short tuples.

Inputs look like real logs: sparse days, gaps longer than every window, billing-only days, users whose
first activity is the feature day, and a user id that signs up but never shows up.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from churn_assets.io.warehouse import Engine

START = date(2026, 1, 1)


def day(n: int) -> date:
    return START + timedelta(days=n)


def load(engine: Engine, events: list[tuple], users: dict[str, int] | None = None) -> None:
    """events: (user, day number, type, minutes, amount[, hour]); users: user -> signup day number."""
    rows = []
    for i, (user, n, kind, minutes, amount, *hour) in enumerate(events):
        moment = pd.Timestamp(day(n).isoformat(), tz="UTC") + pd.Timedelta(hours=hour[0] if hour else 12)
        rows.append((f"e{i}", user, moment, kind, float(minutes), float(amount)))
    frame = pd.DataFrame(rows, columns=["event_id", "user_id", "event_time", "event_type", "minutes", "amount"])
    frame["event_time"] = frame["event_time"].astype("datetime64[us, UTC]")
    engine.write_table("raw_events", frame)
    signups = users or {u: min(n for v, n, *_ in events if v == u) for u, *_ in events}
    engine.write_table(
        "raw_users",
        pd.DataFrame(
            {
                "user_id": list(signups),
                "signup_time": pd.to_datetime([f"{day(n).isoformat()} 05:00" for n in signups.values()], utc=True),
                "plan": "pro",
                "country": "DE",
                "channel": "organic",
            }
        ).astype({"signup_time": "datetime64[us, UTC]"}),
    )


def table(engine: Engine, name: str, where: str = "TRUE") -> pd.DataFrame:
    frame = engine.query(f"SELECT * FROM {engine.schema}.{name} WHERE {where}")
    key = [c for c in ("as_of_date", "activity_date") if c in frame.columns][:1]
    return frame.sort_values([*key, "user_id"]).reset_index(drop=True)


def features_on(engine: Engine, n: int) -> dict[str, dict]:
    frame = table(engine, "user_features", f"as_of_date = TIMESTAMP '{day(n).isoformat()} 00:00:00+00'")
    return {row["user_id"]: row for row in frame.to_dict("records")}
