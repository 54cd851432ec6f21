"""The real server with two API processes, each with its own training worker, on one store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import sine, train_body

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "FORECAST_STORE_DIR": str(tmp_path_factory.mktemp("shared-store")),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    command = [sys.executable, "-m", "service", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, "the server exited"
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.slow
def test_concurrent_trains_into_one_name_get_distinct_loadable_versions(server: str) -> None:
    count = 6

    def train(_: int) -> int:
        response = httpx.post(server + "/train", json=train_body("together"), timeout=300)
        assert response.status_code == 201, response.text
        return int(response.json()["version"])

    with ThreadPoolExecutor(count) as pool:
        versions = sorted(pool.map(train, range(count)))
    assert versions == list(range(1, count + 1))
    listed = httpx.get(server + "/models/together").json()
    assert [v["version"] for v in listed["versions"]] == versions
    assert all(v["status"] == "ok" for v in listed["versions"])
    for version in versions:  # each loadable, whichever process answers
        body = {"model_name": "together", "version": version, "series": sine(8)}
        assert httpx.post(server + "/forecast", json=body).status_code == 200
