"""Subscription state and cancellation labels in the warehouse against a plain DuckDB SQL script, side by side.

Input: ``--users`` subscribers (100,000 by default) over 365 days with monthly billing periods (one row per
period, about 0.6 M rows): each renews with its own probability, a few upgrade, a fifth of the cancellers come
back after a gap, some renew a few days late (inside the 7-day grace). Each variant runs in a fresh child process
of this script (so its peak RSS is its own), alternately ``--repeat`` times; the medians are printed.

* ``reference``: one plain DuckDB script: a calendar of the 365 days joined to the periods current on each day
  (a range join), coverage, streaks by window functions, and the label of every covered subscriber-day from
  the end of its streak.
* ``layer``: the statements the assets run: ``subscription_state_select`` over the year, the covered rows as
  the eligible users, and ``cancellation_labels_select`` over the days whose horizon and grace have passed.

    python bench/bench_subscriptions.py [--users 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import alternate, cpu_seconds, host, peak_rss_mb, report  # noqa: E402

START = date(2026, 1, 1)
DAYS = 365
HORIZON, GRACE = 30, 7

REFERENCE_SQL = """
CREATE SCHEMA ref;
CREATE TABLE ref.periods AS
SELECT *,
  LEAD(start_time) OVER (PARTITION BY user_id ORDER BY start_time) AS next_start,
  ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY start_time) AS period_no,
  LAG(mrr) OVER (PARTITION BY user_id ORDER BY start_time) AS prev_mrr,
  MAX(end_time) OVER (PARTITION BY user_id ORDER BY start_time ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    AS prev_end
FROM churn.raw_subscriptions;
CREATE TABLE ref.streaks AS
WITH s AS (
  SELECT *, SUM(CASE WHEN prev_end IS NULL OR start_time > prev_end + INTERVAL {grace} DAY THEN 1 ELSE 0 END)
    OVER (PARTITION BY user_id ORDER BY start_time) AS streak_no
  FROM ref.periods
)
SELECT *, MIN(start_time) OVER (PARTITION BY user_id, streak_no) AS streak_start,
  MAX(end_time) OVER (PARTITION BY user_id, streak_no) AS streak_end
FROM s;
CREATE TABLE ref.state AS
WITH days AS (SELECT unnest(generate_series(TIMESTAMPTZ '{first}', TIMESTAMPTZ '{last}', INTERVAL 1 DAY)) AS t)
SELECT p.user_id, d.t AS as_of_date, p.end_time >= d.t + INTERVAL 1 DAY AS covered, p.streak_start, p.period_no,
  p.mrr, p.mrr - COALESCE(p.prev_mrr, p.mrr) AS mrr_change, p.streak_no - 1 AS past_lapses, p.streak_end
FROM days d JOIN ref.streaks p
  ON p.start_time < d.t + INTERVAL 1 DAY AND (p.next_start IS NULL OR p.next_start >= d.t + INTERVAL 1 DAY);
CREATE TABLE ref.labels AS
SELECT user_id, as_of_date, CASE WHEN streak_end < as_of_date + INTERVAL {horizon_plus_one} DAY THEN 1 ELSE 0 END
  AS churned
FROM ref.state WHERE covered AND as_of_date <= TIMESTAMPTZ '{label_last}';
"""


def setup(folder: Path, users: int) -> dict:
    """The periods every variant copies: monthly, each subscriber renewing with their own probability."""
    import numpy as np
    import pandas as pd

    from churn_assets.io.duckdb_engine import DuckDBEngine

    rng = np.random.default_rng(5)
    renew = rng.beta(8, 1.2, size=users)  # per-subscriber monthly renewal probability (median about 0.9)
    start_day = rng.integers(-200, DAYS, size=users)
    rows_user, rows_start, rows_mrr = [], [], []
    for u in range(users):
        day, mrr = int(start_day[u]), float(rng.choice([9.99, 29.99]))
        while day < DAYS:
            rows_user.append(u)
            rows_start.append(day)
            rows_mrr.append(mrr)
            if rng.random() < 0.02:
                mrr = 29.99  # an upgrade
            if rng.random() < renew[u]:
                day += 30 + (int(rng.integers(1, 6)) if rng.random() < 0.05 else 0)  # a late renewal, in the grace
            elif rng.random() < 0.2:
                day += 30 + int(rng.integers(20, 90))  # cancelled, and back after a gap
            else:
                break
    epoch = pd.Timestamp(START.isoformat(), tz="UTC")
    start = epoch + pd.to_timedelta(np.array(rows_start) * 86_400 + 3_600 * 9, unit="s")
    frame = pd.DataFrame(
        {
            "user_id": np.char.add("s", np.array(rows_user).astype(str)).astype(object),
            "start_time": start.astype("datetime64[us, UTC]"),
            "end_time": (start + pd.Timedelta(days=30)).astype("datetime64[us, UTC]"),
            "plan": "monthly",
            "mrr": rows_mrr,
        }
    )
    DuckDBEngine(str(folder / "input.duckdb"), "churn").write_table("raw_subscriptions", frame)
    return {"users": users, "periods": len(frame)}


def run(variant: str, path: str) -> dict:
    from churn_assets.core.days import LabelCalendar

    last = START + timedelta(days=DAYS - 1)
    label_last = LabelCalendar(HORIZON, settle_days=GRACE).last_labelled(last)
    started, cpu = time.perf_counter(), cpu_seconds()
    if variant == "reference":
        import duckdb

        with duckdb.connect(path) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute(
                REFERENCE_SQL.format(
                    first=f"{START} 00:00:00+00",
                    last=f"{last} 00:00:00+00",
                    label_last=f"{label_last} 00:00:00+00",
                    grace=GRACE,
                    horizon_plus_one=HORIZON + 1,
                )
            )
            rows = conn.execute("SELECT (SELECT count(*) FROM ref.state) + (SELECT count(*) FROM ref.labels)")
            rows = rows.fetchone()[0]
    else:
        from churn_assets.core.warehouse.feature_spec import FeatureSpec
        from churn_assets.core.warehouse.sql import ts
        from churn_assets.core.warehouse.subscriptions import cancellation_labels_select, subscription_state_select
        from churn_assets.io.duckdb_engine import DuckDBEngine

        engine, spec = DuckDBEngine(path, "churn"), FeatureSpec(definition="cancellation")
        state = [subscription_state_select("churn", START, last, GRACE)]
        engine.replace_partitions("subscription_state", "as_of_date", START, last, state, spec)
        # the eligible users: the covered subscriber-days (user_features holds them, with their features)
        engine.run(
            "CREATE TABLE churn.user_features AS SELECT user_id, as_of_date FROM churn.subscription_state "
            f"WHERE covered AND as_of_date <= {ts(label_last)}"
        )
        labels = [cancellation_labels_select("churn", START, label_last, HORIZON, GRACE)]
        engine.replace_partitions("churn_labels", "as_of_date", START, label_last, labels, spec)
        tables = ("subscription_state", "churn_labels")
        rows = sum(int(engine.query(f"SELECT count(*) AS n FROM churn.{t}")["n"][0]) for t in tables)
    return {"seconds": time.perf_counter() - started, "cpu": cpu_seconds() - cpu, "rows": rows, "rss_mb": peak_rss_mb()}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(run(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(host())
    with tempfile.TemporaryDirectory(prefix="churn-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        info = setup(folder, args.users)
        print(
            f"subscriptions: {info['users']:,} subscribers x {DAYS} days, {info['periods']:,} monthly periods "
            f"(input built in {time.perf_counter() - started:.0f} s)"
        )
        runs = alternate(__file__, folder, ["reference", "layer"], args.repeat)
        reference = report("reference", runs["reference"], None, "rows")
        report("layer", runs["layer"], reference, "rows")
        for variant, measured in runs.items():
            reference_rows = runs["reference"][0]["rows"]
            if measured[0]["rows"] != reference_rows:
                print(f"  note: {variant} wrote {measured[0]['rows']:,} rows, the reference {reference_rows:,}")


if __name__ == "__main__":
    main()
