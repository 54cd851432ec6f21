"""API keys, request limits and names that try to leave the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.config import Settings
from tests.utils import sine, store_listing, tiny_spec, train_body

BACKTEST = {"model_name": "shared", "series": sine(40), "horizon": 2, "origins": 2}


@pytest.fixture
def write_key(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(settings, "api_key", SecretStr("write-s3cret"))
    return "write-s3cret"


def test_writes_need_the_key_when_it_is_set(
    client: TestClient, trained: dict[str, Any], write_key: str
) -> None:
    for method, path, body in [
        ("POST", "/train", train_body("locked")),
        ("DELETE", "/models/shared", None),
        ("DELETE", "/models/shared/versions/1", None),
        ("DELETE", "/jobs/anything", None),
        ("POST", "/jobs/anything/cancel", None),
        # A refit backtest trains once per origin: a write, though a plain backtest is a read.
        ("POST", "/backtest", {**BACKTEST, "refit": True}),
    ]:
        for headers in ({}, {"X-API-Key": "wrong"}):
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            assert "X-API-Key" in response.json()["detail"]
    assert client.get("/models/shared").status_code == 200  # nothing was deleted
    authorised = client.post("/train", json=train_body("locked"), headers={"X-API-Key": write_key})
    assert authorised.status_code == 201
    # Reads stay open while only the write key is set.
    assert (
        client.post("/forecast", json={"model_name": "locked", "series": sine(6)}).status_code
        == 200
    )
    assert client.post("/backtest", json=BACKTEST).status_code == 200


def test_reads_need_a_key_when_the_read_key_is_set(
    client: TestClient,
    trained: dict[str, Any],
    settings: Settings,
    write_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "api_key_read", SecretStr("read-s3cret"))
    body = {"model_name": "shared", "series": sine(6)}
    assert client.post("/forecast", json=body).status_code == 401
    assert client.get("/models").status_code == 401
    assert client.get("/jobs").status_code == 401
    for key in ("read-s3cret", write_key):
        assert client.post("/forecast", json=body, headers={"X-API-Key": key}).status_code == 200
    # The read key does not let anyone train or delete.
    read_only = {"X-API-Key": "read-s3cret"}
    assert client.delete("/models/shared", headers=read_only).status_code == 401
    assert client.get("/health").status_code == 200
    assert client.get("/docs").status_code == 200


def test_empty_key_setting_means_open(client: TestClient, settings: Settings) -> None:
    settings_copy = settings.model_copy(update={"api_key": SecretStr("")})
    assert settings_copy.key("write") is None


@pytest.fixture
def body_limit(client: TestClient) -> Iterator[Callable[[int], None]]:
    """Set the body size limit of the running app (its middleware stack is built once)."""
    from service.api.middleware import BodySizeLimit

    app = client.app
    entry = next(m for m in app.user_middleware if m.cls is BodySizeLimit)  # type: ignore[attr-defined]
    original = entry.kwargs["max_bytes"]

    def set_limit(max_bytes: int) -> None:
        entry.kwargs["max_bytes"] = max_bytes
        app.middleware_stack = None  # type: ignore[attr-defined]  # rebuilt on the next request

    yield set_limit
    set_limit(original)


def test_body_over_the_limit_is_413(
    client: TestClient, store_root: Path, body_limit: Callable[[int], None]
) -> None:
    body_limit(2048)
    before = store_listing(store_root)
    response = client.post("/train", json=train_body("huge", series=sine(2000)))
    assert response.status_code == 413
    assert "FORECAST_MAX_BODY_BYTES" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed size is counted
        yield b'{"model_name": "huge", "series": ['
        for _ in range(500):
            yield b"0.5, 0.25, "
        yield b"0.5]}"

    streamed = client.post("/train", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert store_listing(store_root) == before
    assert client.get("/health").status_code == 200


LIMITS = [
    ("max_epochs", 100, {"epochs": 101}, "spec.epochs is 101, the limit is 100"),
    ("max_units", 16, {"units": 17}, "spec.units is 17, the limit is 16"),
    ("max_layers", 1, {"layers": [{"type": "lstm", "units": 2, "return_sequences": True},
                                  {"type": "gru", "units": 2}], "architecture": None,
                       "units": None}, "spec.layers has 2 layers, the limit is 1"),
    ("max_training_work", 1000.0, {"epochs": 50}, "FORECAST_MAX_TRAINING_WORK"),
    ("max_windows", 10, {}, "series gives 55 windows, the limit is 10"),
    ("max_series_length", 50, {}, "series has 60 rows, the limit is 50"),
]  # fmt: skip


@pytest.mark.parametrize(("limit", "value", "spec", "message"), LIMITS, ids=[c[0] for c in LIMITS])
def test_limits_refuse_work_before_it_starts(
    client: TestClient,
    settings: Settings,
    store_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    limit: str,
    value: float,
    spec: dict[str, Any],
    message: str,
) -> None:
    monkeypatch.setattr(settings, limit, value)
    before = store_listing(store_root)
    body = train_body("limited", spec={k: v for k, v in tiny_spec(**spec).items() if v is not None})
    response = client.post("/train", json=body)
    assert response.status_code == 422, response.text
    assert message in response.text
    assert store_listing(store_root) == before


def test_horizon_limit(client: TestClient, trained: dict[str, Any], settings: Settings,
                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(settings, "max_horizon", 10)
    body = {"model_name": "shared", "series": sine(6), "horizon": 11}
    response = client.post("/forecast", json=body)
    assert response.status_code == 422
    assert "horizon is 11, the limit is 10" in response.text


@pytest.mark.parametrize(
    "name",
    ["..", "%2e%2e", "..%2fetc", "a%2fb", "%00", "CON", "nul.txt", "é", "x" * 65, "a b", ".env"],
)
def test_names_that_leave_the_store_are_refused(
    client: TestClient, store_root: Path, name: str
) -> None:
    before = store_listing(store_root)
    assert client.post("/train", json=train_body(name)).status_code == 422
    # In a path, "." segments are resolved by the client ("/models/.." is "/"): never a model.
    assert client.get(f"/models/{name}").status_code in (404, 422)
    assert client.delete(f"/models/{name}").status_code in (404, 405, 422)
    assert store_listing(store_root) == before


def test_version_count_per_name_is_limited(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.post("/train", json=train_body("crowded")).status_code == 201
    monkeypatch.setattr(settings, "max_versions", 1)
    response = client.post("/train", json=train_body("crowded"))
    assert response.status_code == 422
    assert "FORECAST_MAX_VERSIONS" in response.json()["detail"][0]["msg"]
    assert client.delete("/models/crowded/versions/1").status_code == 200
    assert client.post("/train", json=train_body("crowded")).json()["version"] == 2
