"""One new day for 100,000 simulated users: raw_events -> user_daily -> user_features, through Dagster.

For each history length (60 and 360 days by default) the script builds a warehouse whose tables
already hold that many days, then materializes the next day's partition in a fresh process and
prints its wall time, users/s and peak RSS. History days older than the 30-day feature window are
the simulated window days repeated with shifted dates, so both warehouses have the same density
and only the amount of history differs.

    python bench/bench_new_day.py [--users 100000] [--history 60 360]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

NEW_DAY = date(2026, 7, 1)
DATA = ["raw_events", "raw_events_quarantine", "user_daily", "user_features"]


def source_for(users: int):
    from churn_assets.resources import ChurnSource

    # The same population for every history length: all users have signed up by the new day.
    return ChurnSource(users=users, start_date=(NEW_DAY - timedelta(days=120)).isoformat(), days=120, seed=7)


def setup(data_dir: Path, users: int, history: int) -> dict:
    import dagster as dg
    import duckdb
    import pandas as pd

    from churn_assets.core.aggregate import aggregate_user_daily
    from churn_assets.core.validation import validate_events, validate_users
    from churn_assets.definitions import defs
    from churn_assets.deployment import build_resources
    from churn_assets.settings import Settings

    source = source_for(users)
    resources = {**build_resources(Settings.from_env()), "source": source}
    with dg.DagsterInstance.get() as instance:
        dg.materialize(
            list(defs.assets), selection=["raw_users", "raw_users_quarantine"], resources=resources, instance=instance
        )
    known = validate_users(source.read_users()).clean["user_id"]
    window = {}
    for i in range(1, 31):
        day = NEW_DAY - timedelta(days=i)
        events = validate_events(source.read_events(day), day, known).clean
        window[i] = (events, aggregate_user_daily(events))
    rows = 0
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as conn:
        for i in range(1, history + 1):
            events, daily = window[(i - 1) % 30 + 1]
            shift = pd.Timedelta(days=((i - 1) // 30) * 30)
            events = events.assign(event_time=events["event_time"] - shift, event_id=events["event_id"] + f"-h{i}")
            daily = daily.assign(activity_date=daily["activity_date"] - shift)
            for table, frame in (("raw_events", events), ("user_daily", daily)):
                conn.register("frame", frame)
                conn.execute(f"create table if not exists churn.{table} as select * from frame limit 0")
                conn.execute(f"insert into churn.{table} select * from frame")
                conn.unregister("frame")
            rows += len(events)
        counts = {
            t: conn.execute(f"select count(*) from churn.{t}").fetchone()[0] for t in ("raw_events", "user_daily")
        }
    return {"history_event_rows": rows, **counts}


def measure(users: int) -> dict:
    import dagster as dg

    from churn_assets.definitions import defs
    from churn_assets.deployment import build_resources
    from churn_assets.settings import Settings

    resources = {**build_resources(Settings.from_env()), "source": source_for(users)}
    with dg.DagsterInstance.get() as instance:
        started = time.perf_counter()
        result = dg.materialize(
            list(defs.assets), selection=DATA, resources=resources, instance=instance, partition_key=NEW_DAY.isoformat()
        )
        seconds = time.perf_counter() - started
    steps = {
        e.step_key: round(e.event_specific_data.duration_ms / 1000, 2)
        for e in result.all_events
        if e.event_type_value == "STEP_SUCCESS"
    }
    mats = [e.step_materialization_data.materialization for e in result.get_asset_materialization_events()]
    rows = {m.asset_key.to_user_string(): int(m.metadata["dagster/row_count"].value) for m in mats}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": round(seconds, 2), "steps": steps, "rows": rows, "peak_rss_mb": round(peak_mb)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--history", type=int, nargs="+", default=[60, 360])
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.users)))
        return
    print(f"new day {NEW_DAY} for {args.users:,} users; {os.cpu_count()} cores")
    for history in args.history:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            env = {
                **os.environ,
                "CHURN_DATA_DIR": str(data_dir),
                "CHURN_START_DATE": (NEW_DAY - timedelta(days=history)).isoformat(),
                "DAGSTER_HOME": str(data_dir / "dagster"),
            }
            (data_dir / "dagster").mkdir()
            (data_dir / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            setup_cmd = [
                sys.executable,
                "-c",
                f"import bench_new_day as b, pathlib, json; "
                f"print(json.dumps(b.setup(pathlib.Path({str(data_dir)!r}), {args.users}, {history})))",
            ]
            t = time.perf_counter()
            built = json.loads(
                subprocess.run(
                    setup_cmd, env=env, cwd=Path(__file__).parent, check=True, capture_output=True, text=True
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            print(
                f"history {history:>3} days: built in {time.perf_counter() - t:.0f}s "
                f"(raw_events {built['raw_events']:,} rows, user_daily {built['user_daily']:,} rows)"
            )
            out = (
                subprocess.run(
                    [sys.executable, __file__, "--measure", "--users", str(args.users)],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            m = json.loads(out)
            featured = m["rows"]["user_features"]
            print(
                f"  new day: {m['seconds']:.2f}s wall ({featured / m['seconds']:,.0f} users/s), "
                f"peak RSS {m['peak_rss_mb']:,} MB; steps {m['steps']}; rows {m['rows']}"
            )


if __name__ == "__main__":
    main()
