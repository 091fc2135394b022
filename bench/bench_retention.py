"""What retention work adds to scoring a day: each user's value, value at risk and control flag, and the day's call
list, for ``--users`` (1,000,000) scored users, beside one DuckDB SQL script doing the same with a plain value.

Variants, each in a fresh child process on the same synthetic day (purchase histories and probabilities):

* ``spend``: the platform's purchase-log path (``core/retention``): BG/NBD x Gamma-Gamma fitted on the day,
  the control group by blake2b of user and month, the call list of 500;
* ``billing``: the platform's subscription path (value = billed amount scaled to the horizon), same control
  group and call list;
* ``sql``: the reference, one DuckDB statement: the billing value, a control group by DuckDB's ``hash()`` of user
  and month (not the platform's rule, the same amount of work), the 500 largest values at risk.

    python bench/bench_retention.py [--users 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import child_json, cpu_seconds, host, peak_rss_mb, report  # noqa: E402

DAY = "2026-04-30"
CALLS = 500


def make_day(path: Path, users: int) -> None:
    """A scored day of purchase histories, as user_features and churn_predictions hold them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    first = rng.integers(30, 400, users)
    days = 1 + rng.poisson(first / 40)
    last = np.where(days == 1, first, np.minimum(first - 1, rng.integers(0, 30, users)))
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i:08d}" for i in range(users)],
            "as_of_date": pd.Timestamp(DAY, tz="UTC"),
            "churn_probability": rng.beta(1, 4, users),
            "lifetime_active_days": days,
            "days_since_first_activity": first,
            "days_since_last_activity": last,
            "lifetime_amount": (days * rng.lognormal(np.log(35), 0.4, users)).round(2),
            "amount_30": rng.choice([0.0, 9.99, 29.99], users),
        }
    )
    frame.to_parquet(path, index=False)


def child(variant: str, path: str) -> None:
    import pandas as pd

    day = pd.read_parquet(path)
    started, cpu = time.perf_counter(), cpu_seconds()
    if variant == "sql":
        import duckdb

        listed = duckdb.sql(
            f"""WITH valued AS (
  SELECT user_id, churn_probability, amount_30 AS customer_value, churn_probability * amount_30 AS value_at_risk,
    hash(user_id || '|' || strftime(as_of_date, '%Y-%m')) % 1000 < 100 AS control
  FROM day)
SELECT *, ROW_NUMBER() OVER (ORDER BY value_at_risk DESC, churn_probability DESC, user_id) AS call_rank
FROM valued WHERE NOT control ORDER BY call_rank LIMIT {CALLS}"""
        ).df()
    else:
        from churn_assets.core.control import in_control
        from churn_assets.core.retention.call_list import call_list
        from churn_assets.core.retention.value import value_columns, with_value

        scored = day[["user_id", "as_of_date", "churn_probability"]].assign(
            risk_tier="low", model_version="m", reason_1=None, reason_2=None, reason_3=None
        )
        inputs = day[["as_of_date", *value_columns(variant, 30)]]
        valued = with_value(scored, inputs, variant, 30, 30)
        valued["control"] = in_control(valued["user_id"], valued["as_of_date"], 0.10)
        listed = call_list(valued, CALLS)
    seconds = time.perf_counter() - started
    assert len(listed) == CALLS
    print(json.dumps({"seconds": seconds, "cpu": cpu_seconds() - cpu, "rss_mb": peak_rss_mb(), "rows": len(day)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(host())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "day.parquet"
        make_day(path, args.users)
        runs: dict[str, list[dict]] = {v: [] for v in ("sql", "billing", "spend")}
        for _ in range(args.repeat):  # alternately, so a busy moment of the shared host hits every variant
            for variant in runs:
                runs[variant].append(child_json([__file__, "_child", variant, str(path)]))
    print(f"value, control group and call list of {args.users:,} scored users, median of {args.repeat}:")
    reference = report("sql", runs["sql"], None, "users")
    report("billing", runs["billing"], reference, "users")
    report("spend", runs["spend"], reference, "users")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
