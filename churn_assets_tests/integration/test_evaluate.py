"""``churn-assets evaluate``: a walk-forward through the real command, its table and plot."""

import subprocess
import sys

import pandas as pd

from churn_assets_tests.helpers import ROOT, clean_env, cli


def test_a_walk_forward_writes_a_table_and_a_plot_per_as_of_date(tmp_path):
    data = tmp_path / "d"
    args = ["--data-dir", str(data), "--users", "700", "--days", "160"]
    out = cli("evaluate", *args, "--from", "2026-04-10", "--to", "2026-05-10", "--every", "1M")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "[3/3] churn labels 2026-01-01..2026-05-10" in text and "training set" not in text  # data stages only
    assert "Walk-forward: 2 as-of date(s) 2026-04-10..2026-05-10 every 1M" in text
    table = pd.read_csv(data / "artifacts/reports/evaluate/walk_forward_2026-04-10_2026-05-10_1M.csv")
    assert table["as_of"].tolist() == ["2026-04-10", "2026-05-10"]
    # as of 2026-04-10 the labels known end 2026-03-11: test 02-26..03-11, then the 30-day gap
    assert table["trained_on"].tolist() == ["2026-01-01..2026-01-26", "2026-01-11..2026-02-25"]  # 90 label days
    scored = table[table["scored_by"] != "none"]
    assert len(scored) >= 1 and (scored["population"] > 100).all()
    assert ((scored["model_roc_auc"] > 0.5) & (scored["recency_roc_auc"] > 0.5)).all()
    assert (scored["calibration_error"].between(0, 0.2) & (scored["model_lift"] > 1)).all()
    assert "| mean of " in text and "calibration error mean " in text
    # a perfect model's error on the same users: on average, and what it exceeds on one date in twenty
    assert (scored["calibration_error_by_chance"] < scored["calibration_error_chance_p95"]).all()
    assert "above what a perfectly calibrated model shows on 19 dates in 20 on " in text
    png = (data / "artifacts/reports/evaluate/walk_forward_2026-04-10_2026-05-10_1M.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Mean ROC-AUC: model " in text and "Plot:  file://" in text

    # the calibrators compared on the same data (bench/compare_calibration.py, the table in docs/models.md)
    command = [sys.executable, str(ROOT / "bench" / "compare_calibration.py"), "--data-dir", str(data)]
    command += ["--start", "2026-01-01", "--from", "2026-04-10", "--to", "2026-04-10"]
    compared = subprocess.run(command, capture_output=True, text=True, env=clean_env(), timeout=300)
    assert compared.returncode == 0, compared.stderr[-3000:]
    lines = compared.stdout.splitlines()
    [row] = [line.split("|")[1:-1] for line in lines if line.startswith("| 2026-04-10 |")]
    assert int(row[1]) == table["population"].iloc[0]  # the same eligible users the walk-forward scored
    assert all(0 <= float(value) < 0.5 for value in row[4:])  # by chance, then the five methods' errors
    names = ["platt", "beta", "isotonic", "platt_em", "platt_trend"]
    summary = [line.split("|")[1].strip() for line in lines if line.startswith("| ")]
    assert [name for name in summary if name in names] == names  # the summary: one row per method, in order
