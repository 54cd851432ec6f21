"""The shared job state, both implementations: compare-and-set transitions, one outcome per
job, the histogram, forgetting old jobs, and Redis going away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.errors import BrokerUnavailable, JobNotFound
from service.jobs import Job, JobStatus
from service.jobs.redis_state import RedisJobState
from service.jobs.sqlite_state import SqliteJobState
from service.jobs.state import JobState, Start
from tests.cluster import redis_prefix
from tests.utils import free_port


@pytest.fixture(params=["sqlite", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[JobState]:
    if request.param == "sqlite":
        yield SqliteJobState(tmp_path / "jobs.sqlite3", keep_finished=3)
        return
    redis_state = RedisJobState(redis_url, prefix=redis_prefix(), keep_finished=3)
    yield redis_state
    for key in redis_state.redis.scan_iter(redis_state.prefix + "*"):
        redis_state.redis.delete(key)


def added(state: JobState, job_id: str) -> Job:
    job = Job(job_id, "m")
    state.add(job)
    return job


def test_jobs_are_listed_newest_first_and_unknown_ones_are_404(state: JobState) -> None:
    for job_id in ("a", "b", "c"):
        added(state, job_id)
    assert [job.id for job in state.recent()] == ["c", "b", "a"]
    assert state.get("b").status is JobStatus.queued
    with pytest.raises(JobNotFound):
        state.get("nope")


def test_a_page_of_jobs_is_newest_first_with_the_count_of_all_that_match(
    state: JobState,
) -> None:
    for job_id in ("a", "b", "c", "d"):
        added(state, job_id)
    state.start("b", worker="h:1", max_attempts=1)
    state.start("d", worker="h:1", max_attempts=1)
    found, count = state.page(status=None, limit=2, offset=1)
    assert ([job.id for job in found], count) == (["c", "b"], 4)
    found, count = state.page(status=JobStatus.running, limit=1, offset=0)
    assert ([job.id for job in found], count) == (["d"], 2)
    found, count = state.page(status=JobStatus.queued, limit=5, offset=2)
    assert (found, count) == ([], 2)


def test_a_job_starts_once_unless_retries_are_allowed(state: JobState) -> None:
    added(state, "a")
    assert state.start("a", worker="h:1", max_attempts=2) is Start.run
    assert state.get("a").worker_pid == 1
    # The same message again, its first worker dead: one retry, then no more.
    assert state.start("a", worker="h:2", max_attempts=2) is Start.run
    assert state.start("a", worker="h:3", max_attempts=2) is Start.exhausted
    assert state.get("a").attempts == 2
    assert state.finish("a", JobStatus.succeeded, card={"version": 1})
    assert state.start("a", worker="h:4", max_attempts=2) is Start.skip


def test_the_first_outcome_wins(state: JobState) -> None:
    added(state, "a")
    state.start("a", worker="h:1", max_attempts=1)
    state.progress("a", {"epoch": 5})
    assert state.finish("a", JobStatus.succeeded, card={"version": 1})
    assert not state.finish("a", JobStatus.failed, error={"code": "x", "message": "late"})
    state.progress("a", {"epoch": 9})  # a late write from a second run: ignored
    job = state.get("a")
    assert (job.status, job.card, job.error) == (JobStatus.succeeded, {"version": 1}, None)
    assert job.progress == {"epoch": 5}
    assert job.duration is not None
    assert job.duration >= 0


def test_a_queued_cancel_is_final_and_a_running_one_is_a_request(state: JobState) -> None:
    added(state, "queued")
    added(state, "running")
    state.start("running", worker="h:1", max_attempts=1)
    cancelled = state.cancel("queued")
    assert cancelled.status is JobStatus.cancelled
    assert cancelled.error is not None
    assert "before it ran" in cancelled.error["message"]
    assert state.start("queued", worker="h:1", max_attempts=1) is Start.skip
    assert not state.cancel_requested("running")
    assert state.cancel("running").status is JobStatus.running
    assert state.cancel_requested("running")
    assert [job.id for job in state.unfinished()] == ["running"]


def test_counts_and_the_duration_histogram(state: JobState) -> None:
    for job_id in ("a", "b", "c"):
        added(state, job_id)
    state.finish("a", JobStatus.succeeded)
    state.finish("b", JobStatus.failed)
    state.finish("b", JobStatus.failed)  # a no-op: counted once
    counts = state.counts()
    assert (counts[JobStatus.succeeded], counts[JobStatus.failed]) == (1, 1)
    assert counts[JobStatus.queued] == 1
    outcomes = state.outcomes()
    assert outcomes["failed"]["count"] == 1
    assert outcomes["succeeded"]["1"] == 1  # finished within a second


def test_old_finished_jobs_are_forgotten(state: JobState) -> None:
    for index in range(5):
        added(state, f"j{index}")
        state.finish(f"j{index}", JobStatus.succeeded)
    added(state, "pending")
    assert [job.id for job in state.recent()] == ["pending", "j4", "j3", "j2"]
    assert state.outcomes()["succeeded"]["count"] == 5  # the histogram never forgets


def test_redis_down_is_a_503_that_says_so() -> None:
    state = RedisJobState(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(BrokerUnavailable, match=r"Redis at 127\.0\.0\.1:\d+/0\) does not answer"):
        state.get("a")
    assert BrokerUnavailable.status_code == 503


def test_redis_fails_the_running_jobs_of_a_silent_worker_node(redis_url: str) -> None:
    state = RedisJobState(redis_url, prefix=redis_prefix())
    try:
        for job_id in ("on-live", "on-dead", "queued"):
            added(state, job_id)
        state.beat("live@h")
        state.start("on-live", worker="h:1", max_attempts=1, node="live@h")
        state.start("on-dead", worker="h:2", max_attempts=1, node="dead@h")  # never beat
        assert state.reap(15.0) == ["on-dead"]
        assert state.get("on-dead").status is JobStatus.failed
        assert state.get("on-live").status is JobStatus.running
        assert state.get("queued").status is JobStatus.queued
    finally:
        for key in state.redis.scan_iter(state.prefix + "*"):
            state.redis.delete(key)
