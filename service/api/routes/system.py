from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.api.deps import JobsDep, StoreDep

router = APIRouter(tags=["system"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is alive. (`async`: nothing to do, so no hop to the thread pool.)"""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Not ready to serve yet."}})
def ready(store: StoreDep, jobs: JobsDep, response: Response) -> dict[str, bool]:
    """Ready when the store is readable and, with the local backend, a training worker is up.
    With Celery the answer also says whether the broker (Redis) and at least one worker
    answer, but a replica that cannot train still serves forecasts: it stays ready (200)."""
    job_checks = jobs.ready()
    checks = {"store": store.readable(), **job_checks}
    if not checks["store"] or (jobs.gates_readiness and not all(job_checks.values())):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return checks
