"""What every benchmark here measures and prints: wall time, CPU seconds, rows/s and peak RSS, each variant in a
fresh child process (so its peak RSS is its own), medians of several runs."""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
from pathlib import Path

# a stage of `churn-assets run` as it prints it: "[n/m] what ..." then, after any lines the stage logs, its
# "done in 12.3s, peak RSS 456 MB"
STAGE = re.compile(
    r"^\[(\d+)/\d+\] (.+?) \.\.\.\n(?:.*\n)*?\s+(?:done|FAILED) in ([\d.]+)s, peak RSS ([\d,]+) MB", re.M
)


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


def child_json(argv: list[str]) -> dict:
    """Run a Python script in a fresh process; its last stdout line is the JSON result."""
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def alternate(script: str, folder: Path, variants: list[str], repeat: int) -> dict[str, list[dict]]:
    """Each variant ``repeat`` times, alternately, each run in a fresh child process on its own copy of
    ``folder/input.duckdb`` (``script _child VARIANT PATH`` prints the run's JSON)."""
    import shutil

    runs: dict[str, list[dict]] = {variant: [] for variant in variants}
    for _ in range(repeat):
        for variant in variants:
            work = folder / variant / "warehouse.duckdb"
            work.parent.mkdir(exist_ok=True)
            shutil.copy(folder / "input.duckdb", work)
            runs[variant].append(child_json([script, "_child", variant, str(work)]))
            shutil.rmtree(work.parent)
    return runs


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


def host() -> str:
    """The line every benchmark starts with: what it ran on."""
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return f"host: {os.cpu_count()} cpus, python {sys.version.split()[0]}, OMP_NUM_THREADS={threads}"
