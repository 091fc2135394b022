"""A log of heavy users end to end: few users, many events each, as per-day CSV files (a ``{date}`` template).

``--users`` users (3,000) over ``--days`` days (120), each with their own daily rate of sessions and purchases
(gamma-distributed around ``--rate`` events a day, 16) until their last day (a third stop early), written one CSV
file per day with a users file beside it: 3,000 x 120 x 16 is about 5.8 M events, the size of the subscription
log whose single events run once peaked at 1.88 GB. Two variants, alternating, each ``churn-assets run`` in a
fresh process and an empty data directory:

* ``previous``: release b466d7f (a git worktree of it, this environment's packages): the events stage sized by
  users (1,000,000 / 3,000 users = 333 days: one run holding every event);
* ``command``: this tree: the events stage sized by the files' rows per day (runs of at most a million events).

Printed: wall, CPU, events/s, peak RSS of the whole command, and each stage's wall time and peak RSS.

    python bench/bench_heavy.py [--users 3000] [--days 120] [--rate 16] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from measure import STAGE, host, report  # noqa: E402

PREVIOUS = "b466d7f"
START = date(2025, 1, 1)


def write_log(folder: Path, users: int, days: int, rate: float) -> int:
    """The per-day event files and the users file; the number of events written."""
    rng = np.random.default_rng(5)
    ids = np.array([f"u{i:06d}" for i in range(users)])
    rates = rng.gamma(2.0, rate / 2.0, users)
    last_day = np.where(rng.random(users) < 1 / 3, rng.integers(days // 4, days, users), days)
    signup = pd.Timestamp(START, tz="UTC") - pd.to_timedelta(rng.integers(1, 400, users), unit="D")
    pd.DataFrame({"user_id": ids, "signup_time": signup.strftime("%Y-%m-%dT%H:%M:%SZ"), "plan": "basic",
                  "country": "DE", "channel": "web"}).to_csv(folder / "users.csv", index=False)  # fmt: skip
    total = 0
    for d in range(days):
        day = START + timedelta(days=d)
        counts = rng.poisson(rates * (last_day > d))
        who = np.repeat(ids, counts)
        n = len(who)
        seconds = rng.integers(0, 86_400, n)
        times = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s")
        purchase = rng.random(n) < 0.05
        frame = pd.DataFrame({
            "event_id": [f"{day:%Y%m%d}-{i}" for i in range(n)],
            "user_id": who,
            "event_time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event_type": np.where(purchase, "purchase", "session"),
            "minutes": np.where(purchase, 0, rng.integers(1, 30, n)),
            "amount": np.where(purchase, np.round(rng.gamma(2.0, 20.0, n), 2), 0),
        })  # fmt: skip
        frame.to_csv(folder / f"events_{day}.csv", index=False)
        total += n
    return total


def run_command(variant: str, folder: Path, days: int, previous: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(previous if variant == "previous" else ROOT)
    data_dir = folder / f"data-{variant}"
    args = ["run", "--data-dir", str(data_dir), "--events-file", str(folder / "events_{date}.csv")]
    args += ["--users-file", str(folder / "users.csv"), "--start", START.isoformat(), "--days", str(days)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "from churn_assets.cli import console; console()"
                          if variant == "previous" else "from churn_assets.cli.main import console; console()",
                          *args], capture_output=True, text=True, env=env, cwd=folder, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    if out.returncode != 0:
        raise RuntimeError(f"{variant}: {out.stdout[-3000:]}{out.stderr[-3000:]}")
    stages = [
        {"stage": f"{n} {what}", "seconds": float(s), "rss_mb": float(mb.replace(",", ""))}
        for n, what, s, mb in STAGE.findall(out.stdout)
    ]
    events = re.search(r"\n\s+raw_events\s+([\d,]+)\n", out.stdout)
    return {
        "seconds": seconds,
        "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "rows": int(events.group(1).replace(",", "")),
        "rss_mb": max(s["rss_mb"] for s in stages),
        "stages": stages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--rate", type=float, default=16.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(host())
    with tempfile.TemporaryDirectory(prefix="bench-heavy-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        events = write_log(folder, args.users, args.days, args.rate)
        print(f"heavy-user log: {args.users:,} users x {args.days} days, {events:,} events in {args.days} CSV files "
              f"(written in {time.perf_counter() - started:.0f} s)")  # fmt: skip
        previous = folder / "previous"
        subprocess.run(["git", "worktree", "add", "--detach", str(previous), PREVIOUS], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        runs: dict[str, list[dict]] = {"previous": [], "command": []}
        try:
            for _ in range(args.repeat):
                for variant in runs:
                    runs[variant].append(run_command(variant, folder, args.days, previous))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(previous)], cwd=ROOT, check=False)
    reference = report("previous", runs["previous"], None, "events")
    report("command", runs["command"], reference, "events")
    for variant, done in runs.items():
        print(f"  {variant} stages (median wall, median peak RSS of the stage):")
        for i, stage in enumerate(done[0]["stages"]):
            wall = statistics.median(r["stages"][i]["seconds"] for r in done)
            rss = statistics.median(r["stages"][i]["rss_mb"] for r in done)
            print(f"    {stage['stage']:<50} {wall:7.1f} s  {rss:6,.0f} MB")


if __name__ == "__main__":
    main()
