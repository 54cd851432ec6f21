"""The real server, local backend, with several API processes on one store: uvicorn
--api-processes 2 (each process with its own training worker), and two servers side by side so that
a test can choose which process it asks. Job state is shared through SQLite in the store."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.test_observability import sample
from tests.cluster import api_server, finished_job, job, stop, training, wait_ready
from tests.utils import sine, tiny_spec, train_body

pytestmark = pytest.mark.slow
LONG = tiny_spec(epochs=20_000, batch_size=4)


def local_env(store: Path) -> dict[str, str]:
    return {**os.environ, "FORECAST_STORE_ROOT": str(store), "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("logs")
    env = local_env(tmp_path_factory.mktemp("shared-store"))
    process, base = api_server(env, logs / "api.log", workers=2)
    try:
        wait_ready(base, process, logs / "api.log")
        yield base
    finally:
        stop(process)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return local_env(tmp_path_factory.mktemp("two-store"))


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[list[str]]:
    """Two API processes on one store, each with its own training worker."""
    logs = tmp_path_factory.mktemp("logs")
    servers = [api_server(env, logs / f"api{i}.log") for i in range(2)]
    try:
        for index, (process, base) in enumerate(servers):
            wait_ready(base, process, logs / f"api{index}.log")
        yield [base for _, base in servers]
    finally:
        for process, _ in servers:
            stop(process)


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
    # Whichever process answers /metrics, it counts both processes' requests and jobs.
    for _ in range(4):
        text = httpx.get(server + "/metrics").text
        assert sample(text, "http_requests_total", handler="/train", status="201") == count
        assert sample(text, "forecast_training_jobs", state="succeeded") == count


def test_every_api_process_answers_for_every_job(two: list[str]) -> None:
    a, b = two
    body = {**train_body("elsewhere", spec=LONG), "async": True}
    job_id = httpx.post(a + "/train", json=body).json()["job_id"]
    seen = training(b, job_id)  # B sees A's job, and its progress
    assert seen["status"] == job(a, job_id)["status"] == "running"
    assert job_id in [j["job_id"] for j in httpx.get(b + "/jobs").json()["data"]]
    assert httpx.post(f"{b}/jobs/{job_id}/cancel").status_code == 200  # cancelled through B
    assert finished_job(a, job_id, timeout=30)["status"] == "cancelled"
    # A synchronous /train on B; its job read from A.
    answer = httpx.post(b + "/train", json=train_body("on-b"), timeout=300)
    assert answer.status_code == 201
    listed = httpx.get(a + "/jobs").json()["data"]
    assert [j["status"] for j in listed if j["model_name"] == "on-b"] == ["succeeded"]


def test_the_jobs_of_a_dead_api_process_fail_for_the_others(
    two: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    """Its training worker leaves with it: the job is failed, not left running for ever."""
    victim, base = api_server(env, tmp_path / "victim.log")
    wait_ready(base, victim, tmp_path / "victim.log")
    body = {**train_body("abandoned", spec=LONG), "async": True}
    job_id = httpx.post(base + "/train", json=body).json()["job_id"]
    training(two[0], job_id)
    stop(victim, signal.SIGKILL)
    found = finished_job(two[1], job_id, timeout=60)
    assert found["status"] == "failed"
    assert "API process that ran it stopped" in found["error"]["message"]
