from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from service.api.deps import JobsDep, SettingsDep, StoreDep
from service.api.responses import errors
from service.api.routing import JsonRoute
from service.api.security import Write
from service.schemas.jobs import JobAccepted
from service.schemas.train import TrainRequest, TrainResult
from service.usecases import training

router = APIRouter(tags=["train"], route_class=JsonRoute)


@router.post(
    "/train",
    dependencies=[Write],
    status_code=status.HTTP_201_CREATED,
    response_model=TrainResult,
    responses={
        202: {"model": JobAccepted, "description": 'Accepted as a job (`"async": true`).'},
        **errors(400, 401, 413, 429, 503),
    },
)
async def train(
    request: TrainRequest, jobs: JobsDep, store: StoreDep, settings: SettingsDep
) -> TrainResult | JSONResponse:
    """Train a model on the data and store it as the next version of `model_name`.

    Training runs in a worker process. By default the request waits for it and answers 201 with
    the metrics; with `"async": true` it answers 202 at once with a job to poll.
    """
    job = training.submit(request, jobs=jobs, store=store, settings=settings)
    if request.run_async:
        accepted = JobAccepted(job_id=job.id, status_url=f"/jobs/{job.id}")
        return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    return training.result_of(await jobs.wait(job.id))
