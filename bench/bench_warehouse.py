"""The warehouse data layer against a plain DuckDB SQL script doing the same work, side by side.

Two measurements, each variant in a fresh child process of this script (so peak RSS is its own), run
alternately ``--repeat`` times; the script prints the median wall time, CPU seconds (user + system,
including DuckDB's threads), rows/s and peak RSS of each variant, and the ratio to the reference.

``full``: full history, events -> user_daily, user_state, user_features (7/14/30 windows) and 30-day
labels, for ``--users`` simulated users over 120 days (20,000 users: 4.8 M events).

* ``reference``: one plain DuckDB script: the daily grid from the events, the 7/14/30-day windows of
  every user active in the last 30 days, and 30-day forward labels (DATE arithmetic, no state table).
* ``layer``: the statements the assets run (``io.warehouse.build_layer``), without Dagster.
* ``dagster``: the same assets materialized through Dagster (one ranged run per stage, as
  ``churn-assets run`` does).

``newday``: one new day for ``--day-users`` users (1,000,000) on top of ``--history`` days (60 and
360) of user_daily: that day's user_daily, user_state and user_features, through the layer's statements
(labels of a day are one join of two O(users) tables, measured in ``full``). History is synthetic
(generated in SQL: each user
active on about one day in five), so only its length differs between the runs.

    python bench/bench_warehouse.py full [--users 20000] [--repeat 3]
    python bench/bench_warehouse.py newday [--day-users 1000000] [--history 60 360] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

START = date(2026, 1, 1)
DAYS = 120
HORIZON = 30

REFERENCE_SQL = """
CREATE OR REPLACE TABLE ref.daily AS
SELECT user_id, CAST(event_time AS DATE) AS d, COUNT(*) AS events,
  COUNT(*) FILTER (WHERE event_type = 'session') AS sessions,
  COUNT(*) FILTER (WHERE event_type = 'feature_use') AS feature_uses,
  COUNT(*) FILTER (WHERE event_type = 'support_ticket') AS support_tickets,
  COUNT(*) FILTER (WHERE event_type = 'payment_failed') AS payments_failed,
  COUNT(*) FILTER (WHERE event_type = 'purchase') AS purchases,
  SUM(minutes) AS minutes, SUM(amount) FILTER (WHERE event_type IN ('payment', 'purchase')) AS amount,
  COUNT(*) FILTER (WHERE event_type IN ('session', 'feature_use', 'support_ticket', 'purchase')) > 0 AS active
FROM churn.raw_events GROUP BY ALL;

CREATE OR REPLACE TABLE ref.features AS
WITH days AS (SELECT CAST(unnest(generate_series(DATE '{first}', DATE '{last}', INTERVAL 1 DAY)) AS DATE) AS t),
eligible AS (
  SELECT DISTINCT t, user_id FROM days JOIN ref.daily ON d BETWEEN t - 29 AND t AND active
)
SELECT e.t, e.user_id,
  COUNT(*) FILTER (WHERE t - d < 7 AND active) AS active_days_7,
  COUNT(*) FILTER (WHERE t - d < 14 AND active) AS active_days_14,
  COUNT(*) FILTER (WHERE active) AS active_days_30,
  SUM(events) FILTER (WHERE t - d < 7) AS events_7, SUM(events) FILTER (WHERE t - d < 14) AS events_14,
  SUM(events) AS events_30,
  SUM(minutes) FILTER (WHERE t - d < 7) AS minutes_7, SUM(minutes) AS minutes_30,
  SUM(sessions) AS sessions_30, SUM(feature_uses) AS feature_uses_30, SUM(support_tickets) AS support_tickets_30,
  SUM(payments_failed) AS payments_failed_30, SUM(purchases) AS purchases_30, SUM(amount) AS amount_30,
  t - MAX(d) FILTER (WHERE active) AS days_since_last_activity
FROM eligible e JOIN ref.daily x ON x.user_id = e.user_id AND x.d BETWEEN e.t - 29 AND e.t
GROUP BY e.t, e.user_id;

CREATE OR REPLACE TABLE ref.labels AS
SELECT f.t, f.user_id,
  NOT EXISTS (SELECT 1 FROM ref.daily x WHERE x.user_id = f.user_id AND x.active AND x.d > f.t AND x.d <= f.t + 30)
    AS churned
FROM ref.features f WHERE f.t <= DATE '{label_last}';
"""


def peak_rss_mb() -> float:
    """This process's peak resident set. Linux keeps ru_maxrss across fork and exec, so a child started by a
    parent that has used 5 GB reports 5 GB; VmHWM belongs to the child's own address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- full history


