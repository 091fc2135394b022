"""Features per source event type, on hand-made events with exact counts, on both engines."""

from __future__ import annotations

from churn_assets.core.intake.vocabulary import Vocabulary
from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.core.warehouse.types import (
    type_feature_names,
    type_pivot_select,
    type_prefixes,
    type_ranking_select,
)
from churn_assets.io.warehouse import build_layer
from churn_assets_tests.warehouse.layer import START, day, load, table

SPEC = FeatureSpec(windows=(7, 30))
VOCABULARY = Vocabulary.parse("post=feature_use,like=feature_use,unfriend=feature_use,Ad View=session,ping=ignore")


def build(engine) -> None:
    load(
        engine,
        [
            # on day 40: short window days 34..40, the one before it 27..33, long window 11..40
            ("ann", 40, "post", 0, 0),
            ("ann", 38, "post", 0, 0),
            ("ann", 30, "post", 0, 0),  # the short window before: the trend is 2 - 1
            ("ann", 15, "post", 0, 0),  # long window only
            ("ann", 5, "post", 0, 0),  # outside every window
            ("ann", 39, "unfriend", 0, 0),
            ("ann", 39, "unfriend", 0, 0),
            ("ann", 36, "Ad View", 3, 0),
            ("ann", 37, "ping", 0, 0),  # ignored: counts nowhere
            ("bob", 20, "like", 0, 0),  # like only before the short window: trend 0 - 0
            ("bob", 40, "post", 0, 0),
        ],
    )
    build_layer(engine, day(0), day(40), SPEC, 30, START, VOCABULARY, type_features=True)


def test_counts_per_source_type_over_both_windows(engine):
    build(engine)
    rows = table(engine, "user_type_features", "as_of_date = TIMESTAMP '2026-02-10 00:00:00+00'")
    got = {(r.user_id, r.event_type): (r.short_events, r.long_events, r.trend_events) for r in rows.itertuples()}
    assert got == {
        ("ann", "post"): (2, 4, 1),
        ("ann", "unfriend"): (2, 2, 2),
        ("ann", "Ad View"): (1, 1, 1),
        ("bob", "like"): (0, 1, 0),
        ("bob", "post"): (1, 1, 1),
    }
    ranking = engine.query(type_ranking_select(engine.schema, day(40), day(40)))
    assert ranking["event_type"].tolist() == ["post", "unfriend", "Ad View", "like"]


def test_pivot_takes_the_model_s_types_and_ignores_the_rest(engine):
    build(engine)
    prefixes = type_prefixes(["post", "Ad View", "never_seen"])  # the set a model was trained with
    assert prefixes["post"] == "type_post" and prefixes["Ad View"].startswith("type_ad_view_")
    keys = f"SELECT user_id, as_of_date FROM {engine.schema}.user_features WHERE as_of_date = TIMESTAMP '2026-02-10'"
    pivot = engine.query(type_pivot_select(engine.schema, keys, prefixes, SPEC)).set_index("user_id")
    ad = prefixes["Ad View"]
    assert list(pivot.columns[1:]) == type_feature_names(prefixes, SPEC)
    assert pivot.loc["ann", ["type_post_7", "type_post_30", "type_post_trend_7", f"{ad}_7"]].tolist() == [2, 4, 1, 1]
    # unfriend is not one of the model's types: no column; never_seen is, and is 0 for everyone
    assert not any("unfriend" in c for c in pivot.columns)
    assert pivot.loc["bob", ["type_post_7", "type_never_seen_30", f"{ad}_30"]].tolist() == [1, 0, 0]


def test_scoring_reads_the_types_of_the_model_s_card(engine):
    from churn_assets.core.warehouse.queries import scored_day_select

    build(engine)
    card_types = type_prefixes(["unfriend", "never_seen"])  # what a model was trained on, from its card
    rows = engine.query(scored_day_select(engine.schema, day(40), day(40), card_types, SPEC)).set_index("user_id")
    assert set(type_feature_names(card_types, SPEC)) <= set(rows.columns)
    assert not any(c.startswith("type_post") for c in rows.columns)  # a type the model never saw: not read
    assert rows.loc["ann", ["type_unfriend_7", "type_unfriend_30", "type_never_seen_7"]].tolist() == [2, 2, 0]
    assert rows.loc["bob", "type_unfriend_30"] == 0 and rows.loc["bob", "events_30"] == 2
    untyped = engine.query(scored_day_select(engine.schema, day(40), day(40), {}, SPEC))  # an older card: no types
    assert sorted(untyped["user_id"]) == sorted(rows.index) and not any(c.startswith("type_") for c in untyped)
