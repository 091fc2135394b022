"""The benchmark scripts behind the figures in docs/performance.md still run and print what they promise (wall
time, CPU seconds, rows/s, peak RSS, the ratio to the plain-SQL reference), here on tiny inputs."""

import re
import subprocess
import sys

import pytest

from churn_assets_tests.helpers import ROOT, clean_env

MEASURED = re.compile(r"wall +[0-9.]+ s +cpu +[0-9.]+ s +[0-9,]+ [a-z ]+/s +peak RSS +[0-9]+ MB")


def bench(script: str, *args: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return run.stdout.splitlines()


@pytest.mark.parametrize(
    ("script", "args", "variants"),
    [
        ("bench_warehouse.py", ["--users", "200", "--repeat", "1"], ["reference", "layer", "dagster"]),
        ("bench_newday.py", ["--day-users", "2000", "--history", "8", "--repeat", "1"], ["new day"]),
        ("bench_purchase.py", ["--users", "300", "--days", "60", "--repeat", "1"], ["reference", "command"]),
        ("bench_subscriptions.py", ["--users", "300", "--repeat", "1"], ["reference", "layer"]),
        (
            "bench_instance.py",
            ["--users", "300", "--days", "45", "--repeat", "1", "--variants", "previous,postgres_batch"],
            ["postgres_batch"],  # beside the previous release, on a throwaway PostgreSQL server
        ),
    ],
)
def test_a_benchmark_prints_its_measurements_for_every_variant(script, args, variants):
    lines = bench(script, *args)
    for variant in variants:
        [line] = [line for line in lines if line.strip().startswith(f"{variant} ") and MEASURED.search(line)]
        if variant not in ("reference", "new day"):
            assert re.search(r"[0-9.]+x reference", line), line
