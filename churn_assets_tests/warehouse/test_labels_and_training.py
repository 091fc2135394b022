"""churn_labels' horizon edges, the stratified training extract, and every statement as GoogleSQL and DuckDB."""

from __future__ import annotations

import pytest

from churn_assets.core.intake.vocabulary import Vocabulary
from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.core.warehouse.queries import training_extract_select
from churn_assets.io.warehouse import build_layer
from churn_assets_tests.warehouse.layer import START, day, load, table


def test_labels_horizon_edges_and_only_eligible_users(engine):
    load(
        engine,
        [
            *[(u, 40, "session", 1, 0) for u in ("back30", "back31", "billing", "today_only")],
            ("back30", 70, "session", 1, 0),  # t+30: returned
            ("back31", 71, "session", 1, 0),  # t+31: too late
            ("billing", 45, "payment", 0, 9),  # billing is not activity
            ("gone", 5, "session", 1, 0),  # not eligible on day 40
        ],
    )
    build_layer(engine, day(0), day(71), FeatureSpec(), 30, START)
    labels = table(engine, "churn_labels", "as_of_date = TIMESTAMP '2026-02-10 00:00:00+00'")
    assert dict(zip(labels["user_id"], labels["churned"], strict=True)) == {
        "back30": 0,
        "back31": 1,
        "billing": 1,
        "today_only": 1,
    }
    assert set(labels["horizon_days"]) == {30}
    assert max(table(engine, "churn_labels")["as_of_date"]).date() == day(41)  # the last label-complete day


def test_training_extract_is_a_stratified_deterministic_sample(engine):
    users = [f"u{i:03d}" for i in range(200)]
    events = [(u, 0, "session", 1, 0) for u in users]
    events += [(u, 3, "session", 1, 0) for u in users[:50]]  # 50 return within the horizon on day 0
    load(engine, events)
    build_layer(engine, day(0), day(4), FeatureSpec(), 3, START)
    full = engine.query(training_extract_select(engine.schema, day(0), day(1), FeatureSpec(), 1.0))
    assert len(full) == 400 and full.groupby("as_of_date")["churned"].sum().tolist() == [150, 150]
    half = engine.query(training_extract_select(engine.schema, day(0), day(1), FeatureSpec(), 0.5))
    assert half.groupby(["as_of_date", "churned"]).size().tolist() == [25, 75, 25, 75]
    again = engine.query(training_extract_select(engine.schema, day(0), day(1), FeatureSpec(), 0.5))
    assert sorted(half["user_id"] + half["as_of_date"].astype(str)) == sorted(
        again["user_id"] + again["as_of_date"].astype(str)
    )


@pytest.mark.parametrize("spec", [FeatureSpec(), FeatureSpec((7, 30, 90), 120), FeatureSpec((3,), 5)])
def test_every_statement_is_valid_googlesql_and_translates_for_duckdb(spec):
    """The emulator runs every statement (tests above); this checks the BigQuery text parses as GoogleSQL
    for window sets the engine tests do not run, and that its DuckDB translation parses as DuckDB."""
    import sqlglot

    from churn_assets.core.warehouse import daily, features, labels, queries, sql, state

    statements = [
        daily.user_daily_select("churn", day(0), day(9), Vocabulary.parse("order=purchase,view=ignore")),
        state.user_state_select("churn", day(5), day(9), chain_start=False),
        *features.user_features_selects("churn", [(day(0), day(4)), (day(5), day(9))], spec),
        labels.churn_labels_select("churn", day(0), day(9), 30),
        queries.training_extract_select("churn", day(0), day(9), spec, 0.25),
        queries.feature_summary_select("churn", day(0), day(9), spec),
        *(sql.create_table("churn", t, sql.table_types(t, spec)) for t in sql.PARTITION_COLUMNS),
    ]
    for statement in statements:
        assert sqlglot.parse_one(statement, read="bigquery") is not None
        assert sqlglot.parse_one(sql.for_engine(statement, "duckdb"), read="duckdb") is not None


def test_each_days_preview_is_its_first_five_rows_by_their_key(engine):
    """A day of training_set holds a user on many days: its rows are ranked by (user, day), so the preview is the
    same five rows on every run (ranked by user alone it was any five of the first user's)."""
    import pandas as pd

    from churn_assets.core.warehouse.queries import preview_select

    def ts(d: int) -> pd.Timestamp:
        return pd.Timestamp(day(d), tz="UTC")

    rows = [(w, u, d) for w in (10, 11) for u in ("u2", "u1", "u3") for d in (w - 3, w - 1, w - 2, w)]
    frame = pd.DataFrame(
        {
            "training_window_end": [ts(w) for w, _, _ in rows],
            "user_id": [u for _, u, _ in rows],
            "as_of_date": [ts(d) for _, _, d in rows],
            "churned": [i % 2 for i in range(len(rows))],
        }
    )
    engine.write_table("training_set", frame)
    preview = engine.query(preview_select(engine.schema, "training_set", day(10), day(11)))
    got = [(r.training_window_end.date(), r.user_id, r.as_of_date.date()) for r in preview.itertuples()]
    first = [("u1", d) for d in (7, 8, 9, 10)] + [("u2", 7)]
    second = [("u1", d) for d in (8, 9, 10, 11)] + [("u2", 8)]
    assert got == [(day(10), u, day(d)) for u, d in first] + [(day(11), u, day(d)) for u, d in second]
