"""Chaos: Redis stops in the middle of a training, on a Redis of this test's own (never the
machine's). Training answers 503 while it is down, forecasts go on, and once it is back the
job that was training ends succeeded, with one version, and training works again."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from tests.cluster import (
    api_server,
    celery_env,
    celery_worker,
    finished_job,
    redis_server,
    stop,
    training,
    wait_ready,
)
from tests.utils import sine, tiny_spec, train_body


@pytest.mark.slow
def test_redis_down_then_back(tmp_path: Path) -> None:
    store, logs = tmp_path / "store", tmp_path
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as server:
        # Retiring at 0: each child process is replaced after its job (the memory-map watch).
        env = celery_env(store, server.url, "down:", FORECAST_WORKER_RETIRE_AT="0")
        worker = celery_worker(env, logs / "worker.log")
        api, base = api_server(env, logs / "api.log")
        try:
            wait_ready(base, api, logs / "api.log", workers=True)
            assert (
                httpx.post(base + "/train", json=train_body("steady"), timeout=300).status_code
                == 201
            )
            body = {
                **train_body("through", spec=tiny_spec(epochs=1500, batch_size=4)),
                "async": True,
            }
            job_id = httpx.post(base + "/train", json=body).json()["job_id"]
            training(base, job_id)

            server.stop()
            refused = httpx.post(base + "/train", json=train_body("refused"), timeout=30)
            assert refused.status_code == 503
            assert "does not answer" in refused.json()["detail"]
            assert refused.headers["retry-after"]
            forecast = {"model_name": "steady", "series": sine(12), "horizon": 3}
            assert httpx.post(base + "/forecast", json=forecast).status_code == 200
            ready = httpx.get(base + "/ready")
            assert (ready.status_code, ready.json()["broker"]) == (200, False)
            assert httpx.get(f"{base}/jobs/{job_id}").status_code == 503
            assert httpx.get(base + "/metrics").status_code == 200

            server.start()  # the same port and data
            job = finished_job(base, job_id, timeout=300)
            assert job["status"] == "succeeded", job
            assert [p.name for p in (store / "through").glob("[0-9]*")] == ["1"]
            assert not (store / "refused").exists()
            again = httpx.post(base + "/train", json=train_body("steady"), timeout=300)
            assert (again.status_code, again.json()["version"]) == (201, 2)
            workers = _workers(server.url, [job_id, *_ids(base, "steady")])
            assert len(set(workers)) == len(workers)  # every job on a fresh process
        finally:
            stop(api)
            stop(worker)


def _ids(base: str, name: str) -> list[str]:
    return [
        j["job_id"] for j in httpx.get(base + "/jobs").json()["data"] if j["model_name"] == name
    ]


def _workers(url: str, ids: list[str]) -> list[str]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return [str(client.hget(f"down:job:{job_id}", "worker")) for job_id in ids]
    finally:
        client.close()