def setup_full(folder: Path, users: int) -> dict:
    """Simulated users and events, validated, in a DuckDB file: the input every variant copies."""
    import pandas as pd

    from churn_assets.core.simulate import simulate_events, simulate_users
    from churn_assets.core.validation import validate_events, validate_users
    from churn_assets.io.duckdb_engine import DuckDBEngine
    from churn_assets.settings import Settings

    config = Settings(users=users, start_date=START, days=DAYS, seed=7).simulation()
    clean_users = validate_users(simulate_users(config)).clean
    engine = DuckDBEngine(str(folder / "input.duckdb"), "churn")
    engine.write_table("raw_users", clean_users)
    events = 0
    with engine.connect() as conn:
        for i in range(DAYS):
            day = START + timedelta(days=i)
            frame = validate_events(simulate_events(config, day), day, clean_users).clean
            conn.register("frame", frame)
            if i == 0:
                conn.execute("CREATE TABLE churn.raw_events AS SELECT * FROM frame LIMIT 0")
            conn.execute("INSERT INTO churn.raw_events SELECT * FROM frame")
            conn.unregister("frame")
            events += len(frame)
            del frame
    del pd
    return {"users": users, "events": events}


def run_full(variant: str, path: str) -> dict:
    from churn_assets.io.duckdb_engine import DuckDBEngine
    from churn_assets.io.warehouse import build_layer

    last = START + timedelta(days=DAYS - 1)
    label_last = last - timedelta(days=HORIZON)
    started, cpu = time.perf_counter(), cpu_seconds()
    if variant == "reference":
        import duckdb

        with duckdb.connect(path) as conn:
            conn.execute("CREATE SCHEMA ref")
            conn.execute(REFERENCE_SQL.format(first=START, last=last, label_last=label_last))
            rows = conn.execute("SELECT (SELECT count(*) FROM ref.features) + (SELECT count(*) FROM ref.labels)")
            rows = rows.fetchone()[0]
    elif variant == "layer":
        from churn_assets.core.features import DEFAULT_SPEC

        engine = DuckDBEngine(path, "churn")
        build_layer(engine, START, last, DEFAULT_SPEC, HORIZON, START)
        rows = sum(
            int(engine.query(f"SELECT count(*) AS n FROM churn.{t}")["n"][0]) for t in ("user_features", "churn_labels")
        )
    else:
        rows = run_through_dagster(path, last, label_last)
    return {"seconds": time.perf_counter() - started, "cpu": cpu_seconds() - cpu, "rows": rows, "rss_mb": peak_rss_mb()}


def run_through_dagster(path: str, last: date, label_last: date) -> int:
    import dagster as dg

    from churn_assets.definitions import defs
    from churn_assets.deployment import build_resources
    from churn_assets.settings import Settings

    settings = Settings(data_dir=Path(path).parent)
    resources = build_resources(settings)
    assets = list(defs.assets)
    os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "true"  # as churn-assets run does
    with dg.instance_for_test() as instance:
        for selection, lo, hi in (
            (["user_daily", "user_state", "user_features"], START, last),
            (["churn_labels"], START, label_last),
        ):
            tags = {
                "dagster/asset_partition_range_start": lo.isoformat(),
                "dagster/asset_partition_range_end": hi.isoformat(),
            }
            dg.materialize(assets, selection=selection, resources=resources, instance=instance, tags=tags)
    engine = resources["warehouse"].engine()
    return sum(
        int(engine.query(f"SELECT count(*) AS n FROM churn.{t}")["n"][0]) for t in ("user_features", "churn_labels")
    )


# ---------------------------------------------------------------- one new day


