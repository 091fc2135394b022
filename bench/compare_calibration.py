"""Calibrators side by side on a walk-forward's data: at each as-of date, the candidate the pipeline trains that
day, its calibration refitted on its test window (the newest matured label days, as the serving model's is) by
each method, judged on the date's outcomes by the expected calibration error (docs/models.md has the table).

    python bench/bench_walkforward.py --profile purchase --users 16000 --data-dir /tmp/wf
    python bench/compare_calibration.py --data-dir /tmp/wf/purchase --start 2025-09-01 \\
        --from 2026-01-01 --to 2026-10-01

Methods: ``platt`` (what ships: a logistic curve on the score's logit), ``beta`` (a logistic curve on ln p and
-ln(1-p), Kull et al. 2017), ``isotonic``, ``platt_em`` (Platt, then the scored day's prior re-estimated by EM,
Saerens et al. 2002), ``platt_trend`` (Platt, then shifted so that its mean moves by the label days' linear
base-rate trend over the last 56 days, carried from the test window's middle to the as-of date). The production
model is not carried from date to date here: every date judges its own new candidate.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from measure import cpu_seconds, host, peak_rss_mb  # noqa: E402

LIMIT = 0.025  # the calibration error every date must stay under (issue: models that beat the textbook)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def shifted_to_mean(p: np.ndarray, target: float) -> np.ndarray:
    """``p`` moved on the logit scale by the one shift that makes its mean ``target``."""
    from scipy.optimize import brentq

    lp = logit(p)
    return sigmoid(lp + brentq(lambda s: sigmoid(lp + s).mean() - target, -10, 10))


def em_prior(p: np.ndarray, prior: float) -> np.ndarray:
    """Saerens et al.'s EM: the new prior that the scored rows' adjusted posteriors average to."""
    new = prior
    for _ in range(200):
        w1, w0 = new / prior, (1 - new) / (1 - prior)
        adjusted = w1 * p / (w1 * p + w0 * (1 - p))
        if abs(adjusted.mean() - new) < 1e-7:
            break
        new = float(adjusted.mean())
    return adjusted


def days(values: pd.Series) -> pd.DatetimeIndex:
    stamps = pd.DatetimeIndex(pd.to_datetime(values))
    return stamps.tz_localize(None) if stamps.tz is not None else stamps


def calibrated(raw_test, y_test, raw, test_days, label_days, as_of: date) -> dict[str, np.ndarray]:
    """Each method's probabilities for the scored rows (``raw``: the uncalibrated model's scores)."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    def beta(p):
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.column_stack([np.log(p), -np.log(1 - p)])

    platt = LogisticRegression(C=1e6).fit(logit(raw_test)[:, None], y_test).predict_proba(logit(raw)[:, None])[:, 1]
    out = {"platt": platt}
    out["beta"] = LogisticRegression(C=1e6).fit(beta(raw_test), y_test).predict_proba(beta(raw))[:, 1]
    out["isotonic"] = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw_test, y_test).predict(raw)
    out["platt_em"] = em_prior(platt, float(y_test.mean()))
    middle = test_days.mean()
    recent = label_days[label_days.index > label_days.index.max() - pd.Timedelta(days=56)]
    slope = np.polyfit((recent.index - middle).days.to_numpy(float), recent.to_numpy(), 1)[0]
    out["platt_trend"] = shifted_to_mean(platt, platt.mean() + slope * (pd.Timestamp(as_of) - middle).days)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="the data's first day")
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    parser.add_argument("--every", default="1M")
    args = parser.parse_args()

    from churn_assets.cli.evaluation import walk_forward_inputs
    from churn_assets.core.modeling.scoring import chance_calibration_error, expected_calibration_error
    from churn_assets.core.modeling.trainer import train_model
    from churn_assets.core.modeling.training import TARGET, model_input
    from churn_assets.core.modeling.walkforward import as_of_dates
    from churn_assets.settings import Settings

    print(host())
    plan, read = walk_forward_inputs(Settings(data_dir=args.data_dir, start_date=args.start))
    started, cpu, rows = time.perf_counter(), cpu_seconds(), []
    for as_of in as_of_dates(args.first, args.last, args.every):
        first, last = plan.label_window(as_of)
        prefixes = plan.rank_types(first, last)
        trained = train_model(read(first, last, prefixes), last, plan.spec, policy=plan, horizon=plan.horizon,
                              type_features=prefixes)  # fmt: skip
        model, features = trained.result.fitted[trained.result.best], trained.card.features
        scored = read(as_of, as_of, prefixes)
        y = scored[TARGET].to_numpy()
        window = pd.concat([trained.train, trained.test])
        label_days = window.groupby(days(window["as_of_date"]))[TARGET].mean()
        methods = calibrated(
            model.predict_proba(model_input(trained.test, features))[:, 1],
            trained.test[TARGET].to_numpy(),
            model.predict_proba(model_input(scored, features))[:, 1],
            days(trained.test["as_of_date"]),
            label_days,
            as_of,
        )
        row = {"as_of": as_of.isoformat(), "users": len(y), "churned": round(float(y.mean()), 4),
               "test_window": round(float(trained.test[TARGET].mean()), 4),
               "by_chance": round(chance_calibration_error(methods["platt"]), 4)}  # fmt: skip
        row |= {name: round(expected_calibration_error(y, p), 4) for name, p in methods.items()}
        rows.append(row)
        print(f"  {row}", flush=True)
    table = pd.DataFrame(rows)
    names = ["platt", "beta", "isotonic", "platt_em", "platt_trend"]
    print(table.to_markdown(index=False))
    summary = pd.DataFrame({"mean": table[names].mean(), "largest": table[names].max(),
                            f"dates above {LIMIT}": (table[names] > LIMIT).sum()}).round(4)  # fmt: skip
    print(summary.to_markdown())
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    print(f"wall {wall:.1f} s  cpu {used:.1f} s  {int(table['users'].sum()):,} scored users  "
          f"{table['users'].sum() / wall:,.0f} users/s  peak RSS {peak_rss_mb():.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
