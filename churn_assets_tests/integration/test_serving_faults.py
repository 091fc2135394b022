"""No client harms another: hostile-but-ordinary posts are refused alone, a row that breaks scoring fails only its own
request, an oversized body is answered 413, and every 5xx, raised or returned, is counted in /metrics. The real
`churn-assets serve` on loopback over a real pipeline run's data, and a real HTTP client."""

import asyncio
import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from churn_assets.api.served import Batcher, Served
from churn_assets.core.registry.artifacts import LocalArtifactStore
from churn_assets.core.registry.model_registry import ModelRegistry
from churn_assets_tests import helpers
from churn_assets_tests.helpers import Server, free_port

DAY = "2026-03-31"
POISON = [  # each valid JSON; each used to reach the shared scoring batch or answer 500
    ({"plan": "\ud800"}, {"plan": "expected text that UTF-8 can encode (a lone surrogate is not)"}),
    ({"sessions_7": 10**400}, {"sessions_7": "expected at most 1e+15 in size"}),
    ({"sessions_7": 1e308}, {"sessions_7": "expected at most 1e+15 in size"}),
    ({"sessions_7": -3}, {"sessions_7": "expected a value that is not negative (a count, sum, rate or age)"}),
]


@pytest.fixture(scope="module")
def data(finished_run, tmp_path_factory) -> Path:
    return finished_run.copy(tmp_path_factory.mktemp("faults") / "d")


def feature_rows(data: Path, n: int) -> list[dict]:
    return helpers.feature_rows(data, DAY, n)


def post(url: str, body: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/predict", content=body.encode("utf-8", "surrogatepass"), timeout=10,
                      headers={"content-type": "application/json"})  # fmt: skip


def test_a_poison_client_among_honest_clients_harms_none_of_them(data):
    rows = feature_rows(data, 5)
    server = Server(data, free_port())
    honest: list[int] = []
    poisoned: list[httpx.Response] = []
    stop = time.monotonic() + 4

    def honest_client() -> None:
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < stop:
                honest.append(client.post(f"{server.url}/v1/predict", json={"rows": rows}).status_code)

    def poison_client() -> None:
        while time.monotonic() < stop:
            for change, _ in POISON:
                row = json.dumps({"rows": [rows[0], rows[1] | change]}, ensure_ascii=False)
                poisoned.append(post(server.url, row))
            key = json.dumps({"rows": [rows[0] | {"\ud800": 1}]}, ensure_ascii=False)  # a lone surrogate as a key
            poisoned.append(post(server.url, key))

    try:
        threads = [threading.Thread(target=honest_client) for _ in range(8)] + [threading.Thread(target=poison_client)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(honest) > 40 and set(honest) == {200}
        assert len(poisoned) >= 5 and {r.status_code for r in poisoned} == {422}
        for (_, invalid), answer in zip(POISON, poisoned[:4], strict=True):
            assert answer.json()["detail"]["problems"] == [{"row": 1, "invalid": invalid}]
        assert poisoned[4].json()["detail"]["problems"] == [{"row": 0, "extra": ["\\ud800"]}]
        assert 'status="500"' not in httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()


def test_a_body_over_the_limit_is_answered_413_before_it_is_parsed(data):
    server = Server(data, free_port(), CHURN_API_MAX_BODY_BYTES="100000")
    try:
        big = json.dumps({"rows": feature_rows(data, 1) * 1000})  # about a megabyte
        declared = httpx.post(f"{server.url}/v1/predict", content=big, headers={"content-type": "application/json"})
        assert declared.status_code == 413
        assert declared.json() == {"detail": "the request body is larger than 100000 bytes (CHURN_API_MAX_BODY_BYTES)"}

        def chunks():  # no Content-Length: counted as it streams
            for i in range(0, len(big), 8192):
                yield big[i : i + 8192].encode()

        streamed = httpx.post(
            f"{server.url}/v1/predict", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert httpx.post(f"{server.url}/v1/predict", json={"rows": feature_rows(data, 2)}).status_code == 200
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'churn_api_requests_total{method="POST",route="too_large",status="413"} 2.0' in metrics
    finally:
        server.stop()


def test_every_5xx_raised_or_returned_is_counted(data, tmp_path):
    copy = tmp_path / "d"
    shutil.copytree(data / "artifacts", copy / "artifacts")
    server = Server(copy, free_port())
    try:
        (copy / "artifacts" / "models" / "production.json").write_text("{not json")  # a corrupt registry file
        raised = httpx.get(f"{server.url}/v1/models")
        assert raised.status_code == 500  # the route raised: Starlette answered 500
        time.sleep(1)  # the watcher re-reads the pointer every 0.2 s and reports the model as missing
        returned = httpx.get(f"{server.url}/ready")
        assert returned.status_code == 503 and "production.json is corrupt" in returned.json()["missing"]["model"]
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'churn_api_requests_total{method="GET",route="/v1/models",status="500"} 1.0' in metrics
        assert 'churn_api_errors_total{route="/v1/models"} 1.0' in metrics
        assert 'churn_api_errors_total{route="/ready"} 1.0' in metrics
    finally:
        server.stop()


class Fragile:
    """The production model, but failing on a row whose sessions_7 is 999,999 (a row that passes every check and
    still breaks scoring)."""

    def __init__(self, model):
        self.model = model

    def predict_proba(self, frame):
        if (frame["sessions_7"] == 999_999).any():
            raise ValueError("this row breaks the model")
        return self.model.predict_proba(frame)


def test_a_row_that_breaks_scoring_fails_only_its_own_request(data):
    registry = ModelRegistry(LocalArtifactStore(data / "artifacts"))
    version = registry.production()
    served = Served(version, Fragile(registry.load(version)), registry.card(version))

    class State:  # what the batcher reads of the API's state: the served model and the risk tiers
        def __init__(self):
            self.served, self.risk = served, (0.8, 0.5)

    rows = feature_rows(data, 3)
    breaking = [rows[0] | {"sessions_7": 999_999}]

    async def requests():
        batcher = Batcher(State())
        return await asyncio.gather(
            batcher.score(rows[:2]), batcher.score(breaking), batcher.score(rows[2:]), return_exceptions=True
        )

    first, broken, third = asyncio.run(requests())
    assert isinstance(broken, ValueError) and str(broken) == "this row breaks the model"
    assert first[0] == third[0] == version and len(first[1]) == 2 and len(third[1]) == 1
    assert all(0 <= p["churn_probability"] <= 1 for p in first[1] + third[1])
