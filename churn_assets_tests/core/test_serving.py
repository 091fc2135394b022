"""The serving core: the snapshot the pipeline publishes, a user's answer, posted rows checked."""

import json

import pandas as pd
import pytest

from churn_assets.core.registry.artifacts import LocalArtifactStore
from churn_assets.core.serving.snapshot import (
    LATEST,
    RowError,
    Snapshot,
    check_rows,
    publish_snapshot,
    read_latest,
    rows_frame,
)


def predictions(day: str, users: list[str], version: str = "m-aaaaaaaaaaaa") -> pd.DataFrame:
    n = len(users)
    return pd.DataFrame(
        {
            "user_id": users,
            "as_of_date": pd.Timestamp(day, tz="UTC"),
            "churn_probability": [0.9 - 0.1 * i for i in range(n)],
            "risk_tier": ["high"] + ["low"] * (n - 1),
            "rank": list(range(1, n + 1)),
            "model_version": version,
            "reason_1": pd.Series(["recency_in_gaps"] + [None] * (n - 1), dtype="string"),
            "reason_2": pd.Series([None] * n, dtype="string"),
            "reason_3": pd.Series([None] * n, dtype="string"),
        }
    )


def test_the_latest_pointer_moves_forward_only_and_names_the_snapshot(tmp_path):
    store = LocalArtifactStore(tmp_path)
    assert read_latest(store) is None
    both = pd.concat([predictions("2026-04-29", ["a", "b"]), predictions("2026-04-30", ["a"])], ignore_index=True)
    assert publish_snapshot(store, both) == "2026-04-30"
    assert read_latest(store) == {
        "day": "2026-04-30",
        "key": "serving/predictions/2026-04-30.parquet",
        "rows": 1,
        "model_versions": ["m-aaaaaaaaaaaa"],
    }
    # a backfill of an older day writes its snapshot but does not move the pointer back
    assert publish_snapshot(store, predictions("2026-04-10", ["c"])) == "2026-04-30"
    assert json.loads(store.read_bytes(LATEST))["day"] == "2026-04-30"
    assert store.exists("serving/predictions/2026-04-10.parquet")


def test_a_users_answer_is_ready_json_with_only_the_reasons_that_exist(tmp_path):
    store = LocalArtifactStore(tmp_path)
    publish_snapshot(store, predictions("2026-04-30", ["a", "b"]))
    snapshot = Snapshot.load(store, read_latest(store))
    assert (snapshot.day, snapshot.rows, sorted(snapshot.by_user)) == ("2026-04-30", 2, ["a", "b"])
    assert json.loads(snapshot.by_user["a"]) == {
        "user_id": "a",
        "as_of_date": "2026-04-30",
        "churn_probability": 0.9,
        "risk_tier": "high",
        "rank": 1,
        "reasons": ["recency_in_gaps"],
        "model_version": "m-aaaaaaaaaaaa",
    }
    assert json.loads(snapshot.by_user["b"])["reasons"] == []


FEATURES = ["sessions_7", "recency_in_gaps", "plan"]


def test_posted_rows_are_checked_row_by_row():
    good = {"sessions_7": 3, "recency_in_gaps": 0.5, "plan": "pro"}
    assert rows_frame([good], FEATURES).to_dict("records") == [good]
    with pytest.raises(RowError) as refused:
        check_rows(
            [
                good,
                {"sessions_7": True, "recency_in_gaps": float("inf"), "plan": "pro", "x": 1},
                "a string",
                {"sessions_7": None, "plan": 7},
            ],
            FEATURES,
        )
    assert refused.value.problems == [
        {
            "row": 1,
            "extra": ["x"],
            "invalid": {"sessions_7": "expected a number, got bool", "recency_in_gaps": "expected a finite number"},
        },
        {"row": 2, "error": "not an object of feature values"},
        {
            "row": 3,
            "missing": ["recency_in_gaps"],
            "invalid": {"sessions_7": "expected a number, got NoneType", "plan": "expected a string, got int"},
        },
    ]
    assert str(refused.value) == "3 row(s) do not match the model's features"
    for rows in ([], [good] * 1001):
        with pytest.raises(RowError, match=f"post between 1 and 1000 rows, got {len(rows)}"):
            check_rows(rows, FEATURES)
