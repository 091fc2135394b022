"""The HTTP API as other systems use it: the real `churn-assets serve` process on a free loopback port, a real
HTTP client, the data of a real pipeline run; and a drift report link from Dagster's metadata opened in
headless Chromium."""

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import pytest

from churn_assets.core.modeling.candidates import calibrate
from churn_assets.core.modeling.pipelines import candidate_pipelines
from churn_assets.core.modeling.training import TARGET, model_input
from churn_assets.core.registry.artifacts import LocalArtifactStore
from churn_assets.core.registry.model_registry import ModelRegistry
from churn_assets_tests import helpers
from churn_assets_tests.helpers import Server, browser_dom, cli, free_port

DAY = "2026-03-31"


@pytest.fixture(scope="module")
def run_dir(finished_run, tmp_path_factory) -> tuple[Path, int]:
    """A copy of the session's pipeline run, and the port this module's API listens on. (The run's metadata links
    point at another port, which `churn-assets dev` serves in test_dev.py.)"""
    return finished_run.copy(tmp_path_factory.mktemp("serving") / "d"), free_port()


@pytest.fixture(scope="module")
def api(run_dir) -> Iterator[Server]:
    server = Server(*run_dir)
    yield server
    server.stop()


def feature_rows(data: Path, n: int) -> list[dict]:
    return helpers.feature_rows(data, DAY, n)


def test_health_ready_and_a_users_risk(api, run_dir):
    assert httpx.get(f"{api.url}/health").json() == {"status": "ok"}
    registry = ModelRegistry(LocalArtifactStore(run_dir[0] / "artifacts"))
    ready = httpx.get(f"{api.url}/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "model_version": registry.production(),
        "predictions_day": DAY,
        "missing": {},
    }
    snapshot = pd.read_parquet(run_dir[0] / f"artifacts/serving/predictions/{DAY}.parquet")
    top = snapshot.sort_values("rank").iloc[0]
    risk = httpx.get(f"{api.url}/v1/users/{top['user_id']}/risk").json()
    assert risk == {
        "user_id": top["user_id"],
        "as_of_date": DAY,
        "churn_probability": round(float(top["churn_probability"]), 6),
        "risk_tier": top["risk_tier"],
        "rank": 1,
        "reasons": [r for r in (top["reason_1"], top["reason_2"], top["reason_3"]) if isinstance(r, str)],
        "model_version": registry.production(),
        "customer_value": round(float(top["customer_value"]), 4),
        "value_at_risk": round(float(top["value_at_risk"]), 4),
        "control": bool(top["control"]),
    }
    missing = httpx.get(f"{api.url}/v1/users/u9999999/risk")
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("user 'u9999999' has no prediction as of 2026-03-31: unknown, or not")


def test_the_call_list_is_served_as_json_and_as_the_csv_a_crm_imports(api, run_dir):
    exported = pd.read_csv(run_dir[0] / f"artifacts/exports/call_list/{DAY}.csv")
    latest = httpx.get(f"{api.url}/v1/call-list", params={"limit": 5}).json()
    assert (latest["as_of_date"], latest["rows"]) == (DAY, 5)
    assert [u["user_id"] for u in latest["users"]] == exported["user_id"].head(5).tolist()
    assert [u["call_rank"] for u in latest["users"]] == [1, 2, 3, 4, 5]
    first = latest["users"][0]
    assert first["value_at_risk"] == pytest.approx(exported["value_at_risk"].iloc[0], abs=1e-4)
    csv = httpx.get(f"{api.url}/v1/call-list", params={"day": DAY, "format": "csv", "limit": 100_000})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text == (run_dir[0] / f"artifacts/exports/call_list/{DAY}.csv").read_text()
    snapshot = pd.read_parquet(run_dir[0] / f"artifacts/serving/predictions/{DAY}.parquet")
    assert not set(exported["user_id"]) & set(snapshot.loc[snapshot["control"], "user_id"])  # never the control group
    assert httpx.get(f"{api.url}/v1/call-list", params={"day": "2026-01-01"}).status_code == 404
    assert httpx.get(f"{api.url}/v1/call-list", params={"day": "../source"}).status_code == 404
    unjudged = httpx.get(f"{api.url}/reports/outcomes/{DAY}")  # scored, but its horizon has not passed
    assert (unjudged.status_code, unjudged.json()["detail"]) == (
        404,
        f"no outcomes for {DAY}: its labels are not there yet",
    )


