from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from service.api.deps import JobsDep, StoreDep

router = APIRouter(tags=["system"])

Checks = dict[str, bool]
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": Checks, "description": "Not ready: the checks, by name."}
}


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is alive. (`async`: nothing to do, so no hop to the thread pool.)"""
    return {"status": "ok"}


@router.get("/ready", responses=NOT_READY)
def ready(store: StoreDep, jobs: JobsDep, response: Response) -> Checks:
    """Ready to serve forecasts and models: 200 when the store is readable, else 503.

    The training checks (`workers`, and `broker` with Celery) are reported but do not make it
    503: forecasts are served without a training worker, so a load balancer should not drop
    this replica while its worker starts, is replaced or Redis is away. `/ready/training` is
    the signal for "can train now"."""
    checks = {"store": store.readable(), **jobs.ready()}
    if not checks["store"]:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return checks


@router.get("/ready/training", responses=NOT_READY)
def ready_to_train(store: StoreDep, jobs: JobsDep, response: Response) -> Checks:
    """Ready to train now: the store is readable and a training worker (with Celery: the broker
    and at least one worker) answers; else 503. A training sent meanwhile waits in the queue."""
    checks = {"store": store.readable(), **jobs.ready()}
    if not all(checks.values()):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return checks
