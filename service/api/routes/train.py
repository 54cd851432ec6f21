from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from service.api.csv_body import CsvRoute, csv_body
from service.api.deps import JobsDep, SettingsDep, StoreDep
from service.api.responses import errors
from service.api.security import Write
from service.schemas.jobs import JobAccepted
from service.schemas.train import TrainRequest, TrainResult
from service.store.names import MODEL_NAME_PATTERN
from service.usecases import training

router = APIRouter(tags=["train"], route_class=CsvRoute)

_CSV_FIELDS: dict[str, dict[str, Any]] = {
    "model_name": {"type": "string", "pattern": MODEL_NAME_PATTERN},
    "spec": {"type": "string", "description": 'CSV only: the spec as JSON, e.g. {"epochs": 50}.'},
    "freq": {"type": "string"},
    "missing": {"type": "string", "enum": ["error", "interpolate"]},
    "description": {"type": "string", "maxLength": 2000},
}


@router.post(
    "/train",
    dependencies=[Write],
    status_code=status.HTTP_201_CREATED,
    response_model=TrainResult,
    responses={
        202: {"model": JobAccepted, "description": 'Accepted as a job (`"async": true`).'},
        **errors(400, 401, 409, 413, 429, 503),
    },
    openapi_extra=csv_body(fields=_CSV_FIELDS),
)
async def train(
    request: TrainRequest, jobs: JobsDep, store: StoreDep, settings: SettingsDep
) -> TrainResult | JSONResponse:
    """Train a model on the data and store it as the next version of `model_name`.

    Training runs in a worker process. By default the request waits for it and answers 201 with
    the metrics; with `"async": true` it answers 202 at once with a job to poll.

    Rules across fields, beyond the schema (422 naming the field): the series (after its
    transforms) holds at least one window, and `test_series` one more; `targets` and
    `test_targets` have a row per window; `test_series` has the series' columns;
    `spec.target_columns` are columns of the series, once each, in increasing order; transforms,
    window normalisation and `auto` need `series`; windows x epochs x units stays under
    FORECAST_MAX_TRAINING_WORK (and each limit of the settings under its FORECAST_ name).

    Also takes a `text/csv` body: a header row, the `timestamp_column` and `value_columns`
    named as query parameters, the other fields as query parameters too; empty cells are
    missing values.
    """
    job = training.submit(request, jobs=jobs, store=store, settings=settings)
    if request.run_async:
        accepted = JobAccepted(job_id=job.id, status_url=f"/jobs/{job.id}")
        return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    return training.result_of(await jobs.wait(job.id), history=request.history)
