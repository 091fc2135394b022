"""What the daily refresh costs on BigQuery's on-demand pricing, at 10^5, 10^6 and 10^7 users: a model, not a bill.

BigQuery bills a query by the logical bytes of the columns it reads from the partitions it cannot prune (at least
10 MB per table referenced), at USD 6.25 per TiB on demand. This script measures what the model needs on a
warehouse the pipeline wrote (``churn-assets run``'s DuckDB file): each table's logical bytes per row by
BigQuery's rules (STRING: 2 + its UTF-8 bytes; INT64, FLOAT64, TIMESTAMP: 8; BOOL: 1) over the columns each
daily statement reads, and each table's rows per user on the last day. It then scales them to the populations
and lists every statement of one day's refresh, with the partitions it reads when tables are partitioned by day
(this release) and when they are not (the previous one: every statement scans the whole table, so a day's cost
grows with the history kept, here ``--history`` days).

    churn-assets run --data-dir /tmp/demo && python bench/cost_model.py /tmp/demo [--history 365]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

PRICE_PER_TIB = 6.25
MINIMUM = 10 * 2**20  # bytes billed at least per table referenced by a query
WINDOW = 30  # the longest feature window and the label horizon (days)
# per daily statement: (table read, columns read or None for all, days of partitions read)
STATEMENTS = {
    "raw_events: the day's slice replaced": [("raw_events", None, 1)],
    "user_daily: the day's events aggregated": [("raw_events", None, 1)],
    "user_state: yesterday's state and today's activity": [("user_state", None, 1), ("user_daily", None, 1)],
    "user_features: state, 30 days of activity, users": [
        ("user_state", None, 1),
        ("user_daily", None, WINDOW),
        ("raw_users", None, None),
    ],
    "user_type_features: 30 days of events by type": [
        ("user_features", ["user_id", "as_of_date"], 1),
        ("raw_events", ["user_id", "event_time", "event_type"], WINDOW),
    ],
    "churn_labels: day t-30 against the state of t": [
        ("user_features", ["user_id", "as_of_date"], 1),
        ("user_state", ["user_id", "as_of_date", "last_active_date"], 1),
    ],
    "churn_predictions: the day scored": [("user_features", None, 1), ("user_type_features", None, 1)],
    "drift_report: the day against its reference": [("user_features", None, 2)],
}


def measure(path: Path) -> dict[str, dict]:
    """Per table: logical bytes per row of each column, and rows on the last day per user of raw_users."""
    con = duckdb.connect(str(path), read_only=True)
    users = con.execute("SELECT count(*) FROM churn.raw_users").fetchone()[0]
    found = {}
    for table in {t for reads in STATEMENTS.values() for t, _, _ in reads}:
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = 'churn' AND table_name = '{table}'"
        ).fetchall()
        fixed = {"BOOLEAN": "1"}  # INT64, FLOAT64, TIMESTAMP: 8
        sizes = [
            f'coalesce(avg(2 + octet_length("{c}"::BLOB)), 0)' if kind == "VARCHAR" else fixed.get(kind, "8")
            for c, kind in columns
        ]
        averages = con.execute(f"SELECT {', '.join(sizes)} FROM churn.{table}").fetchone()
        per_column = dict(zip([c for c, _ in columns], averages, strict=True))
        day = next((c for c in ("as_of_date", "activity_date", "event_time") if c in per_column), None)
        if day is None:
            rows = con.execute(f"SELECT count(*) FROM churn.{table}").fetchone()[0]
        else:  # the last full day of the table
            rows = con.execute(
                f"SELECT count(*) FROM churn.{table} WHERE CAST({day} AS DATE) = "
                f"(SELECT max(CAST({day} AS DATE)) - 1 FROM churn.{table})"
            ).fetchone()[0]
        total = con.execute(f"SELECT count(*) FROM churn.{table}").fetchone()[0]
        found[table] = {"bytes": per_column, "per_user": rows / users, "total_per_user": total / users}
    return found  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--history", type=int, default=365, help="days kept, for the unpartitioned comparison")
    args = parser.parse_args()
    tables = measure(args.data_dir / "warehouse.duckdb")
    print("per table: logical bytes per row (all columns), rows per user on a day")
    for name, t in sorted(tables.items()):
        print(f"  {name:<20} {sum(t['bytes'].values()):7.1f} B  {t['per_user']:6.3f} rows/user/day")
    populations = (10**5, 10**6, 10**7)
    print(f"\nbytes billed per statement of one day's refresh (partitioned; unpartitioned with {args.history} days)")
    header = "".join(f"{f'{u:,} users':>30}" for u in populations)
    print(f"  {'statement':<52}{header}")
    totals = {u: [0.0, 0.0] for u in populations}
    for statement, reads in STATEMENTS.items():
        cells = []
        for users in populations:
            pruned = whole = 0.0
            for table, columns, days in reads:
                t = tables[table]
                width = sum(t["bytes"][c] for c in (columns or t["bytes"]))
                daily = t["per_user"] * users * width
                pruned += max(MINIMUM, daily * (days or 1) if days else t["total_per_user"] * users * width)
                history = args.history if days else 1
                whole += max(MINIMUM, (daily * history) if days else t["total_per_user"] * users * width)
            totals[users][0] += pruned
            totals[users][1] += whole
            cells.append(f"{pruned / 2**30:9.2f} / {whole / 2**30:8.1f} GiB")
        print(f"  {statement:<52}" + "".join(f"{c:>30}" for c in cells))
    print("  " + "-" * (52 + 30 * len(populations)))
    day = [f"{totals[u][0] / 2**30:9.2f} / {totals[u][1] / 2**30:8.1f} GiB" for u in populations]
    print(f"  {'a day':<52}" + "".join(f"{c:>30}" for c in day))
    dollars = [f"${totals[u][0] / 2**40 * PRICE_PER_TIB:8.3f} / ${totals[u][1] / 2**40 * PRICE_PER_TIB:7.2f}"
               for u in populations]  # fmt: skip
    print(f"  {'USD a day at $6.25/TiB (partitioned / not)':<52}" + "".join(f"{d:>30}" for d in dollars))


if __name__ == "__main__":
    sys.exit(main())
