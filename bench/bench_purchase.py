"""A company's own events file end to end through ``churn-assets run``, every stage's peak RSS, beside plain SQL.

The log is the simulator's purchase profile written as a shop would export it: one CSV row per order
(``user_id``, ``event_time``, ``event_type=order``, ``amount``, ``quantity``; no event ids, no users file),
``--users`` customers over ``--days`` days. With ``--profile subscription`` it is the subscription profile's
events exported as they are (``event_id``, ``user_id``, ``event_time``, ``event_type``, ``minutes``,
``amount``), the product-usage log of a SaaS company. Two variants, each in a fresh child process, alternating,
``--repeat`` times; medians are printed:

* ``reference``: one plain DuckDB script: load the CSV, then the daily grid, the 7/14/30-day windows and
  30-day labels (``bench_warehouse.REFERENCE_SQL``);
* ``command``: ``churn-assets run --events-file log.csv --event-types order=purchase`` in an empty data dir:
  validation, the warehouse layer, training, promotion, predictions and drift. The command prints each
  stage's wall time and peak RSS (the process peak is reset before each stage); "file to labels" is the
  file's first read (its days found; the runs keep what it read) and the stages up to the labels (the users,
  events to features, churn labels), the work the reference does.

    python bench/bench_purchase.py [--users 25000] [--days 540] [--repeat 3]
    python bench/bench_purchase.py --profile subscription --users 20000 --days 120
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_warehouse import REFERENCE_SQL  # noqa: E402
from measure import STAGE, child_json, cpu_seconds, host, peak_rss_mb, report  # noqa: E402

START = date(2025, 1, 1)
HORIZON = 30


EXPORT_COLUMNS = ["event_id", "user_id", "event_time", "event_type", "minutes", "amount"]


def write_log(path: Path, users: int, days: int, profile: str = "purchase") -> int:
    from churn_assets.core.simulation.simulate import as_shop_export, simulate_events
    from churn_assets.settings import Settings

    config = Settings(users=users, start_date=START, days=days, seed=11, profile=profile).simulation()
    shop = profile == "purchase"
    rows = 0
    with path.open("w") as out:
        out.write("user_id,event_time,event_type,amount,quantity\n" if shop else ",".join(EXPORT_COLUMNS) + "\n")
        for i in range(days):
            events = simulate_events(config, START + timedelta(days=i))
            frame = as_shop_export(events) if shop else events[EXPORT_COLUMNS]
            frame.to_csv(out, header=False, index=False)
            rows += len(frame)
    return rows


# the reference's raw_events from either export: the shop's orders are purchases without minutes
RAW_EVENTS = {
    "purchase": "user_id, CAST(event_time AS TIMESTAMPTZ) AS event_time, 'purchase' AS event_type, 0.0 AS minutes, "
    "amount",
    "subscription": "user_id, CAST(event_time AS TIMESTAMPTZ) AS event_time, event_type, minutes, amount",
}


def run_reference(log: str, work: str, days: int, profile: str = "purchase") -> dict:
    import duckdb

    last = START + timedelta(days=days - 1)
    started, cpu = time.perf_counter(), cpu_seconds()
    with duckdb.connect(work) as conn:
        conn.execute("CREATE SCHEMA churn; CREATE SCHEMA ref")
        conn.execute(
            f"CREATE TABLE churn.raw_events AS SELECT {RAW_EVENTS[profile]} FROM read_csv('{log}', header = true)"
        )
        conn.execute(REFERENCE_SQL.format(first=START, last=last, label_last=last - timedelta(days=HORIZON)))
        rows = conn.execute("SELECT (SELECT count(*) FROM ref.features) + (SELECT count(*) FROM ref.labels)")
        rows = rows.fetchone()[0]
    return {"seconds": time.perf_counter() - started, "cpu": cpu_seconds() - cpu, "rows": rows, "rss_mb": peak_rss_mb()}


def run_command(log: str, data_dir: str, days: int, profile: str = "purchase") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME"))}
    args = ["run", "--data-dir", data_dir, "--events-file", log]
    args += ["--event-types", "order=purchase"] if profile == "purchase" else []
    args += ["--start", START.isoformat(), "--days", str(days)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(["churn-assets", *args], capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(out.stdout[-3000:] + out.stderr[-3000:])
    stages = [
        {"stage": f"{n} {what}", "seconds": float(s), "rss_mb": float(mb.replace(",", ""))}
        for n, what, s, mb in STAGE.findall(out.stdout)
    ]
    features = re.search(r"\n\s+user_features\s+([\d,]+)\n", out.stdout)
    labels = re.search(r"\n\s+churn_labels\s+([\d,]+)\n", out.stdout)
    to_labels = [s["seconds"] for s in stages if re.search(r"raw users|events to features|churn labels", s["stage"])]
    read = re.search(r"events file read in ([\d.]+)s", out.stdout)  # before the stages: finding the file's days
    return {
        "seconds": seconds,
        "to_labels": sum(to_labels) + float(read.group(1)),
        "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "rows": int(features.group(1).replace(",", "")) + int(labels.group(1).replace(",", "")),
        "rss_mb": max(s["rss_mb"] for s in stages),
        "stages": stages,
        "summary": out.stdout[out.stdout.index("Summary") :],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=25_000)
    parser.add_argument("--days", type=int, default=540)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", choices=list(RAW_EVENTS), default="purchase")
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(__import__("json").dumps(run_reference(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])))
        return
    args = parser.parse_args()
    print(host())
    with tempfile.TemporaryDirectory(prefix="churn-purchase-") as tmp:
        folder = Path(tmp)
        log = folder / "orders.csv"
        started = time.perf_counter()
        events = write_log(log, args.users, args.days, args.profile)
        size = log.stat().st_size / 1e6
        print(f"{args.profile} log: {args.users:,} users x {args.days} days from {START}, {events:,} events, "
              f"{size:.1f} MB CSV (written in {time.perf_counter() - started:.0f} s)")  # fmt: skip
        runs: dict[str, list[dict]] = {"reference": [], "command": []}
        for _ in range(args.repeat):
            work = folder / "reference.duckdb"
            child = [__file__, "_child", str(log), str(work), str(args.days), args.profile]
            runs["reference"].append(child_json(child))
            work.unlink()
            data_dir = folder / "data"
            runs["command"].append(run_command(str(log), str(data_dir), args.days, args.profile))
            shutil.rmtree(data_dir)
        reference = report("reference", runs["reference"], None, "rows")
        report("command", runs["command"], reference, "rows")
        to_labels = statistics.median(r["to_labels"] for r in runs["command"])
        print(f"  command, file to labels (its first read and its stages up to the labels): {to_labels:.1f} s, "
              f"{to_labels / reference:.1f}x the reference")  # fmt: skip
        print("  command stages (median wall, median peak RSS of the stage):")
        for i, stage in enumerate(runs["command"][0]["stages"]):
            wall = statistics.median(r["stages"][i]["seconds"] for r in runs["command"])
            rss = statistics.median(r["stages"][i]["rss_mb"] for r in runs["command"])
            print(f"    {stage['stage']:<50} {wall:7.1f} s  {rss:6,.0f} MB")
        print(runs["command"][-1]["summary"])


if __name__ == "__main__":
    main()
