"""One new day for ``--day-users`` users (1,000,000) on top of ``--history`` days (60 and 360) of user_daily.

That day's user_daily, user_state and user_features, through the layer's statements (labels of a day are one
join of two O(users) tables, measured by bench_warehouse.py). History is synthetic (generated in SQL: each
user active on about one day in five), so only its length differs between the runs. Each run is a fresh child
process on a fresh copy of the history; the script prints the median wall time, CPU seconds, feature rows/s
and peak RSS.

    python bench/bench_newday.py [--day-users 1000000] [--history 60 360] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import child_json, cpu_seconds, host, peak_rss_mb, report  # noqa: E402

START = date(2026, 1, 1)
SETUP_MEMORY = "8GB"


def setup_newday(folder: Path, users: int, history: int) -> dict:
    """Synthetic history in SQL: user_daily for ``history`` days, user_state of the day before the new day,
    partition_log entries, and the new day's raw events and users."""
    from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC
    from churn_assets.core.warehouse.sql import PARTITION_LOG, STATE_TYPES, table_types
    from churn_assets.io.duckdb_engine import DuckDBEngine

    new_day = START + timedelta(days=history)
    engine = DuckDBEngine(str(folder / f"newday-{history}.duckdb"), "churn")
    engine.ensure_table("user_daily", table_types("user_daily", DEFAULT_SPEC))
    engine.ensure_table("user_state", STATE_TYPES)
    engine.ensure_table(PARTITION_LOG, table_types(PARTITION_LOG, DEFAULT_SPEC))
    with engine.connect() as conn:
        # building the history is not what is measured: it may use more than the engine's 1 GB (the ordered
        # insert of 72 M rows and the state's per-user lists stopped with "out of memory" under it)
        conn.execute(f"SET memory_limit = '{SETUP_MEMORY}'")
        conn.execute(f"""
            INSERT INTO churn.user_daily
            SELECT 'u' || u, (TIMESTAMPTZ '{START} 00:00:00+00' + to_days(CAST(d AS INTEGER))),
              3, 2, 1, 0, 0, 0, 0, 12.5, 0.0, true
            FROM range({history}) AS days(d), range({users}) AS us(u)
            WHERE hash(u * 7919 + d) % 5 = 0
            ORDER BY d""")
        conn.execute(f"""
            INSERT INTO churn.user_state
            SELECT user_id, TIMESTAMPTZ '{new_day - timedelta(days=1)} 00:00:00+00',
              min(activity_date), min(activity_date), max(activity_date),
              list_extract(list_sort(list(activity_date), 'DESC'), 2),
              count(*), sum(events), sum(minutes), sum(amount)
            FROM churn.user_daily GROUP BY user_id""")
        conn.execute(f"""
            INSERT INTO churn.{PARTITION_LOG}
            SELECT 'user_daily', TIMESTAMPTZ '{START} 00:00:00+00' + to_days(CAST(d AS INTEGER)), 0, now()
            FROM range({history}) AS t(d)
            UNION ALL SELECT 'user_state', TIMESTAMPTZ '{new_day - timedelta(days=1)} 00:00:00+00', 0, now()""")
        conn.execute(f"""
            CREATE TABLE churn.raw_events AS
            SELECT 'e' || u || '-' || k AS event_id, 'u' || u AS user_id,
              TIMESTAMPTZ '{new_day} 00:00:00+00' + to_seconds(CAST(hash(u + k) % 86400 AS BIGINT)) AS event_time,
              CASE k WHEN 0 THEN 'session' WHEN 1 THEN 'feature_use' ELSE 'payment' END AS event_type,
              CASE k WHEN 0 THEN 10.0 ELSE 0.0 END AS minutes, CASE k WHEN 2 THEN 9.5 ELSE 0.0 END AS amount
            FROM range({users}) AS us(u), range(3) AS ks(k) WHERE hash(u * 31 + {history}) % 4 = 0""")
        conn.execute(f"""
            CREATE TABLE churn.raw_users AS
            SELECT 'u' || u AS user_id, TIMESTAMPTZ '{START} 00:00:00+00' AS signup_time,
              'pro' AS plan, 'DE' AS country, 'organic' AS channel FROM range({users}) AS us(u)""")
        sizes = {
            t: conn.execute(f"SELECT count(*) FROM churn.{t}").fetchone()[0]
            for t in ("user_daily", "user_state", "raw_events")
        }
    return {"new_day": new_day.isoformat(), **sizes}


def run_newday(path: str, new_day: date) -> dict:
    from churn_assets.core.intake.vocabulary import DEFAULT_VOCABULARY
    from churn_assets.core.warehouse import daily, features, state
    from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC
    from churn_assets.io.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine(path, "churn")
    started, cpu = time.perf_counter(), cpu_seconds()
    statements = {
        ("user_daily", "activity_date"): daily.user_daily_select("churn", new_day, new_day, DEFAULT_VOCABULARY),
        ("user_state", "as_of_date"): state.user_state_select("churn", new_day, new_day, False),
        ("user_features", "as_of_date"): features.user_features_select("churn", new_day, new_day, DEFAULT_SPEC),
    }
    for (table, column), select in statements.items():  # in order: each reads the one before
        written = engine.replace_partitions(table, column, new_day, new_day, [select], DEFAULT_SPEC)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": cpu_seconds() - cpu, "rows": written.get(new_day, 0), "rss_mb": peak_rss_mb()}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(run_newday(sys.argv[2], date.fromisoformat(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--day-users", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, nargs="+", default=[60, 360])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(host())
    with tempfile.TemporaryDirectory(prefix="churn-bench-") as tmp:
        folder = Path(tmp)
        for history in args.history:
            started = time.perf_counter()
            info = setup_newday(folder, args.day_users, history)
            print(f"one new day ({info['new_day']}) for {args.day_users:,} users after {history} days of history: "
                  f"{info['user_daily']:,} user_daily rows, {info['user_state']:,} users in state, "
                  f"{info['raw_events']:,} events that day "
                  f"(set up in {time.perf_counter() - started:.0f} s)")  # fmt: skip
            source = folder / f"newday-{history}.duckdb"
            results = []
            for _ in range(args.repeat):
                work = folder / "work.duckdb"
                shutil.copy(source, work)
                results.append(child_json([__file__, "_child", str(work), info["new_day"]]))
                work.unlink()
            report("new day", results, None, "feature rows")
            source.unlink()


if __name__ == "__main__":
    main()
