"""``churn-assets evaluate``: a walk-forward through the real command, its table and plot."""

import pandas as pd

from churn_assets_tests.helpers import cli


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
    png = (data / "artifacts/reports/evaluate/walk_forward_2026-04-10_2026-05-10_1M.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Mean ROC-AUC: model " in text and "Plot:  file://" in text


def test_as_of_dates_whose_outcomes_are_not_in_the_data_are_refused_before_any_stage(tmp_path):
    args = ["--data-dir", str(tmp_path / "d"), "--users", "100", "--days", "90"]
    out = cli("evaluate", *args, "--from", "2026-02-01", "--to", "2026-03-15", "--every", "2W")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: the as-of date 2026-03-15 is judged on the 30 days after it, through 2026-04-14; the data ends "
        "2026-03-31 (--start 2026-01-01, --days 90)"
    )
    assert "[1/" not in out.stdout
    bad = cli("evaluate", *args, "--from", "2026-02-01", "--to", "2026-02-15", "--every", "monthly")
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "error: --every must be a count and a unit D, W or M (e.g. 1M, 2W, 14D), got 'monthly'",
    )
