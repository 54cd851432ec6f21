from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from service.config import Settings
from service.main import create_app
from service.store.local import ModelStore
from tests.utils import train_body


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    """A store of the test's own, opened."""
    store = ModelStore(tmp_path / "store")
    store.open()
    return store


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
    """The suite's own database on the machine's Redis (scripts/test makes sure one answers);
    the keys this session wrote are deleted after it, and only those."""
    import redis

    from tests.cluster import REDIS_DB, SESSION

    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("no Redis on 127.0.0.1:6379: scripts/test starts or installs one")
    yield url
    for key in client.scan_iter(f"*{SESSION}*"):
        client.delete(key)
    client.close()
