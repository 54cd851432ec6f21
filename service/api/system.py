from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.api.deps import JobsDep, StoreDep

router = APIRouter(tags=["system"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Not ready to serve yet."}})
def ready(store: StoreDep, jobs: JobsDep, response: Response) -> dict[str, bool]:
    """Ready when the store is readable and a training worker is up."""
    checks = {"store": store.readable(), "workers": jobs.ready()}
    if not all(checks.values()):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return checks
