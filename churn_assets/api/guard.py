"""The HTTP API's middleware: the bearer token, the body-size limit and the request metrics, and what counts as a
loopback address (the API and ``churn-assets dev`` both refuse to open to other machines without a guard)."""

from __future__ import annotations

import hmac
import ipaddress
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
