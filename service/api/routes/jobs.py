from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from service.api.deps import JobsDep
from service.api.responses import errors
from service.api.security import Read, Write
from service.jobs import Job, JobStatus
from service.schemas.backtest import BacktestResult
from service.schemas.jobs import JobError, JobProgress, JobPublic, JobsPublic, JobSummary
from service.schemas.train import HISTORY_DETAIL, HistoryDetail, TrainResult
from service.store.card import ModelCard

# Past any job store's count, and within SQLite's 64-bit integers (a larger offset was a 500).
MAX_OFFSET = 1_000_000_000

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=errors(401, 404, 503))

_ID = "3f2b8c1e9a4d4f6b8e2c7a1d5b9f0e34"  # uuid4().hex, as a job id is made
JobIdPath = Annotated[
    str,
    Path(
        description='The job\'s id, as POST /train with `"async": true` answered it.',
        openapi_examples={
            "job": {
                "summary": "an id as the service makes them",
                "value": "3f2b8c1e9a4d4f6b8e2c7a1d5b9f0e34",
            }
        },
    ),
]
HistoryQuery = Annotated[HistoryDetail, Query(description=HISTORY_DETAIL)]


@router.get("", response_model=JobsPublic, dependencies=[Read])
def list_jobs(
    jobs: JobsDep,
    status: Annotated[JobStatus | None, Query(description="Only the jobs in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Jobs on this page.")] = 20,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Jobs skipped, newest first.")
    ] = 0,
) -> JobsPublic:
    """Recent jobs (trainings, refit backtests, uploads), newest first: each one's state, not
    its result, which GET /jobs/{id} gives. `count` is how many match in all."""
    found, count = jobs.page(status=status, limit=limit, offset=offset)
    data = [job_summary(job) for job in found]
    return JobsPublic(data=data, count=count, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobPublic, dependencies=[Read])
def get_job(job_id: JobIdPath, jobs: JobsDep, history: HistoryQuery = "summary") -> JobPublic:
    """A job's status, its progress while running, and its result or error when finished."""
    return job_public(jobs.get(job_id), history=history)


@router.post("/{job_id}/cancel", response_model=JobPublic, dependencies=[Write])
def cancel_job(job_id: JobIdPath, jobs: JobsDep) -> JobPublic:
    """Cancel a job: at once if it is queued, at its next chunk of epochs if it is running.
    Nothing is stored for a cancelled job, and the job stays readable at `GET /jobs/{id}`
    (status `cancelled`), so that whoever waits on it learns of the cancel. Cancelling a
    finished job changes nothing."""
    return job_public(jobs.cancel(job_id))


@router.delete("/{job_id}", response_model=JobPublic, dependencies=[Write], responses=errors(409))
def delete_job(job_id: JobIdPath, jobs: JobsDep) -> JobPublic:
    """Delete a finished job's record (its stored version, if any, stays); answers the job as
    it was. A queued or running job answers 409: cancel it first."""
    return job_public(jobs.forget(job_id))


def job_summary(job: Job) -> JobSummary:
    stored = job.card.get("version") if job.status is JobStatus.succeeded and job.card else None
    return JobSummary(
        job_id=job.id,
        model_name=job.model_name,
        kind=job.kind,
        status=job.status,
        created_at=job.created,
        started_at=job.started_at,
        finished_at=job.finished_at,
        version=stored,
        progress=JobProgress.model_validate(job.progress) if job.progress else None,
        error=JobError.model_validate(job.error) if job.error else None,
        url=f"/jobs/{job.id}",
    )


def job_public(job: Job, *, history: HistoryDetail = "summary") -> JobPublic:
    result = None
    if job.status is JobStatus.succeeded and job.card is not None:
        result = TrainResult.from_card(ModelCard.model_validate(job.card), history=history)
    backtest = None
    if job.status is JobStatus.succeeded and job.backtest is not None:
        backtest = BacktestResult.model_validate(job.backtest)
    return JobPublic(
        job_id=job.id,
        model_name=job.model_name,
        kind=job.kind,
        backtest=backtest,
        status=job.status,
        created_at=job.created,
        started_at=job.started_at,
        finished_at=job.finished_at,
        progress=JobProgress.model_validate(job.progress) if job.progress else None,
        result=result,
        error=JobError.model_validate(job.error) if job.error else None,
    )
