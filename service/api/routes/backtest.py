from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import CacheDep, JobsDep, SettingsDep, StoreDep
from service.api.responses import errors
from service.api.routing import JsonRoute
from service.api.security import Read, RefitKeyHeader, require_write
from service.schemas.backtest import BacktestRequest, BacktestResult
from service.schemas.jobs import JobAccepted
from service.usecases import backtesting

router = APIRouter(tags=["forecast"], route_class=JsonRoute)


@router.post(
    "/backtest",
    response_model=BacktestResult,
    dependencies=[Read],
    responses={
        202: {
            "model": JobAccepted,
            "description": 'A refit backtest accepted as a job (`"async": true`).',
        },
        **errors(400, 401, 404, 409, 413, 429, 503),
    },
)
async def backtest(
    request: BacktestRequest,
    store: StoreDep,
    cache: CacheDep,
    jobs: JobsDep,
    settings: SettingsDep,
    key: RefitKeyHeader,
) -> BacktestResult | JSONResponse:
    """Rolling-origin evaluation of a stored model: from each of the last `origins` origins of
    the series, forecast `horizon` steps (recursively, from the history before the origin) and
    compare with what followed; the naive, seasonal naive and drift forecasts from the same
    origins are scored beside it. MASE scales by the in-sample (seasonal) naive error.
    With `refit`, the version's spec is trained afresh on the history before each origin (one
    training per origin, in a training worker, like `/train`, and so with the write key when
    one is set; `"async": true` answers 202 with a job to poll at `/jobs/{id}`).

    Rules beyond the schema (422 naming the field): the series holds the model's window before
    the first origin plus `origins` + `horizon` - 1 values after it, with the model's features;
    origins x horizon stays under FORECAST_MAX_HORIZON; a refit stays under
    FORECAST_MAX_REFIT_ORIGINS origins and FORECAST_MAX_REFIT_TRAININGS trainings.
    """
    if not request.refit:
        return await run_in_threadpool(
            backtesting.backtest_stored, request, store=store, cache=cache, settings=settings
        )
    await require_write(settings, key)
    refit = await run_in_threadpool(
        backtesting.refit_request, request, store=store, settings=settings
    )
    job = jobs.submit(refit)
    if request.run_async:
        accepted = JobAccepted(job_id=job.id, status_url=f"/jobs/{job.id}")
        return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    job = await jobs.wait(job.id)
    job.raise_error()
    return BacktestResult.model_validate(job.backtest)