def test_ready_says_what_is_missing_before_the_pipeline_ran(tmp_path):
    server = Server(tmp_path / "empty", free_port())
    try:
        ready = httpx.get(f"{server.url}/ready")
        assert ready.status_code == 503
        assert ready.json() == {
            "ready": False,
            "model_version": None,
            "predictions_day": None,
            "missing": {
                "model": (
                    "no production model: no model is registered yet; materialize churn_model, then production_model"
                ),
                "predictions": "no predictions published yet: materialize churn_predictions",
            },
        }
        assert httpx.get(f"{server.url}/v1/users/u0000001/risk").status_code == 503
        assert httpx.post(f"{server.url}/v1/predict", json={"rows": [{}]}).status_code == 503
        assert httpx.get(f"{server.url}/health").status_code == 200
    finally:
        server.stop()


def test_predict_scores_rows_and_names_what_is_wrong_with_a_row(api, run_dir):
    rows = feature_rows(run_dir[0], 3)
    answer = httpx.post(f"{api.url}/v1/predict", json={"rows": rows})
    assert answer.status_code == 200
    body = answer.json()
    assert len(body["predictions"]) == 3 and body["model_version"].startswith("m-")
    for p in body["predictions"]:
        assert 0 <= p["churn_probability"] <= 1 and p["risk_tier"] in {"low", "medium", "high"}
        assert len(p["reasons"]) <= 3
    bad = {k: v for k, v in rows[0].items() if k != "sessions_7"} | {"shoe_size": 42, "plan": 3, "events_7": "x"}
    refused = httpx.post(f"{api.url}/v1/predict", json={"rows": [rows[1], bad]})
    assert refused.status_code == 422
    assert refused.json()["detail"]["problems"] == [
        {
            "row": 1,
            "missing": ["sessions_7"],
            "extra": ["shoe_size"],
            "invalid": {"events_7": "expected a number, got str", "plan": "expected a string, got int"},
        }
    ]
    too_many = httpx.post(f"{api.url}/v1/predict", json={"rows": [rows[0]] * 1001})
    assert too_many.status_code == 422
    assert too_many.json()["detail"]["message"] == "post between 1 and 1000 rows, got 1001"
    assert httpx.post(f"{api.url}/v1/predict", json={"rows": "all"}).status_code == 422


