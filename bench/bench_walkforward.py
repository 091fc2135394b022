"""Walk-forward tables for both simulator profiles: `churn-assets evaluate` as a user runs it, on a fresh data
directory, monthly as-of dates; the production model beside recency alone and BG/NBD on the same users.

    python bench/bench_walkforward.py [--profile purchase|subscription|both] [--users 4000] [--data-dir DIR]
"""

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

from churn_assets.core.modeling.walkforward import printed, summary_line

# (first day of data, days, first as-of, last as-of): the data must end before today, cover the label horizon
# after the last date, and hold enough labelled days before the first date for a training and a test window
PROFILES = {
    "purchase": ("2025-09-01", 450, "2026-01-01", "2026-10-01"),
    "subscription": ("2026-01-01", 300, "2026-04-15", "2026-09-15"),
}


def run(profile: str, users: int, data_dir: Path) -> None:
    start, days, first, last = PROFILES[profile]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME"))}
    command = ["churn-assets", "evaluate", "--data-dir", str(data_dir), "--profile", profile]
    command += [
        "--start",
        start,
        "--users",
        str(users),
        "--days",
        str(days),
        "--from",
        first,
        "--to",
        last,
        "--every",
        "1M",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    table = pd.read_csv(data_dir / f"artifacts/reports/evaluate/walk_forward_{first}_{last}_1M.csv")
    print(f"\n{profile}: {users:,} users x {days} days, as-of {first}..{last} monthly")
    print(f"  wall {wall:.1f}s, CPU {cpu:.1f}s, peak RSS {after.ru_maxrss / 1024:,.0f} MB (largest child so far)")
    print(printed(table).to_markdown(index=False))
    print("  " + summary_line(table))
    recent = table[table["model_roc_auc"].notna()].filter(like="recent_").mean().round(4)
    print("  PR-AUC on the users active in the last 7 days: " + ", ".join(f"{k} {v}" for k, v in recent.items()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="both", choices=["both", *PROFILES])
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="bench_walkforward_"))
    for profile in PROFILES if args.profile == "both" else [args.profile]:
        run(profile, args.users, root / profile)


if __name__ == "__main__":
    main()
