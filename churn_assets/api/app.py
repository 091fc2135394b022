"""``churn-assets serve``: the HTTP API over the production model and the latest predictions (FastAPI on uvicorn):
its routes, the bearer token and the request metrics.

What it serves comes from the artifact store only (local folder or GCS): the registry's production model,
verified as every load is, and the predictions snapshot the pipeline publishes (``core/serving/snapshot.py``), both
kept fresh by ``api/served.py``, where posted rows are also scored in batches.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import threading
import time
from typing import Any

import orjson
from fastapi import Body, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from churn_assets.api.served import Batcher, Served, State
from churn_assets.core.registry.artifacts import ArtifactNotFound, ArtifactStore
from churn_assets.core.registry.model_registry import RegistryError, normalize_version
from churn_assets.core.serving.snapshot import MAX_BATCH_ROWS, RowError, check_rows

API_VERSION = "v1"
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
OPEN_ROUTES = {"/health"}  # the only route without the token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "churn_api_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "churn_api_request_seconds",
            "Request latency",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.errors = Counter("churn_api_errors", "Responses with a 5xx status", ["route"], registry=self.registry)
        self.model = Gauge("churn_api_model_info", "The model version served (1)", ["version"], registry=self.registry)


class Guard:
    """Pure ASGI middleware: the bearer token on every route but /health, the body-size limit, and the request
    metrics, which count every answer, a 5xx raised by a route as well as one returned."""

    def __init__(self, app, token: str | None, metrics: Metrics, max_body_bytes: int):
        self.app, self.token, self.metrics, self.max_body = app, token, metrics, max_body_bytes
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]
        if self.expected is not None and scope["path"] not in OPEN_ROUTES:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"detail":"missing or wrong bearer token (Authorization: Bearer <CHURN_API_TOKEN>)"}'
                await _send(send, 401, body, b"application/json")
                self._observe(scope, "unauthorized", 401, started)
                return
        replay = await self._body_within_limit(scope, receive)
        if replay is None:
            detail = f'{{"detail":"the request body is larger than {self.max_body} bytes (CHURN_API_MAX_BODY_BYTES)"}}'
            await _send(send, 413, detail.encode(), b"application/json")
            self._observe(scope, "too_large", 413, started)
            return

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, replay, sending)
        finally:  # a route that raised still answered 500 (Starlette's error middleware): counted as such
            route = scope.get("route")
            self._observe(scope, getattr(route, "path", "unmatched"), status[0], started)

    async def _body_within_limit(self, scope, receive):
        """The request's ``receive``, replaying a body read whole while it stays within the limit; None past it.
        A declared Content-Length over the limit is refused before a byte is read."""
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return None
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body:
                return None
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        return replay

    def _observe(self, scope, route: str, status: int, started: float) -> None:
        self.metrics.requests.labels(route, scope["method"], str(status)).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - started)
        if status >= 500:
            self.metrics.errors.labels(route).inc()


async def _send(send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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

    app = FastAPI(
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
                    "windows": c.windows,
                    "metrics": {m: c.metrics.get(m) for m in ("roc_auc", "pr_auc")},
                }
                for c in cards
            ],
        }

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