def test_models_cards_reports_metrics_and_openapi(api, run_dir):
    registry = ModelRegistry(LocalArtifactStore(run_dir[0] / "artifacts"))
    version = registry.production()
    models = httpx.get(f"{api.url}/v1/models").json()
    roles = {m["version"]: (m["role"], m["definition"]) for m in models["versions"]}
    assert models["production"] == version and roles[version] == ("model", "inactivity")
    # beside it, at most its fallback: the best baseline, registered as a model of its own
    assert [v for v in roles if v != version] == (
        [registry.card(version).fallback] if registry.card(version).fallback else []
    )
    assert all(role == ("baseline", "inactivity") for v, role in roles.items() if v != version)
    assert httpx.get(f"{api.url}/v1/models/{version}/card").json() == registry.card(version).to_dict()
    assert httpx.get(f"{api.url}/v1/models/m-000000000000/card").status_code == 404
    assert httpx.get(f"{api.url}/v1/models/..%2Fsecrets/card").status_code == 404
    page = httpx.get(f"{api.url}/v1/models/{version}/card.html")
    assert page.headers["content-type"].startswith("text/html") and f"Model card {version}" in page.text
    assert "In production." in page.text
    assert httpx.get(f"{api.url}/v1/models/m-000000000000/card.html").status_code == 404
    # the copy written beside card.json says nothing that changes later (whether it is in production)
    stored = (run_dir[0] / "artifacts" / "models" / version / "card.html").read_text()
    assert f"Model card {version}" in stored and "production" not in stored.lower()
    listing = httpx.get(f"{api.url}/v1/models.html").text
    assert f'Production: <span class="prod">{version}</span>' in listing
    report = httpx.get(f"{api.url}/reports/drift/{DAY}")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert report.content == (run_dir[0] / f"artifacts/reports/drift/{DAY}-{version}.html").read_bytes()
    assert httpx.get(f"{api.url}/reports/drift/2026-03-30").status_code == 404  # no report for that day
    assert httpx.get(f"{api.url}/reports/drift/..%2F..%2Fwarehouse").status_code == 404
    metrics = httpx.get(f"{api.url}/metrics").text
    assert f'churn_api_model_info{{version="{version}"}} 1.0' in metrics
    assert 'churn_api_requests_total{method="GET",route="/v1/users/{user_id}/risk",status="404"}' in metrics
    assert 'churn_api_request_seconds_bucket{le="0.05",route="/reports/drift/{day}"}' in metrics
    paths = httpx.get(f"{api.url}/openapi.json").json()["paths"]
    assert {"/v1/users/{user_id}/risk", "/v1/predict", "/v1/models", "/v1/models/{version}/card"} <= set(paths)


def test_the_api_docs_render_from_installed_files_without_the_internet(tmp_path):
    """FastAPI's own /docs loads Swagger UI from a CDN (a blank page offline); these come with the package."""
    server = Server(tmp_path / "empty", free_port())
    try:
        page = httpx.get(f"{server.url}/docs").text
        assert "cdn.jsdelivr.net" not in page and "/static-offline-docs/swagger-ui-bundle.js" in page
        assert httpx.get(f"{server.url}/static-offline-docs/swagger-ui-bundle.js").status_code == 200
        docs, redoc = browser_dom(f"{server.url}/docs"), browser_dom(f"{server.url}/redoc")
    finally:
        server.stop()
    # Swagger UI has fetched /openapi.json and rendered each route's section, and ReDoc its own
    assert "churn_assets API" in docs and 'class="opblock-summary-path"' in docs
    assert "/v1/users/{user_id}/risk" in docs and "/v1/predict" in docs and "The process is alive" in docs
    assert "/v1/users/{user_id}/risk" in redoc and "The process is alive" in redoc


def test_a_promotion_during_a_stream_of_requests_switches_the_version_without_an_error(run_dir, tmp_path):
    # a registry and an API of its own: the promotion leaves the module's run and server as they were
    shutil.copytree(run_dir[0] / "artifacts", tmp_path / "artifacts")
    registry = ModelRegistry(LocalArtifactStore(tmp_path / "artifacts"))
    old = registry.production()
    card = registry.card(old)
    test = registry.frame(old, "test_set")
    fit, held = test.iloc[::2], test.iloc[1::2]
    other = candidate_pipelines(card.features, rows=len(fit))["gradient_boosting"]().fit(
        model_input(fit, card.features), fit[TARGET]
    )
    model = calibrate(other, model_input(held, card.features), held[TARGET].to_numpy())
    new, created = registry.register(model, replace(card, candidate="gradient_boosting"), {"test_set": test})
    assert created and new != old
    rows = feature_rows(run_dir[0], 2)
    answers, stop = [], threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=api.url) as client:
            while not stop.is_set():
                response = client.post("/v1/predict", json={"rows": rows})
                answers.append((response.status_code, response.json().get("model_version")))

    api = Server(tmp_path, free_port())
    try:
        thread = threading.Thread(target=stream)
        thread.start()
        time.sleep(1.0)
        registry.promote(new, "test: promoted during a stream of requests")
        time.sleep(2.0)
        stop.set()
        thread.join(timeout=30)
        assert httpx.get(f"{api.url}/ready").json()["model_version"] == new
    finally:
        api.stop()
    assert {status for status, _ in answers} == {200}
    versions = [v for _, v in answers]
    switch = versions.index(new)
    assert set(versions[:switch]) == {old} and set(versions[switch:]) == {new}


