"""The warehouse data layer against a plain DuckDB SQL script doing the same work, side by side.

Each variant in a fresh child process of this script (so peak RSS is its own), run
alternately ``--repeat`` times; the script prints the median wall time, CPU seconds (user + system,
including DuckDB's threads), rows/s and peak RSS of each variant, and the ratio to the reference.

Full history: events -> user_daily, user_state, user_features (7/14/30 windows) and 30-day
labels, for ``--users`` simulated users over 120 days (20,000 users: 4.8 M events).

* ``reference``: one plain DuckDB script: the daily grid from the events, the 7/14/30-day windows of
  every user active in the last 30 days, and 30-day forward labels (DATE arithmetic, no state table).
* ``layer``: the statements the assets run (``io.warehouse.build_layer``), without Dagster.
* ``dagster``: the same assets materialized through Dagster (one ranged run per stage, as
  ``churn-assets run`` does).

One new day on a long history is bench_newday.py.

    python bench/bench_warehouse.py [--users 20000] [--repeat 3] [--days 120]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import alternate, cpu_seconds, host, peak_rss_mb, report  # noqa: E402

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


# ---------------------------------------------------------------- full history


def setup_full(folder: Path, users: int, days: int = DAYS) -> dict:
    """Simulated users and events, validated, in a DuckDB file: the input every variant copies."""
    import pandas as pd

    from churn_assets.core.intake.rules import validate_events, validate_users
    from churn_assets.core.simulation.simulate import simulate_events, simulate_users
    from churn_assets.io.duckdb_engine import DuckDBEngine
    from churn_assets.io.warehouse import create_partition_log, partition_log_statements
    from churn_assets.settings import Settings

    config = Settings(users=users, start_date=START, days=days, seed=7).simulation()
    clean_users = validate_users(simulate_users(config)).clean
    engine = DuckDBEngine(str(folder / "input.duckdb"), "churn")
    engine.write_table("raw_users", clean_users)
    events = 0
    with engine.connect() as conn:
        for i in range(days):
            day = START + timedelta(days=i)
            frame = validate_events(simulate_events(config, day), day, clean_users).clean
            conn.register("frame", frame)
            if i == 0:
                conn.execute("CREATE TABLE churn.raw_events AS SELECT * FROM frame LIMIT 0")
            conn.execute("INSERT INTO churn.raw_events SELECT * FROM frame")
            conn.unregister("frame")
            events += len(frame)
            del frame
    # the days the events hold, recorded as the raw_events asset records them: user_daily refuses days without
    engine.run(create_partition_log("churn"))
    engine.run_transaction(
        partition_log_statements("churn", "raw_events", "event_time", START, START + timedelta(days - 1))
    )
    del pd
    return {"users": users, "events": events}


def run_full(variant: str, path: str) -> dict:
    import duckdb

    from churn_assets.io.duckdb_engine import DuckDBEngine
    from churn_assets.io.warehouse import build_layer

    with duckdb.connect(path, read_only=True) as conn:  # the input's last day (--days)
        last = conn.execute("SELECT max(partition_date)::DATE FROM churn.partition_log").fetchone()[0]
    label_last = last - timedelta(days=HORIZON)
    started, cpu = time.perf_counter(), cpu_seconds()
    if variant == "reference":
        with duckdb.connect(path) as conn:
            conn.execute("CREATE SCHEMA ref")
            conn.execute(REFERENCE_SQL.format(first=START, last=last, label_last=label_last))
            rows = conn.execute("SELECT (SELECT count(*) FROM ref.features) + (SELECT count(*) FROM ref.labels)")
            rows = rows.fetchone()[0]
    elif variant == "layer":
        from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC

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

    from churn_assets.definitions import build_definitions
    from churn_assets.defs.deployment import build_resources
    from churn_assets.settings import Settings

    settings = Settings(data_dir=Path(path).parent)
    resources = build_resources(settings)
    assets = list(build_definitions(settings).assets)
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


# ---------------------------------------------------------------- driver


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(run_full(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--days", type=int, default=DAYS)
    args = parser.parse_args()
    print(host())
    with tempfile.TemporaryDirectory(prefix="churn-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        info = setup_full(folder, args.users, args.days)
        print(f"full history: {info['users']:,} users x {args.days} days, {info['events']:,} events "
              f"(input built in {time.perf_counter() - started:.0f} s)")  # fmt: skip
        runs = alternate(__file__, folder, ["reference", "layer", "dagster"], args.repeat)
        reference = report("reference", runs["reference"], None, "rows")
        report("layer", runs["layer"], reference, "rows")
        report("dagster", runs["dagster"], reference, "rows")


if __name__ == "__main__":
    main()
