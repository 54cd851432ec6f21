"""The Celery backend, API side: jobs are queued as Celery tasks on Redis and run by
`forecast-service worker` processes on any machine that mounts the store. This process never
runs a job, never imports TensorFlow and keeps no job in memory: any replica answers for any
job from the shared state."""

from __future__ import annotations

import contextlib
import logging
import uuid

from celery import Celery
from kombu.exceptions import OperationalError

from service.config import Settings
from service.errors import BrokerUnavailable, QueueFull, TrainingFailed
from service.jobs.backend import JobBackend
from service.jobs.celery_app import TASK, make_celery, queue_name, time_limits
from service.jobs.record import Job, error
from service.jobs.redis_state import RedisJobState
from service.jobs.runner import AnyRequest, kind_of
from service.jobs.status import JobStatus

log = logging.getLogger(__name__)
# A worker node beats every HEARTBEAT_SECONDS (worker.py); three missed beats and it is gone.
HEARTBEAT_SECONDS = 5.0
ALIVE_WITHIN = 3 * HEARTBEAT_SECONDS


class CeleryJobs(JobBackend):
    state: RedisJobState

    def __init__(
        self, state: RedisJobState, celery: Celery, *, queue: str, max_queued: int, timeout: float
    ) -> None:
        super().__init__(state)
        self.celery = celery
        self.queue = queue
        self.max_queued = max_queued
        self.timeout_seconds = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> CeleryJobs:
        state = RedisJobState(settings.redis_url, prefix=settings.redis_prefix)
        return cls(
            state,
            make_celery(settings),
            queue=queue_name(settings),
            max_queued=settings.max_queued_jobs,
            timeout=settings.job_timeout_seconds,
        )

    def ready(self) -> dict[str, bool]:
        """One Redis command: the heartbeats of worker nodes (cheaper than Celery's
        `inspect().ping()`, a broadcast that waits a second for replies)."""
        try:
            workers = self.state.workers_alive(ALIVE_WITHIN)
        except BrokerUnavailable:
            return {"broker": False, "workers": False}
        return {"broker": True, "workers": workers > 0}

    def submit(self, request: AnyRequest) -> Job:
        queued = sum(job.status is JobStatus.queued for job in self.state.unfinished())
        if queued >= self.max_queued:
            raise QueueFull(
                f"{queued} training jobs are waiting for a worker, the limit is "
                f"{self.max_queued} (FORECAST_MAX_QUEUED_JOBS); retry later"
            )
        kind = kind_of(request)
        job = Job(uuid.uuid4().hex, request.model_name, kind=kind)
        self.state.add(job)
        try:
            self.celery.send_task(
                TASK,
                args=[job.id, kind, request.model_dump_json(by_alias=True), self.timeout_seconds],
                task_id=job.id,  # so that revoke, logs and the job state share one id
                queue=self.queue,
                retry=False,
                **time_limits(self.timeout_seconds),
            )
        except OperationalError as failure:
            self._unqueued(job, failure)
        return job

    def _unqueued(self, job: Job, failure: Exception) -> None:
        message = f"the job queue did not take the job: {failure}"
        # If the record went with Redis, or reads as queued, nothing runs it either way.
        with contextlib.suppress(BrokerUnavailable):
            self.state.finish(job.id, JobStatus.failed, error=error(TrainingFailed.code, message))
        raise BrokerUnavailable(f"{message}; retry later") from None

    def cancel(self, job_id: str) -> Job:
        job = self.state.cancel(job_id)
        if job.status is JobStatus.cancelled:
            # Queued: a worker that takes the message drops it (revoked); one started later,
            # which never heard the broadcast, finds the job finished and skips it.
            try:
                self.celery.control.revoke(job_id)
            except OperationalError as failure:
                log.warning("revoke of job %s not broadcast: %s", job_id, failure)
        return job

    def shutdown(self) -> None:
        self.state.redis.close()
