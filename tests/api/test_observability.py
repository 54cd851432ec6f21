from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.observability import JsonFormatter
from tests.utils import sine, train_body


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_expose_the_named_series_and_they_move(
    client: TestClient, trained: dict[str, Any]
) -> None:
    before = client.get("/metrics").text
    body = {"model_name": "shared", "series": sine(12)}
    for _ in range(3):
        assert client.post("/forecast", json=body).status_code == 200
    assert (
        client.post("/forecast", json={"model_name": "ghost", "series": sine(6)}).status_code == 404
    )
    assert client.post("/train", json=train_body("metered")).status_code == 201
    after = client.get("/metrics").text

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("http_requests_total", handler="/forecast", method="POST", status="200") == 3
    assert moved("http_requests_total", handler="/forecast", method="POST", status="404") == 1
    assert moved("http_request_duration_seconds_count", handler="/forecast", status="200") == 3
    assert moved("forecast_training_jobs", state="succeeded") >= 1
    assert moved("forecast_training_seconds_count", status="succeeded") >= 1
    assert moved("forecast_model_cache_hits_total") >= 2
    assert sample(after, "forecast_model_cache_models") >= 1
    assert sample(after, "forecast_model_cache_bytes") > 0
    assert sample(after, "forecast_models_stored") >= 2


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    logger = logging.getLogger("service.access")
    logger.addHandler(caplog.handler)  # the service's loggers do not propagate to the root
    caplog.set_level(logging.INFO, logger="service.access")
    yield caplog
    logger.removeHandler(caplog.handler)


def test_every_request_gets_an_id_and_a_log_line(
    client: TestClient, access_log: pytest.LogCaptureFixture
) -> None:
    response = client.get("/health")
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    hostile = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"
    records = [r for r in access_log.records if r.name == "service.access"]
    first = next(r for r in records if getattr(r, "request_id", None) == request_id)
    assert (first.method, first.path, first.status) == ("GET", "/health", 200)  # type: ignore[attr-defined]
    assert first.duration_ms >= 0  # type: ignore[attr-defined]
    assert request_id in first.getMessage()


def test_json_log_lines_carry_the_request_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "service.access", "levelname": "INFO", "msg": "GET /health 200",
         "request_id": "abc", "status": 200}
    )  # fmt: skip
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /health 200"
    assert line["request_id"] == "abc"
    assert line["status"] == 200
    assert line["level"] == "INFO"
