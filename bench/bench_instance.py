"""The default demo end to end (``churn-assets run``: 2,000 users, 120 days) on each Dagster instance, beside the
previous release, each run in a fresh process and an empty data directory, alternating, medians of ``--repeat``.

Variants:

* ``previous``: release b466d7f of this project (a git worktree of that commit, run with this environment's
  packages), on Dagster's own SQLite storage: the reference;
* ``sqlite``: this tree, the embedded instance (event-log databases kept open, wiring/instance_storage.py);
* ``postgres``: this tree on a throwaway PostgreSQL server (Debian's ``postgresql``, a cluster in a temporary
  directory on a loopback port; a new database per run);
* ``postgres_batch``: the same with Dagster's ``DAGSTER_EVENT_BATCH_SIZE=100`` (a ranged run's materializations
  written in batches, which dagster-postgres supports).

Each run prints wall and CPU seconds, raw events per second of wall time, peak RSS, and the events stage's seconds
(the stage that writes about 1,100 event-log entries: five materializations and two check evaluations per day).

    python bench/bench_instance.py [--repeat 3] [--variants previous,sqlite,postgres,postgres_batch]
                                   [--users 2000] [--days 120]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from measure import STAGE, host, report  # noqa: E402

PREVIOUS = "b466d7f"
EVENTS_ROWS = re.compile(r"^\s+raw_events\s+([\d,]+)$", re.M)
# the child: the command in this process, then its own wall, CPU and peak RSS as the last line
CHILD = """
import json, resource, sys, time
from pathlib import Path
try:
    from churn_assets.cli.main import console
except ImportError:  # the previous release: one module
    from churn_assets.cli import console
sys.argv = ["churn-assets", "run", "--data-dir", *sys.argv[1:]]
started = time.perf_counter()
code = console()
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
hwm = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:")]
print(json.dumps({"code": code, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_mb": int(hwm[0].split()[1]) / 1024}))
"""


def run_once(variant: str, work: Path, previous: Path | None, postgres: str | None, size: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(previous if variant == "previous" else ROOT)
    if variant.startswith("postgres"):
        env["CHURN_DAGSTER_POSTGRES_URL"] = new_database(postgres)
    if variant == "postgres_batch":
        env["DAGSTER_EVENT_BATCH_SIZE"] = "100"
    data = work / f"{variant}-{uuid.uuid4().hex[:6]}"
    command = [sys.executable, "-c", CHILD, str(data), *size]
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work)
    if out.returncode != 0:
        raise RuntimeError(f"{variant}: {out.stdout[-2000:]}{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    stages = {int(n): float(s) for n, _, s, _ in STAGE.findall(out.stdout)}
    result["events_stage"] = stages[2]
    result["rows"] = int(EVENTS_ROWS.search(out.stdout).group(1).replace(",", ""))
    return result


def new_database(url: str) -> str:
    """A new, empty database on the server of ``url``; its URL."""
    import sqlalchemy

    name = f"bench_{uuid.uuid4().hex[:10]}"
    with sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    return url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", default="previous,sqlite,postgres,postgres_batch")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=120)
    args = parser.parse_args()
    size = ["--users", str(args.users), "--days", str(args.days)]
    variants = args.variants.split(",")
    print(host())
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-instance-") as tmp:
        work = Path(tmp)
        previous = None
        if "previous" in variants:
            previous = work / "previous"
            subprocess.run(["git", "worktree", "add", "--detach", str(previous), PREVIOUS], cwd=ROOT, check=True,
                           capture_output=True)  # fmt: skip
            stack.callback(subprocess.run, ["git", "worktree", "remove", "--force", str(previous)], cwd=ROOT)
        postgres = None
        if any(v.startswith("postgres") for v in variants):
            from churn_assets_tests.postgres import postgres_server

            postgres = stack.enter_context(postgres_server())
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        for i in range(args.repeat):
            for variant in variants:
                runs[variant].append(run_once(variant, work, previous, postgres, size))
                print(f"  run {i + 1} {variant}: {runs[variant][-1]['seconds']:.1f} s", flush=True)
    print(f"churn-assets run, {args.users:,} users x {args.days} days ({runs[variants[0]][0]['rows']:,} raw events):")
    reference = None
    for variant in variants:
        wall = report(variant, runs[variant], reference, "events")
        stage = statistics.median(r["events_stage"] for r in runs[variant])
        each = ", ".join(f"{r['events_stage']:.1f}" for r in runs[variant])
        print(f"  {'':<10} events stage {stage:.1f} s (runs: {each})")
        reference = reference or wall


if __name__ == "__main__":
    main()