def test_off_loopback_the_token_is_required_on_every_route_but_health(run_dir, tmp_path):
    refused = cli("serve", "--data-dir", str(run_dir[0]), "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "error: serving on 0.0.0.0 (not loopback) needs CHURN_API_TOKEN: every route but /health then requires "
        "'Authorization: Bearer <token>'"
    )
    server = Server(run_dir[0], free_port(), host="0.0.0.0", CHURN_API_TOKEN="s3cret-token")
    try:
        assert httpx.get(f"{server.url}/health").status_code == 200
        for path in ("/ready", "/v1/models", "/metrics", f"/reports/drift/{DAY}"):
            assert httpx.get(f"{server.url}{path}").status_code == 401, path
            wrong = httpx.get(f"{server.url}{path}", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and "bearer token" in wrong.json()["detail"]
            assert httpx.get(f"{server.url}{path}", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    finally:
        output = server.stop()
    assert "s3cret-token" not in output


def test_the_drift_report_linked_from_dagsters_metadata_renders_in_headless_chromium(api, run_dir, finished_run):
    instance = dg.DagsterInstance.from_config(str(run_dir[0] / "dagster"))
    [record] = instance.fetch_materializations(dg.AssetKey("drift_report"), limit=1).records
    link = record.asset_materialization.metadata["evidently_report"].value
    assert link == f"http://127.0.0.1:{finished_run.port}/reports/drift/{DAY}"  # CHURN_SERVE_URL of the run
    link = link.replace(f":{finished_run.port}/", f":{run_dir[1]}/")  # the same route on this module's API
    page = browser_dom(link)
    # the report's script ran in the browser: its widgets are in the page, which the file alone does not hold
    assert "MuiTypography-root" in page and "MuiTypography-root" not in httpx.get(link).text
    assert "churn_probability" in page and "Dataset Drift" in page


def test_the_gcp_deployment_serves_the_same_from_the_gcs_artifact_store(run_dir, gcs_bucket):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from churn_assets.io.gcs import GCSArtifactStore

    local = run_dir[0] / "artifacts"
    store = GCSArtifactStore(
        storage.Client(project="churn-test", credentials=AnonymousCredentials()), gcs_bucket, "churn"
    )
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.write_bytes(path.relative_to(local).as_posix(), path.read_bytes())
    gcp = {"CHURN_DEPLOYMENT": "gcp", "CHURN_GCP_PROJECT": "churn-test", "CHURN_GCS_BUCKET": gcs_bucket}
    server = Server(tmp := run_dir[0].parent / "gcp-serve", free_port(), **gcp, CHURN_GCS_PREFIX="churn")
    try:
        version = ModelRegistry(LocalArtifactStore(local)).production()
        ready = httpx.get(f"{server.url}/ready").json()
        assert (ready["ready"], ready["model_version"], ready["predictions_day"]) == (True, version, DAY)
        snapshot = pd.read_parquet(local / f"serving/predictions/{DAY}.parquet")
        user = snapshot.sort_values("rank").iloc[0]["user_id"]
        assert httpx.get(f"{server.url}/v1/users/{user}/risk").json()["rank"] == 1
        report = httpx.get(f"{server.url}/reports/drift/{DAY}")
        assert report.content == (local / f"reports/drift/{DAY}-{version}.html").read_bytes()
    finally:
        server.stop()
    assert not (tmp / "artifacts").exists()  # nothing read from, or written to, a local folder
