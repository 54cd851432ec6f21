"""The one interface the routers see: submit, wait, get, list, cancel, ready. No Future, pid or
Celery object crosses it; every answer is a `Job` read from the shared state, so whichever API
process a request reaches answers the same."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from service.errors import BrokerUnavailable, JobUnfinished
from service.jobs.record import Job
from service.jobs.state import JobState, Outcomes
from service.jobs.status import JobStatus
from service.schemas.backtest import BacktestRequest
from service.schemas.train import TrainRequest
from service.schemas.upload import UploadRequest

if TYPE_CHECKING:
    from service.config import Settings

# A waiting request polls the shared state: often at first (a small training is done in well
# under a second), then at most every quarter second.
_POLL_FIRST, _POLL_MAX = 0.01, 0.25


class JobBackend(ABC):
    def __init__(self, state: JobState) -> None:
        self.state = state

    def start(self) -> None:  # noqa: B027 (optional: a no-op where others run the jobs)
        """Start what runs the jobs (workers, watchdogs)."""

    def shutdown(self) -> None:  # noqa: B027
        """Stop what `start` started."""

    @abstractmethod
    def ready(self) -> dict[str, bool]:
        """Checks for /ready, by name: whether jobs can run now."""

    @abstractmethod
    def submit(self, request: TrainRequest | BacktestRequest | UploadRequest) -> Job:
        """Queue a training, a refit backtest (whose `version` is resolved already), or the
        loading of an uploaded model."""

    async def wait(self, job_id: str) -> Job:
        """Until the job is finished, wherever it runs."""
        delay = _POLL_FIRST
        try:
            while not (job := await run_in_threadpool(self.get, job_id)).status.finished:
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, _POLL_MAX)
        except BrokerUnavailable as error:
            raise BrokerUnavailable(
                f"{error.message}. Job {job_id} may still finish: GET /jobs/{job_id} once it "
                "answers again"
            ) from None
        return job

    def get(self, job_id: str) -> Job:
        return self.state.get(job_id)

    def cancel(self, job_id: str) -> Job:
        """At once if it is queued, at its next chunk of epochs if it is running."""
        return self.state.cancel(job_id)

    def forget(self, job_id: str) -> Job:
        """Delete a finished job's record; an unfinished job is to be cancelled first."""
        job = self.get(job_id)
        if not job.status.finished:
            raise JobUnfinished(
                f"job {job_id} is {job.status.value}: cancel it first "
                f"(POST /jobs/{job_id}/cancel), then delete it once it has finished",
                field="job_id",
            )
        self.state.forget(job_id)
        return job

    def counts(self) -> dict[JobStatus, int]:
        return self.state.counts()

    def outcomes(self) -> Outcomes:
        return self.state.outcomes()

    def page(
        self, *, status: JobStatus | None = None, limit: int = 20, offset: int = 0
    ) -> tuple[list[Job], int]:
        """Recent jobs, newest first, from `offset`; and how many match in all."""
        return self.state.page(status=status, limit=limit, offset=offset)

    def list(self) -> list[Job]:  # last: the name shadows the builtin in the class body
        """Recent jobs, newest first."""
        return self.state.recent()


def open_backend(settings: Settings) -> JobBackend:
    """The backend the settings name; Celery is imported only when it is the one."""
    if settings.jobs_backend == "celery":
        from service.jobs.celery_backend import CeleryJobs

        return CeleryJobs.from_settings(settings)
    from service.jobs.local import LocalJobs

    return LocalJobs.from_settings(settings)
