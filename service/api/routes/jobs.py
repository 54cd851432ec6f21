from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import JobsDep
from service.api.responses import errors
from service.api.security import Read, Write
from service.jobs import Job, JobStatus
from service.schemas.backtest import BacktestResult
from service.schemas.jobs import JobError, JobProgress, JobPublic, JobsPublic
from service.schemas.train import TrainResult
from service.store.card import ModelCard

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=errors(401, 404, 503))


@router.get("", response_model=JobsPublic, dependencies=[Read])
def list_jobs(jobs: JobsDep) -> JobsPublic:
    """Recent jobs (trainings and refit backtests), newest first."""
    data = [job_public(job) for job in jobs.list()]
    return JobsPublic(data=data, count=len(data))


@router.get("/{job_id}", response_model=JobPublic, dependencies=[Read])
def get_job(job_id: str, jobs: JobsDep) -> JobPublic:
    """A job's status, its progress while running, and its result or error when finished."""
    return job_public(jobs.get(job_id))


@router.post("/{job_id}/cancel", response_model=JobPublic, dependencies=[Write])
def cancel_job(job_id: str, jobs: JobsDep) -> JobPublic:
    """Cancel a job: at once if it is queued, at its next chunk of epochs if it is running.
    Nothing is stored for a cancelled job, and the job stays readable at `GET /jobs/{id}`
    (status `cancelled`), so that whoever waits on it learns of the cancel. Cancelling a
    finished job changes nothing."""
    return job_public(jobs.cancel(job_id))


@router.delete("/{job_id}", response_model=JobPublic, dependencies=[Write], responses=errors(409))
def delete_job(job_id: str, jobs: JobsDep) -> JobPublic:
    """Delete a finished job's record (its stored version, if any, stays); answers the job as
    it was. A queued or running job answers 409: cancel it first."""
    return job_public(jobs.forget(job_id))


def job_public(job: Job) -> JobPublic:
    result = None
    if job.status is JobStatus.succeeded and job.card is not None:
        result = TrainResult.from_card(ModelCard.model_validate(job.card))
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
