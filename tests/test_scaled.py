"""The scaled topology through HTTP: two API replicas and two Celery worker processes on one
store, over the machine's Redis (the suite's own database and key prefix), then chaos: a worker
killed mid-training, an API replica killed during a synchronous /train."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.cluster import (
    api_server,
    celery_env,
    celery_worker,
    children,
    finished_job,
    maps_mention,
    redis_prefix,
    stop,
    training,
    wait_ready,
)
from tests.utils import sine, tiny_spec, train_body, wait_for

pytestmark = pytest.mark.slow
LONG = tiny_spec(epochs=20_000, batch_size=4)  # trains for a minute: long enough to act on


@dataclass
class Cluster:
    a: str
    b: str
    env: dict[str, str]
    store: Path
    logs: Path
    redis: redis.Redis
    prefix: str
    workers: list[subprocess.Popen[bytes]]
    apis: list[subprocess.Popen[bytes]]

    def job_fields(self, job_id: str) -> dict[str, str]:
        fields: dict[str, str] = self.redis.hgetall(f"{self.prefix}job:{job_id}")  # type: ignore[assignment]
        return fields

    def worker_pid(self, job_id: str) -> int:
        return int(self.job_fields(job_id)["worker"].rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Cluster]:
    store, logs = tmp_path_factory.mktemp("scaled-store"), tmp_path_factory.mktemp("logs")
    prefix = redis_prefix()
    env = celery_env(store, redis_url, prefix)
    workers = [celery_worker(env, logs / f"worker{i}.log") for i in range(2)]
    servers = [api_server(env, logs / f"api{i}.log") for i in range(2)]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for index, (process, base) in enumerate(servers):
            wait_ready(base, process, logs / f"api{index}.log", workers=True)
        yield Cluster(
            servers[0][1], servers[1][1], env, store, logs, client, prefix, workers,
            [process for process, _ in servers],
        )  # fmt: skip
    finally:
        for process in [*workers, *(p for p, _ in servers)]:
            stop(process)
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)
        client.close()


def train_async(base: str, name: str, **spec: Any) -> str:
    body = {**train_body(name, spec=tiny_spec(**spec) if spec else LONG), "async": True}
    answer = httpx.post(base + "/train", json=body, timeout=30)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def test_twenty_concurrent_trainings_of_one_name_get_versions_1_to_20(cluster: Cluster) -> None:
    def train(index: int) -> int:
        base = (cluster.a, cluster.b)[index % 2]
        answer = httpx.post(base + "/train", json=train_body("together"), timeout=600)
        assert answer.status_code == 201, answer.text
        return int(answer.json()["version"])

    with ThreadPoolExecutor(20) as pool:
        versions = sorted(pool.map(train, range(20)))
    assert versions == list(range(1, 21))
    for base in (cluster.a, cluster.b):
        listed = httpx.get(base + "/models/together").json()["versions"]
        assert [(v["version"], v["status"]) for v in listed] == [(v, "ok") for v in versions]
        for version in versions:  # each loadable, by every replica
            body = {"model_name": "together", "version": version, "series": sine(8)}
            assert httpx.post(base + "/forecast", json=body).status_code == 200


def test_every_job_reads_the_same_from_both_replicas(cluster: Cluster) -> None:
    ids = [train_async((cluster.a, cluster.b)[i % 2], f"seen{i}", epochs=200) for i in range(4)]
    for job_id in ids:  # known to both at once, queued or running
        assert {
            httpx.get(f"{base}/jobs/{job_id}").status_code for base in (cluster.a, cluster.b)
        } == {200}
    for job_id in ids:
        finished_job(cluster.a, job_id)
    listings = [httpx.get(base + "/jobs").json()["data"] for base in (cluster.a, cluster.b)]
    assert listings[0] == listings[1]
    statuses = {job["job_id"]: job["status"] for job in listings[0]}
    assert all(statuses[job_id] == "succeeded" for job_id in ids)


def test_a_cancel_sent_to_either_replica_stops_the_job(cluster: Cluster) -> None:
    running = [train_async(cluster.a, f"cancel{i}") for i in range(2)]  # one per worker
    queued = train_async(cluster.b, "cancel-queued")
    for job_id in running:
        training(cluster.b, job_id)
    # Queued behind both workers: cancelled at once, and never run.
    answer = httpx.post(f"{cluster.a}/jobs/{queued}/cancel")
    assert answer.json()["status"] == "cancelled"
    for job_id, base in zip(running, (cluster.a, cluster.b), strict=True):
        assert httpx.post(f"{base}/jobs/{job_id}/cancel").json()["status"] == "running"
    for job_id in running:
        job = finished_job(cluster.b, job_id, timeout=30)  # within a chunk of epochs
        assert job["status"] == "cancelled"
        assert job["progress"]["epoch"] < 20_000
    assert "before it ran" in finished_job(cluster.b, queued)["error"]["message"]
    assert not any(list((cluster.store / name).glob("[0-9]*")) for name in ("cancel0", "cancel1"))
    assert not (cluster.store / "cancel-queued").exists()
    assert cluster.job_fields(queued).get("started_at") is None  # no worker ever started it


def test_workers_import_tensorflow_after_the_fork_and_the_api_never(cluster: Cluster) -> None:
    for worker in cluster.workers:
        assert not maps_mention(worker.pid, "tensorflow")  # the Celery parent
        assert children(worker.pid)
        assert all(maps_mention(child, "tensorflow") for child in children(worker.pid))
    for api in cluster.apis:
        assert not maps_mention(api.pid, "tensorflow")


def test_a_worker_killed_mid_training_retries_once_then_fails(cluster: Cluster) -> None:
    job_id = train_async(cluster.a, "killed-once", epochs=1500, batch_size=4)
    training(cluster.b, job_id)
    first = cluster.worker_pid(job_id)
    os.kill(first, signal.SIGKILL)
    job = finished_job(cluster.b, job_id, timeout=300)
    # Retried once, on a fresh process: one version, nothing half-written left.
    assert job["status"] == "succeeded", job
    assert cluster.job_fields(job_id)["attempts"] == "2"
    assert cluster.worker_pid(job_id) != first
    assert [p.name for p in (cluster.store / "killed-once").glob("[0-9]*")] == ["1"]

    twice = train_async(cluster.b, "killed-twice")
    for _ in range(2):
        wait_for(lambda: cluster.job_fields(twice).get("progress"), timeout=300, what="training")
        os.kill(cluster.worker_pid(twice), signal.SIGKILL)
        cluster.redis.hdel(f"{cluster.prefix}job:{twice}", "progress")
    job = finished_job(cluster.a, twice, timeout=300)
    assert job["status"] == "failed"
    assert "died twice" in job["error"]["message"]
    assert not list((cluster.store / "killed-twice").glob("[0-9]*"))
    assert not [p for p in (cluster.store / ".tmp").iterdir() if "killed" in p.name]
    # The next job trains, on a process that is not one of those killed.
    after = train_async(cluster.a, "after-kill", epochs=5)
    assert finished_job(cluster.b, after, timeout=300)["status"] == "succeeded"


def test_an_api_replica_killed_during_a_synchronous_train_loses_nothing(
    cluster: Cluster,
) -> None:
    victim, base = api_server(cluster.env, cluster.logs / "victim.log")
    wait_ready(base, victim, cluster.logs / "victim.log")
    body = train_body("orphaned", spec=tiny_spec(epochs=1500, batch_size=4))
    answers: list[BaseException | httpx.Response] = []

    def post() -> None:
        try:
            answers.append(httpx.post(base + "/train", json=body, timeout=600))
        except httpx.TransportError as error:
            answers.append(error)

    thread = threading.Thread(target=post)
    thread.start()

    def running() -> str | None:
        jobs = httpx.get(cluster.b + "/jobs").json()["data"]
        found = [j for j in jobs if j["model_name"] == "orphaned" and j["status"] == "running"]
        return found[0]["job_id"] if found else None

    job_id = wait_for(running, timeout=300, what="the orphaned job to run")
    stop(victim, signal.SIGKILL)
    thread.join(timeout=60)
    assert isinstance(answers[0], httpx.TransportError)  # its client lost the answer...
    job = finished_job(cluster.b, job_id, timeout=300)  # ...the job did not
    assert job["status"] == "succeeded"
    assert job["result"]["version"] == 1
    body = {"model_name": "orphaned", "series": sine(8)}
    assert httpx.post(cluster.a + "/forecast", json=body).status_code == 200


def test_a_worker_node_killed_whole_fails_its_job_for_the_others(cluster: Cluster) -> None:
    """The whole worker (parent and children) dies, as a container or machine does: no
    Celery parent is left to retry its job, so the surviving node fails it once the dead
    one's heartbeats stop. Last in the module: it leaves one worker."""
    job_id = train_async(cluster.a, "node-lost")
    training(cluster.b, job_id)
    node = cluster.job_fields(job_id)["node"]
    victim = next(w for w in cluster.workers if node.startswith(f"forecast-{w.pid}@"))
    stop(victim, signal.SIGKILL)
    job = finished_job(cluster.b, job_id, timeout=120)
    assert job["status"] == "failed"
    assert "stopped answering" in job["error"]["message"]
    assert not list((cluster.store / "node-lost").glob("[0-9]*"))


