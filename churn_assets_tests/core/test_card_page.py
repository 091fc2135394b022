"""The model card and the registry as pages (core/registry/card_page.py), rendered from crafted cards."""

from churn_assets.core.registry.card import BASELINE_ROLE, ModelCard
from churn_assets.core.registry.card_page import card_page, registry_page


def crafted(**changes) -> ModelCard:
    card = ModelCard(
        candidate="gradient_boosting",
        features=["events_7", "minutes_30", "<script>alert(1)</script>"],
        metrics={"roc_auc": 0.91234, "pr_auc": 0.5, "brier": 0.1},
        baselines={"recency": {"roc_auc": 0.8, "pr_auc": 0.3}, "bg_nbd": {"roc_auc": 0.85, "pr_auc": 0.35}},
        calibration={
            "ece": 0.02,
            "churn_rate": 0.2,
            "mean_probability": 0.21,
            "method": "Platt scaling",
            "tiers_ordered": True,
            "tiers": {
                "low": {"rows": 80, "mean_probability": 0.1, "churn_rate": 0.08},
                "medium": {"rows": 15, "mean_probability": 0.6, "churn_rate": 0.55},
                "high": {"rows": 5, "mean_probability": 0.9, "churn_rate": 1.0},
            },
        },  # fmt: skip
        feature_importance={"events_7": 0.3, "minutes_30": 0.1, "<script>alert(1)</script>": 0.05, "unused": 0.0},
        windows={
            "train_first": "2026-01-01",
            "train_last": "2026-02-15",
            "test_first": "2026-03-18",
            "test_last": "2026-03-31",
            "gap_days": 30,
        },  # fmt: skip
        training_rows=1000,
        test_rows=100,
        label_horizon_days=30,
        eligibility_days=30,
        version="m-0123456789ab",
        created="2026-04-01T00:00:00+00:00",
        sha256="ab" * 32,
    )
    for name, value in changes.items():
        setattr(card, name, value)
    return card


def test_a_card_page_has_every_section_and_escapes_what_the_card_holds():
    page = card_page(crafted(), production=True)
    for section in ("What churn means", "Training window and sample", "Test figures beside the baselines",
                    "Calibration", "Candidates", "Most important features"):  # fmt: skip
        assert f">{section}" in page, section
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "no active day in t+1 … t+30" in page and "In production." in page
    assert "<td>roc_auc</td><td>0.9123</td><td>0.8000</td><td>0.8500</td>" in page.replace("\n", "")
    # the tiers drawn as bars: 0.9 predicted in the high tier is 144 of the plot's 160 pixels
    assert 'height="144.0"' in page and 'height="160.0"' in page  # observed 1.0
    assert "unused" not in page  # a feature of zero importance is not among the most important


def test_the_stored_copy_says_nothing_that_changes_and_a_baseline_is_marked_as_one():
    stored = card_page(crafted(role=BASELINE_ROLE, feature_importance=None), production=None)
    assert "production" not in stored.lower() and "All versions" not in stored
    assert "(baseline)" in stored and "reads no feature importance" in stored
    cancellation = card_page(crafted(definition="cancellation", renewal_grace_days=7), production=False)
    assert "subscription lapses on one of t+1 … t+30 (a renewal within 7 days continues it)" in cancellation
    assert "Not in production." in cancellation


def test_the_registry_page_marks_production_and_lists_what_it_could_not_read():
    older, newer = crafted(), crafted(version="m-ba9876543210", role=BASELINE_ROLE)
    page = registry_page([newer, older], "m-0123456789ab", ["models/m-x/card.json is corrupt"])
    rows = [row for row in page.split("<tr>") if 'href="models/' in row]
    assert [row.split('href="models/')[1][:14] for row in rows] == ["m-ba9876543210", "m-0123456789ab"]
    assert ">production</span>" in rows[1] and ">production</span>" not in rows[0] and "(baseline)" in rows[0]
    assert "Not listed: models/m-x/card.json is corrupt" in page
    assert "No version is in production" in registry_page([], None, [])
