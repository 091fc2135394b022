"""Model layer figures: the default demo end to end, honest test metrics next to the simulator's oracle,
training time, and scoring throughput for 1,000,000 users.

    python bench/bench_model.py [--rows 1000000] [--demo-runs 3] [--data-dir DIR]
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def demo(data_dir: Path, runs: int) -> None:
    """The default `churn-assets run`, as a user starts it, on an empty data directory each time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "DAGSTER_HOME"))}
    results = []
    for i in range(runs):
        target = data_dir if i == runs - 1 else data_dir.with_name(f"{data_dir.name}-{i}")
        started = time.perf_counter()
        out = subprocess.run(
            ["churn-assets", "run", "--data-dir", str(target)], env=env, capture_output=True, text=True, check=True
        ).stdout
        wall = time.perf_counter() - started
        results.append((wall, re.findall(r"\[\d/\d\] (.*?) \.\.\.\n\s+done in ([\d.]+)s", out)))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    walls = sorted(wall for wall, _ in results)
    wall, stages = sorted(results)[len(results) // 2]
    print(
        f"default demo (2,000 users, 120 days), {runs} run(s): median {wall:.1f}s wall "
        f"(min {walls[0]:.1f}s, max {walls[-1]:.1f}s), peak RSS {peak:,.0f} MB; stages of the median run:"
    )
    for name, seconds in stages:
        print(f"  {name:<52} {seconds:>6}s")


def honest_numbers(data_dir: Path) -> None:
    from churn_assets.core.registry.artifacts import LocalArtifactStore
    from churn_assets.core.registry.model_registry import ModelRegistry
    from churn_assets.core.simulation.simulate import true_churn_probability
    from churn_assets.settings import Settings

    registry = ModelRegistry(LocalArtifactStore(data_dir / "artifacts"))
    version = registry.production()
    card = registry.card(version)
    test = registry.frame(version, "test_set")
    oracle = pd.concat(
        true_churn_probability(Settings().simulation(), day.date(), card.label_horizon_days).assign(as_of_date=day)
        for day in pd.to_datetime(sorted(test["as_of_date"].unique()), utc=True)
    )
    scored = test.merge(oracle, on=["user_id", "as_of_date"], how="left")
    assert scored["churn_probability"].notna().all()
    y = scored["churned"].to_numpy()
    w = card.windows
    print(
        f"test window {w['test_first']}..{w['test_last']} ({len(test):,} user-days, {y.mean():.1%} churned), "
        f"trained on {w['train_first']}..{w['train_last']} ({card.training_rows:,} rows), gap {w['gap_days']} days"
    )
    print(f"  {'':<28}{'ROC-AUC':>9}{'PR-AUC':>9}")
    for name, m in card.candidates.items():
        mark = " (production)" if name == card.candidate else ""
        print(f"  {name + mark:<28}{m['roc_auc']:>9.4f}{m['pr_auc']:>9.4f}")
    print(
        f"  {'oracle (simulator truth)':<28}{roc_auc_score(y, scored['churn_probability']):>9.4f}"
        f"{average_precision_score(y, scored['churn_probability']):>9.4f}"
    )
    recent = scored["days_since_last_activity"] < 7
    model = registry.load(version)
    from churn_assets.core.modeling.candidates import predict_proba

    p = predict_proba(model, scored.loc[recent], card.features)
    print(
        f"  users active in the last 7 days only ({recent.mean():.0%} of rows, {y[recent].mean():.1%} churned): "
        f"model PR-AUC {average_precision_score(y[recent], p):.4f}, "
        f"oracle {average_precision_score(y[recent], scored.loc[recent, 'churn_probability']):.4f}"
    )


def training(data_dir: Path, repeats: int = 5) -> None:
    """The churn_model asset's training on the demo's training set: the four candidates fitted and judged."""
    import duckdb

    from churn_assets.core.modeling.candidates import train_candidates
    from churn_assets.core.modeling.training import split_frame, time_split
    from churn_assets.settings import Settings

    defaults = Settings()  # the demo runs on the defaults
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        frame = conn.execute("select * from churn.training_set").df()
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"], utc=True)
    frame = frame.sort_values(["as_of_date", "user_id"]).reset_index(drop=True)
    days = frame["as_of_date"].dt.date
    split = time_split(days.min(), days.max(), test_days=defaults.test_days, horizon_days=defaults.label_horizon_days)
    train, test = split_frame(frame, split)
    runs = []
    for _ in range(repeats):  # the same rows, again: the time must not depend on the run
        started, cpu = time.perf_counter(), time.process_time()
        result = train_candidates(train, test, list(defaults.feature_spec.model_features))
        runs.append((time.perf_counter() - started, time.process_time() - cpu))
    walls = sorted(w for w, _ in runs)
    fits = ", ".join(f"{name} {s:.2f}s" for name, s in result.fit_seconds.items())
    print(
        f"training {len(result.metrics)} candidates on {len(train):,} rows, judged on {len(test):,}, {repeats} times: "
        f"median {walls[len(walls) // 2]:.2f}s wall (min {walls[0]:.2f}s, max {walls[-1]:.2f}s), "
        f"CPU median {sorted(c for _, c in runs)[len(runs) // 2]:.2f}s"
    )
    print(f"  fits of the last run: {fits}")


def scoring(data_dir: Path, rows: int) -> None:
    import duckdb

    from churn_assets.core.modeling.scoring import rank_predictions, score_users
    from churn_assets.core.modeling.training import model_input, with_features
    from churn_assets.core.registry.artifacts import LocalArtifactStore
    from churn_assets.core.registry.model_registry import ModelRegistry

    registry = ModelRegistry(LocalArtifactStore(data_dir / "artifacts"))
    version = registry.production()
    card = registry.card(version)
    model = registry.load(version)
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        pool = conn.execute("select * from churn.user_features").df()  # eligible users only
    rng = np.random.default_rng(0)
    features = pool.iloc[rng.integers(0, len(pool), rows)].reset_index(drop=True)
    features["user_id"] = [f"b{i:08d}" for i in range(rows)]
    features = with_features(features, card.features)  # per-type columns as 0: the same work, not the same values
    started = time.perf_counter()
    X = model_input(features, card.features)
    prepared = time.perf_counter() - started
    calls = []
    for _ in range(4):  # the first call pays for allocating the arrays; report the median of the rest
        started = time.perf_counter()
        model.predict_proba(X)
        calls.append(time.perf_counter() - started)
    cold, call = calls[0], float(np.median(calls[1:]))
    started = time.perf_counter()
    rank_predictions(score_users(model, features, version, card, high=0.8, medium=0.5))
    whole = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scoring {rows:,} users with {version} ({card.candidate}):")
    print(f"  input preparation (model_input)     {prepared:6.2f}s  {rows / prepared:>12,.0f} rows/s")
    print(f"  model call (pipeline predict_proba) {call:6.2f}s  {rows / call:>12,.0f} rows/s (first call {cold:.2f}s)")
    print(f"  whole scoring (+ tiers, ranks, reason codes) {whole:6.2f}s  {rows / whole:>12,.0f} rows/s")
    print(f"  peak RSS {peak:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", help="reuse a data directory that already holds the demo")
    parser.add_argument("--demo-runs", type=int, default=3, help="times to run the demo from scratch")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, {date.today()}")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(args.data_dir) if args.data_dir else Path(tmp) / "churn"
        if not args.data_dir:
            demo(data_dir, args.demo_runs)
        honest_numbers(data_dir)
        training(data_dir)
        scoring(data_dir, args.rows)


if __name__ == "__main__":
    sys.exit(main())
