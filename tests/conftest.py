from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from service.config import Settings
from service.main import create_app


def sine(n: int = 80, *, step: float = 0.5, start: float = 0.0) -> list[float]:
    return [float(v) for v in np.sin(start + step * np.arange(n))]


def tiny_spec(**overrides: Any) -> dict[str, Any]:
    """A spec that trains in well under a second."""
    spec: dict[str, Any] = {
        "architecture": "lstm",
        "units": 4,
        "window": {"length": 5},
        "epochs": 5,
        "batch_size": 16,
        "learning_rate": 0.01,
    }
    spec.update(overrides)
    return spec


def train_body(name: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_name": name,
        "series": sine(60),
        "test_series": sine(30, start=30.0),
        "spec": tiny_spec(),
    }
    body.update(overrides)
    return body


def store_listing(root: Path) -> list[str]:
    """Every path under the store except temporary and job-flag folders."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if not p.relative_to(root).parts[0].startswith(".")
    )


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="session")
def client(store_root: Path) -> Iterator[TestClient]:
    """One app for the session: its training worker imports TensorFlow once (several seconds)."""
    app = create_app(Settings(store_root=store_root, max_queued_jobs=64))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def settings(client: TestClient) -> Settings:
    """The session app's settings."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return settings


@pytest.fixture(scope="session")
def trained(client: TestClient) -> dict[str, Any]:
    """A tiny LSTM trained once for the session, as model `shared`."""
    response = client.post("/train", json=train_body("shared"))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The suite's own database on the machine's Redis (scripts/test makes sure one answers),
    flushed before and after the session."""
    import redis

    from tests.cluster import REDIS_DB

    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("no Redis on 127.0.0.1:6379: scripts/test starts or installs one")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()
