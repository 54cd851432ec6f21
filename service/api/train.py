from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from service.api.deps import JobsDep, StoreDep, check_room
from service.api.responses import errors
from service.api.routing import JsonRoute
from service.api.security import Write
from service.jobs import Job
from service.schemas import JobAccepted, ModelCard, TrainRequest, TrainResult

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
    request: TrainRequest, jobs: JobsDep, store: StoreDep
) -> TrainResult | JSONResponse:
    """Train a model on the data and store it as the next version of `model_name`.

    Training runs in a worker process. By default the request waits for it and answers 201 with
    the metrics; with `"async": true` it answers 202 at once with a job to poll.
    """
    check_room(store, request.model_name)
    job = jobs.submit(request)
    if request.run_async:
        accepted = JobAccepted(job_id=job.id, status_url=f"/jobs/{job.id}")
        return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    return result_of(await jobs.wait(job.id))


def result_of(job: Job) -> TrainResult:
    job.raise_error()
    assert job.card is not None
    return TrainResult.from_card(ModelCard.model_validate(job.card))
