"""Events from GCS files (gs://, one file or a {date} template) and from a BigQuery table or query."""

import uuid

import pandas as pd
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from churn_assets.core.intake.schema import SourceFileError
from churn_assets.core.intake.sources import read_events
from churn_assets.defs.jobs import DATA_ASSETS as DATA
from churn_assets.io.bigquery_engine import BigQueryEngine
from churn_assets.io.objects import GCSFiles
from churn_assets_tests.conftest import Warehouse
from churn_assets_tests.helpers import embedded_instance

USERS = ["raw_users", "raw_users_quarantine"]
SUBSCRIBERS = [*USERS, "raw_subscriptions", "raw_subscriptions_quarantine"]
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]


def day_rows(day: str, n: int) -> list[str]:
    return [f"c{i % 7},{day}T{i % 24:02d}:15:00Z,order,{10 + i}.50" for i in range(n)]


@pytest.fixture
def bucket(gcs_bucket) -> storage.Bucket:
    return storage.Client(project="churn-test", credentials=AnonymousCredentials()).bucket(gcs_bucket)


def test_a_per_day_template_in_gcs_feeds_the_pipeline(bucket, tmp_path):
    header = "user_id,event_time,event_type,amount\n"
    for i, day in enumerate(DAYS):
        bucket.blob(f"exports/orders-{day}.csv").upload_from_string(header + "\n".join(day_rows(day, 10 + i)))
    template = f"gs://{bucket.name}/exports/orders-{{date}}.csv"
    subscriptions = f"gs://{bucket.name}/exports/subscriptions.csv"
    bucket.blob("exports/subscriptions.csv").upload_from_string(
        "user_id,start_time,end_time,mrr\nc1,2026-01-01T00:00:00Z,,5\nc8,2025-12-20T00:00:00Z,2026-01-19T00:00:00Z,5\n"
    )
    with embedded_instance() as instance:
        wh = Warehouse(
            tmp_path / "d", instance, events_file=template, event_types="order=purchase", days=3,
            subscriptions_file=subscriptions,
        )  # fmt: skip
        wh.materialize(SUBSCRIBERS)
        # c8 pays and never orders: a user all the same, from the day the subscription started
        assert sorted(wh.table("raw_users")["user_id"]) == [*(f"c{i}" for i in range(7)), "c8"]
        assert sorted(wh.table("raw_subscriptions")["user_id"]) == ["c1", "c8"]
        assert wh.materialize(DATA, DAYS[0], DAYS[-1]).success
        events = wh.table("raw_events")
        assert events.groupby(events["event_time"].dt.date.astype(str)).size().to_dict() == dict(
            zip(DAYS, [10, 11, 12], strict=True)
        )
        assert round(events["amount"].sum(), 2) == round(sum(10.5 + i for n in (10, 11, 12) for i in range(n)), 2)
        assert set(wh.table("user_daily")["purchases"]) >= {1, 2}
    with pytest.raises(SourceFileError, match=rf"gs://{bucket.name}/exports/orders-2026-01-04.csv: no events file"):
        read_events(template, pd.Timestamp("2026-01-04").date(), GCSFiles())


def test_a_single_gcs_file_is_split_by_day_and_reread_when_it_changes(bucket):
    uri = f"gs://{bucket.name}/orders.csv"
    header = "user_id,event_time,amount\n"
    bucket.blob("orders.csv").upload_from_string(
        header + "\n".join(r.replace(",order", "") for r in day_rows(DAYS[0], 3))
    )
    first = read_events(uri, pd.Timestamp(DAYS[0]).date(), GCSFiles())
    assert first[["event_id", "event_type"]].values.tolist() == [[f"orders.csv:{i}", "purchase"] for i in (2, 3, 4)]
    bucket.blob("orders.csv").upload_from_string(header + "c1,2026-01-01T05:00:00Z,3\n")  # a new generation
    assert read_events(uri, pd.Timestamp(DAYS[0]).date(), GCSFiles())["amount"].tolist() == ["3"]


def test_a_bigquery_query_is_the_events_source_read_day_by_day(gcp_settings, tmp_path):
    source = BigQueryEngine("churn-test", f"src_{uuid.uuid4().hex[:8]}", None)
    rows = [line.split(",") for day in DAYS for line in day_rows(day, 5)]
    frame = pd.DataFrame(rows, columns=["customer", "ts", "kind", "total"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[us, UTC]")
    frame["total"] = frame["total"].astype(float)
    source.write_table("orders", frame)
    periods = pd.DataFrame(
        {
            "customer": ["c1", "c2", "c2"],
            "started": pd.to_datetime(["2026-01-01", "2025-12-15", "2026-01-02"], utc=True),
            "ended": pd.to_datetime(["2026-01-31", "2026-01-14", None], utc=True),
        }
    ).astype({"started": "datetime64[us, UTC]", "ended": "datetime64[us, UTC]"})
    source.write_table("billing", periods)
    periods_query = (
        "SELECT customer AS user_id, started AS start_time, ended AS end_time "
        f"FROM `churn-test.{source.schema}.billing`"
    )
    query = (
        "SELECT customer AS user_id, ts AS event_time, kind AS event_type, total AS amount "
        f"FROM `churn-test.{source.schema}.orders`"
    )
    with embedded_instance() as instance:
        settings = gcp_settings | {"events_query": query, "event_types": "order=purchase", "days": 3}
        # one of three periods is bad: above the default share of 5%, so this source tolerates a third
        wh = Warehouse(tmp_path / "d", instance, subscriptions_query=periods_query, max_reject_share=0.5, **settings)
        wh.materialize(SUBSCRIBERS)
        assert sorted(wh.table("raw_users")["user_id"]) == [f"c{i}" for i in range(5)]
        assert wh.materialize(DATA, DAYS[0], DAYS[-1]).success
        events = wh.table("raw_events").sort_values("event_id")
        assert len(events) == 15 and events["event_id"].is_unique
        assert events["event_id"].iloc[0] == "c0@2026-01-01T00:15:00.000000#0"
        assert wh.table("user_daily")["amount"].sum() == pytest.approx(frame["total"].sum())
        # the periods came from their own query; the second of c2's overlaps the first and is quarantined
        assert sorted(wh.table("raw_subscriptions")["user_id"]) == ["c1", "c2"]
        assert wh.table("raw_subscriptions_quarantine")["reason"].tolist() == ["overlapping_period"]
        state = wh.table("subscription_state")
        assert state[state["as_of_date"].dt.date.astype(str) == DAYS[-1]].set_index("user_id")["covered"].to_dict() == {
            "c1": True, "c2": True,
        }  # fmt: skip