def test_an_upload_is_loaded_by_a_worker_and_served_by_both_replicas(
    cluster: Cluster, tmp_path: Path
) -> None:
    import keras

    from tests.utils.keras_files import LECTURE_TEST, lecture_model, saved, windows

    model = lecture_model(tmp_path / "sine.keras", epochs=1)
    answer = upload_to(cluster.a, "brought", (tmp_path / "sine.keras").read_bytes())
    assert answer.status_code == 201, answer.text
    version = answer.json()["version"]
    expected = model.predict(windows(LECTURE_TEST[:40], 20), verbose=0).ravel()
    for base in (cluster.a, cluster.b):
        body = {"model_name": "brought", "version": version, "series": list(LECTURE_TEST[:40])}
        got = httpx.post(base + "/forecast", json=body).json()["predictions"]
        scale = abs(expected).max()
        assert max(abs(g - e) for g, e in zip(got, expected, strict=True)) < 1e-6 * scale
    # Refused by the worker, after loading: the answer and the store as for the local pool.
    hostile = saved(tmp_path / "gru.keras", keras.layers.GRU(3, reset_after=False))
    refused = upload_to(cluster.b, "brought", hostile)
    assert refused.status_code == 422, refused.text
    assert "reset_after=False" in refused.text
    assert sorted(p.name for p in (cluster.store / "brought").glob("[0-9]*")) == [str(version)]


def upload_to(base: str, name: str, data: bytes) -> httpx.Response:
    return httpx.post(
        f"{base}/models/{name}/versions",
        files={"file": ("m.keras", data)},
        data={"spec": '{"window": {"length": 20}}'},
        timeout=120,
    )
