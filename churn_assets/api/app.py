"""``churn-assets serve``: the HTTP API over the production model and the latest predictions (FastAPI on uvicorn):
its routes (the bearer token, the body-size limit and the request metrics are ``api/guard.py``'s).

What it serves comes from the artifact store only (local folder or GCS): the registry's production model,
verified as every load is, and the predictions snapshot the pipeline publishes (``core/serving/snapshot.py``), both
kept fresh by ``api/served.py``, where posted rows are also scored in batches.
"""

from __future__ import annotations

import io
import re
import threading
from typing import Any

import orjson
import pandas as pd
from fastapi import Body, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from churn_assets.api.guard import Guard, Metrics
from churn_assets.api.served import Batcher, Served, State
from churn_assets.core.registry.artifacts import ArtifactNotFound, ArtifactStore
from churn_assets.core.registry.card_page import card_page, registry_page
from churn_assets.core.registry.model_registry import RegistryError, normalize_version
from churn_assets.core.retention.call_list import call_list_key
from churn_assets.core.serving.snapshot import MAX_BATCH_ROWS, RowError, check_rows

API_VERSION = "v1"
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def create_app(
    store: ArtifactStore,
    risk: tuple[float, float],
    token: str | None,
    refresh_seconds: float,
    *,
    max_body_bytes: int = 4_000_000,
) -> FastAPI:
    state, metrics = State(store, risk), Metrics()
    state.refresh()
    stop = threading.Event()
    batcher = Batcher(state)

    async def lifespan(app):
        watcher = threading.Thread(target=state.watch, args=(refresh_seconds, stop), daemon=True, name="watch")
        watcher.start()
        yield
        stop.set()

    # FastAPI's /docs and /redoc load their scripts from a CDN: blank pages on a machine without internet.
    # fastapi-offline serves the same Swagger UI and ReDoc from files installed with it (/static-offline-docs).
    app = FastAPIOffline(
        title="churn_assets API",
        version=API_VERSION,
        description=(
            "A user's churn risk from the latest published predictions, scoring of posted feature rows with the "
            "production model, the model registry and drift reports. Every route but /health needs "
            "`Authorization: Bearer <CHURN_API_TOKEN>` when a token is set."
        ),
        lifespan=lifespan,
    )
    app.state.churn = state

    def model_or_503() -> Served:
        if state.served is None:
            raise HTTPException(503, state.problems.get("model", "no production model loaded"))
        return state.served

    @app.get("/health", summary="The process is alive")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", summary="The production model is loaded and verified, and predictions are readable")
    def ready() -> JSONResponse:
        body = {
            "ready": not state.problems and state.served is not None and state.snapshot is not None,
            "model_version": state.served.version if state.served else None,
            "predictions_day": state.snapshot.day if state.snapshot else None,
            "missing": dict(state.problems),
        }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get(f"/{API_VERSION}/users/{{user_id}}/risk", summary="The latest prediction of one user")
    async def user_risk(user_id: str) -> Response:
        snapshot = state.snapshot
        if snapshot is None:
            raise HTTPException(503, state.problems.get("predictions", "no predictions loaded"))
        answer = snapshot.by_user.get(user_id)
        if answer is None:
            raise HTTPException(
                404,
                f"user {user_id!r} has no prediction as of {snapshot.day}: unknown, or not eligible (no activity "
                "within the eligibility window), so not scored",
            )
        return Response(answer, media_type="application/json")

    @app.post(f"/{API_VERSION}/predict", summary=f"Score posted feature rows (1 to {MAX_BATCH_ROWS})")
    async def predict(rows: list[Any] = Body(..., embed=True)) -> Response:  # noqa: B008 (FastAPI's idiom)
        served = model_or_503()
        try:
            check_rows(rows, served.card.features)
        except RowError as exc:
            raise HTTPException(422, {"message": str(exc), "problems": exc.problems}) from None
        version, answers = await batcher.score(rows)
        return Response(orjson.dumps({"model_version": version, "predictions": answers}), media_type="application/json")

    @app.get(f"/{API_VERSION}/models", summary="Registered model versions, their test metrics, production")
    def models() -> dict:
        cards = state.registry.versions()
        return {
            "production": state.registry.production(),
            "versions": [
                {
                    "version": c.version,
                    "created": c.created,
                    "candidate": c.candidate,
                    "role": c.role or "model",  # "baseline": the best baseline, registered as the fallback
                    "definition": c.definition or "inactivity",
                    "windows": c.windows,
                    "metrics": {m: c.metrics.get(m) for m in ("roc_auc", "pr_auc")},
                }
                for c in cards
            ],
        }

    @app.get(f"/{API_VERSION}/models.html", response_class=HTMLResponse, summary="The registry as a page")
    def models_page() -> HTMLResponse:
        cards = state.registry.versions()
        return HTMLResponse(registry_page(cards, state.registry.production(), state.registry.unreadable))

    @app.get(
        f"/{API_VERSION}/models/{{version}}/card.html", response_class=HTMLResponse, summary="A model card as a page"
    )
    def card_html(version: str) -> HTMLResponse:
        try:
            card = state.registry.card(normalize_version(version))
        except (RegistryError, ArtifactNotFound, KeyError) as exc:
            raise HTTPException(404, f"no model card for {version!r}: {exc}") from None
        return HTMLResponse(card_page(card, production=card.version == state.registry.production()))

    @app.get(f"/{API_VERSION}/models/{{version}}/card", summary="A model version's card")
    def card(version: str) -> dict:
        try:
            return state.registry.card(normalize_version(version)).to_dict()
        except (RegistryError, ArtifactNotFound, KeyError) as exc:
            raise HTTPException(404, f"no model card for {version!r}: {exc}") from None

    @app.get("/reports/drift/{day}", response_class=HTMLResponse, summary="The Evidently drift report of a day")
    def drift_report(day: str) -> HTMLResponse:
        if not DAY.match(day):
            raise HTTPException(404, f"{day!r} is not a day (YYYY-MM-DD)")
        keys = sorted(k for k in store.list("reports/drift/") if k.rsplit("/", 1)[-1].startswith(f"{day}-"))
        if not keys:
            raise HTTPException(404, f"no drift report for {day}: materialize drift_report for that day")
        production = state.served.version if state.served else None
        key = next((k for k in keys if k.endswith(f"-{production}.html")), keys[-1])
        return HTMLResponse(store.read_bytes(key))

    @app.get(f"/{API_VERSION}/call-list", summary="The call list: targeted users ranked by value at risk")
    def call_list(day: str | None = None, limit: int = 100, format: str = "json") -> Response:
        """The latest scored day's list unless ``day`` (YYYY-MM-DD) is given; ``limit`` rows; ``format=csv`` for
        the CSV a CRM imports."""
        if day is None:
            if state.snapshot is None:
                raise HTTPException(503, state.problems.get("predictions", "no predictions loaded"))
            day = state.snapshot.day
        if not DAY.match(day):
            raise HTTPException(404, f"{day!r} is not a day (YYYY-MM-DD)")
        if format not in ("json", "csv") or not 1 <= limit <= 100_000:
            raise HTTPException(422, "format is json or csv; limit is 1 to 100000")
        try:
            rows = pd.read_parquet(io.BytesIO(store.read_bytes(call_list_key(day, "parquet")))).head(limit)
        except ArtifactNotFound:
            raise HTTPException(404, f"no call list for {day}: materialize call_list for that day") from None
        rows["as_of_date"] = day
        if format == "csv":
            return Response(rows.to_csv(index=False, float_format="%.4f"), media_type="text/csv")
        users = orjson.loads(rows.to_json(orient="records", double_precision=6))
        return Response(
            orjson.dumps({"as_of_date": day, "rows": len(users), "users": users}), media_type="application/json"
        )

    @app.get(
        "/reports/outcomes/{day}", response_class=HTMLResponse, summary="How right a scored day's predictions were"
    )
    def outcomes_report(day: str) -> HTMLResponse:
        if not DAY.match(day):
            raise HTTPException(404, f"{day!r} is not a day (YYYY-MM-DD)")
        try:
            return HTMLResponse(store.read_bytes(f"reports/outcomes/{day}.html"))
        except ArtifactNotFound:
            raise HTTPException(404, f"no outcomes for {day}: its labels are not there yet") from None

    @app.get("/metrics", summary="Prometheus metrics")
    def prometheus() -> Response:
        metrics.model.clear()
        if state.served:
            metrics.model.labels(state.served.version).set(1)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(Guard, token=token, metrics=metrics, max_body_bytes=max_body_bytes)
    return app


def serve(settings, host: str, port: int, refresh_seconds: float, token: str | None, store: ArtifactStore) -> int:
    """Run the API until interrupted. Off loopback a token is required (checked by the caller's message)."""
    import uvicorn

    risk = (settings.risk_high, settings.risk_medium)
    app = create_app(store, risk, token, refresh_seconds, max_body_bytes=settings.api_max_body_bytes)
    state: State = app.state.churn
    print(f"churn_assets API on http://{host}:{port} (docs /docs)", flush=True)
    for what, problem in state.problems.items():
        print(f"  not ready ({what}): {problem}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0
