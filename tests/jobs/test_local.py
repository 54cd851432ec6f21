"""The local backend alone: worker processes that die or overrun their time limit."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from service.jobs import Job, JobStatus
from service.jobs.local import LocalJobs
from service.schemas.train import TrainRequest
from service.store.local import ModelStore
from tests.utils import tiny_spec, train_body, wait_for


def request(name: str, **spec: object) -> TrainRequest:
    return TrainRequest.model_validate(train_body(name, spec=tiny_spec(**spec)))


def wait(manager: LocalJobs, job: Job, *, status: set[JobStatus], timeout: float = 120) -> Job:
    def reached() -> Job | None:
        found = manager.get(job.id)
        return found if found.status in status else None

    found: Job = wait_for(reached, timeout=timeout, what=f"job {job.id} to be {status}")
    return found


def finished(manager: LocalJobs, job: Job, *, timeout: float = 120) -> Job:
    return wait(manager, job, status={JobStatus.succeeded, JobStatus.failed}, timeout=timeout)


@pytest.fixture
def manager(store: ModelStore, request: pytest.FixtureRequest) -> Iterator[LocalJobs]:
    """A running backend; `@pytest.mark.parametrize("manager", [seconds], indirect=True)`
    sets its job timeout (default: long enough for a tiny training on a busy machine)."""
    manager = LocalJobs(store.root, timeout_seconds=getattr(request, "param", 120.0))
    manager.start()
    yield manager
    manager.shutdown()


@pytest.mark.slow
def test_worker_killed_mid_training_fails_the_job_and_stores_nothing(
    manager: LocalJobs, store: ModelStore
) -> None:
    job = manager.submit(request("victim", epochs=20_000, batch_size=4))
    queued = manager.submit(request("queued-behind"))
    job = wait(manager, job, status={JobStatus.running})

    def progressing() -> Job | None:  # well into training, not importing TensorFlow
        found = manager.get(job.id)
        return found if found.progress is not None else None

    job = wait_for(progressing, timeout=120, what="training progress")
    assert job.worker_pid is not None
    os.kill(job.worker_pid, signal.SIGKILL)
    job = finished(manager, job)
    assert job.status is JobStatus.failed
    assert job.error is not None
    assert "worker died" in job.error["message"]
    assert store.versions("victim") == []
    assert list((store.root / ".tmp").iterdir()) == []
    # The job queued behind it had not started: it runs on the new worker instead of failing.
    assert finished(manager, queued).status is JobStatus.succeeded
    assert store.versions("queued-behind") == [1]
    # A new worker takes the next job.
    survivor = manager.submit(request("survivor"))
    assert finished(manager, survivor).status is JobStatus.succeeded
    assert store.versions("survivor") == [1]


@pytest.mark.slow
@pytest.mark.parametrize("manager", [2.0], indirect=True)
def test_job_past_its_time_limit_is_stopped_and_marked(
    manager: LocalJobs, store: ModelStore
) -> None:
    job = manager.submit(request("slow", epochs=20_000, batch_size=4))
    job = finished(manager, job, timeout=60)
    assert job.status is JobStatus.failed
    assert job.error is not None
    assert "time limit of 2 s" in job.error["message"]
    assert store.versions("slow") == []


@pytest.mark.slow
def test_a_worn_out_worker_is_replaced_between_jobs(store: ModelStore) -> None:
    """XLA never frees what it compiles: a worker past `retire_at` of the system's memory-map
    limit is replaced once its job is done, and jobs queued behind it run in the new one. At 0,
    every job wears its worker out."""
    manager = LocalJobs(store.root, retire_at=0.0)
    manager.start()
    try:
        jobs = [manager.submit(request(f"r{i}")) for i in range(3)]

        async def wait_all() -> list[Job]:  # as a synchronous /train awaits its job
            return list(await asyncio.gather(*(manager.wait(job.id) for job in jobs)))

        done = asyncio.run(asyncio.wait_for(wait_all(), timeout=180))
        assert [job.status for job in done] == [JobStatus.succeeded] * 3
        later = finished(manager, manager.submit(request("r3")))
        assert later.status is JobStatus.succeeded
        assert later.worker_pid not in {job.worker_pid for job in done}  # a fresh worker
        assert len(store.versions("r3")) == 1
    finally:
        manager.shutdown()


@pytest.mark.slow
def test_a_worker_is_replaced_after_its_number_of_jobs(store: ModelStore) -> None:
    """FORECAST_WORKER_MAX_TRAININGS: a worker's memory is bounded by recycling it."""
    manager = LocalJobs(store.root, max_jobs=2)
    manager.start()
    try:
        pids = []
        for i in range(3):
            pool = manager._pool
            job = finished(manager, manager.submit(request(f"recycled-{i}")))
            assert job.status is JobStatus.succeeded
            pids.append(job.worker_pid)
            if i == 1:  # the pool is swapped once the worker has answered its job
                wait_for(lambda: manager._pool is not pool, timeout=30, what="a new pool")  # noqa: B023
    finally:
        manager.shutdown()
    assert pids[0] == pids[1] != pids[2]


def test_a_worker_retires_past_its_memory_or_jobs() -> None:
    from service.jobs.runner import retire_reason, rss_mb

    assert rss_mb() > 10
    assert retire_reason(jobs_run=1, max_jobs=50, max_memory_mb=10**6, retire_at=1.0) == ""
    assert "50 jobs" in retire_reason(jobs_run=50, max_jobs=50, max_memory_mb=10**6, retire_at=1.0)
    assert "MB resident" in retire_reason(jobs_run=1, max_jobs=50, max_memory_mb=1, retire_at=1.0)