def setup_newday(folder: Path, users: int, history: int) -> dict:
    """Synthetic history in SQL: user_daily for ``history`` days, user_state of the day before the new day,
    partition_log entries, and the new day's raw events and users."""
    from churn_assets.core.features import DEFAULT_SPEC
    from churn_assets.core.sql import PARTITION_LOG, STATE_TYPES, create_table, for_engine, table_types
    from churn_assets.io.duckdb_engine import DuckDBEngine

    new_day = START + timedelta(days=history)
    engine = DuckDBEngine(str(folder / f"newday-{history}.duckdb"), "churn")
    engine.ensure_table("user_daily", table_types("user_daily", DEFAULT_SPEC))
    engine.ensure_table("user_state", STATE_TYPES)
    engine.ensure_table(PARTITION_LOG, table_types(PARTITION_LOG, DEFAULT_SPEC))
    del create_table, for_engine
    with engine.connect() as conn:
        conn.execute(f"""
            INSERT INTO churn.user_daily
            SELECT 'u' || u, (TIMESTAMPTZ '{START} 00:00:00+00' + to_days(CAST(d AS INTEGER))),
              3, 2, 1, 0, 0, 0, 12.5, 0.0, true
            FROM range({history}) AS days(d), range({users}) AS us(u)
            WHERE hash(u * 7919 + d) % 5 = 0
            ORDER BY d""")
        conn.execute(f"""
            INSERT INTO churn.user_state
            SELECT user_id, TIMESTAMPTZ '{new_day - timedelta(days=1)} 00:00:00+00',
              min(activity_date), min(activity_date),
              max(activity_date), count(*), sum(events), sum(minutes), sum(amount)
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
    from churn_assets.core import transforms as sql
    from churn_assets.core.features import DEFAULT_SPEC
    from churn_assets.core.vocabulary import DEFAULT_VOCABULARY
    from churn_assets.io.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine(path, "churn")
    started, cpu = time.perf_counter(), cpu_seconds()
    counts = engine.replace_partitions(
        "user_daily",
        "activity_date",
        new_day,
        new_day,
        [sql.user_daily_select("churn", new_day, new_day, DEFAULT_VOCABULARY)],
        DEFAULT_SPEC,
    )
    counts |= engine.replace_partitions(
        "user_state",
        "as_of_date",
        new_day,
        new_day,
        [sql.user_state_select("churn", new_day, new_day, False)],
        DEFAULT_SPEC,
    )
    features = engine.replace_partitions(
        "user_features",
        "as_of_date",
        new_day,
        new_day,
        [sql.user_features_select("churn", new_day, new_day, DEFAULT_SPEC)],
        DEFAULT_SPEC,
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": cpu_seconds() - cpu, "rows": features.get(new_day, 0), "rss_mb": peak_rss_mb()}


# ---------------------------------------------------------------- driver


def child_json(argv: list[str]) -> dict:
    """Run a Python script in a fresh process; its last stdout line is the JSON result."""
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(args: list[str]) -> dict:
    return child_json([__file__, "_child", *args])


def report(name: str, runs: list[dict], reference: float | None, work: str) -> float:
    wall = statistics.median(r["seconds"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    rss = statistics.median(r["rss_mb"] for r in runs)
    rows = runs[0]["rows"]
    ratio = f"  {wall / reference:4.2f}x reference" if reference else ""
    each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    print(
        f"  {name:<10} wall {wall:7.2f} s  cpu {cpu:7.2f} s  {rows / wall:>12,.0f} {work}/s  "
        f"peak RSS {rss:7.0f} MB{ratio}  (runs: {each})"
    )
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    full = sub.add_parser("full")
    full.add_argument("--users", type=int, default=20_000)
    full.add_argument("--repeat", type=int, default=3)
    newday = sub.add_parser("newday")
    newday.add_argument("--day-users", type=int, default=1_000_000)
    newday.add_argument("--history", type=int, nargs="+", default=[60, 360])
    newday.add_argument("--repeat", type=int, default=3)
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        kind, *rest = sys.argv[2:]
        result = run_full(rest[0], rest[1]) if kind == "full" else run_newday(rest[0], date.fromisoformat(rest[1]))
        print(json.dumps(result))
        return
    args = parser.parse_args()
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"host: {os.cpu_count()} cpus, python {sys.version.split()[0]}, OMP_NUM_THREADS={threads}")
    with tempfile.TemporaryDirectory(prefix="churn-bench-") as tmp:
        folder = Path(tmp)
        if args.what == "full":
            started = time.perf_counter()
            info = setup_full(folder, args.users)
            print(f"full history: {info['users']:,} users x {DAYS} days, {info['events']:,} events "
                  f"(input built in {time.perf_counter() - started:.0f} s)")  # fmt: skip
            runs: dict[str, list[dict]] = {"reference": [], "layer": [], "dagster": []}
            for _ in range(args.repeat):
                for variant in runs:
                    work = folder / variant / "warehouse.duckdb"
                    work.parent.mkdir(exist_ok=True)
                    shutil.copy(folder / "input.duckdb", work)
                    runs[variant].append(child(["full", variant, str(work)]))
                    shutil.rmtree(work.parent)
            reference = report("reference", runs["reference"], None, "rows")
            report("layer", runs["layer"], reference, "rows")
            report("dagster", runs["dagster"], reference, "rows")
        else:
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
                    results.append(child(["newday", str(work), info["new_day"]]))
                    work.unlink()
                report("new day", results, None, "feature rows")
                source.unlink()


if __name__ == "__main__":
    main()
