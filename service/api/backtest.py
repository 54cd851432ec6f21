from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import CacheDep, JobsDep, StoreDep
from service.api.responses import errors
from service.api.routing import JsonRoute
from service.api.security import KeyHeader, Read, require_write
from service.backtesting import min_refit_history, season_of, summarize
from service.config import get_settings
from service.errors import InvalidInput, NotTrained
from service.forecasting.evaluation import rolling_forecasts
from service.schemas import BacktestRequest, BacktestResult, JobAccepted
from service.serving import ModelCache
from service.store import ModelStore
from service.validation import check_series

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
    http: Request,
    key: KeyHeader,
) -> BacktestResult | JSONResponse:
    """Rolling-origin evaluation of a stored model: from each of the last `origins` origins of
    the series, forecast `horizon` steps (recursively, from the history before the origin) and
    compare with what followed; the naive, seasonal naive and drift forecasts from the same
    origins are scored beside it. MASE scales by the in-sample (seasonal) naive error.

    With `refit`, the version's spec is trained afresh on the history before each origin (one
    training per origin, in a training worker, like `/train`, and so with the write key when
    one is set; `"async": true` answers 202 with a job to poll at `/jobs/{id}`).
    """
    if not request.refit:
        return await run_in_threadpool(_fixed, request, store, cache)
    await require_write(http, key)
    version = await run_in_threadpool(_refit_version, request, store)
    job = jobs.submit(request.model_copy(update={"version": version}))
    if request.run_async:
        accepted = JobAccepted(job_id=job.id, status_url=f"/jobs/{job.id}")
        return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    job = await jobs.wait(job.id)
    job.raise_error()
    return BacktestResult.model_validate(job.backtest)


def _refit_version(request: BacktestRequest, store: ModelStore) -> int:
    """The version to refit, once the series is known to fit it and to leave enough history
    before the first origin to train on."""
    version = store.resolve(request.model_name, request.version)
    card = store.card(request.model_name, version)
    if card.upload is not None:
        raise NotTrained(
            f"model {request.model_name}@{version} was uploaded, not trained here: a refit "
            "backtest needs its training recipe; backtest it with refit=false"
        )
    check_series(request.series, card, horizon=request.horizon, backtest=True)
    networks = 1 + len(card.ensemble)
    limit = get_settings().max_refit_trainings
    if request.origins * networks > limit:
        raise InvalidInput(
            f"model {request.model_name}@{version} has {networks} networks to retrain per "
            f"origin: {request.origins} origins would be {request.origins * networks} "
            f"trainings, the limit is {limit} (FORECAST_MAX_REFIT_TRAININGS); give at most "
            f"{limit // networks} origins",
            field="origins",
        )
    first = len(request.series) - request.horizon - request.origins + 1
    if first < min_refit_history(card):
        raise InvalidInput(
            f"the first of {request.origins} origins leaves {max(first, 0)} rows of history to "
            f"train on; model {request.model_name}@{version} needs {min_refit_history(card)}: "
            "give fewer origins or a longer series",
            field="origins",
        )
    return version


def _fixed(request: BacktestRequest, store: ModelStore, cache: ModelCache) -> BacktestResult:
    version = store.resolve(request.model_name, request.version)
    loaded = cache.get(request.model_name, version)
    check_series(request.series, loaded.card, horizon=request.horizon, backtest=True)
    rolled = rolling_forecasts(
        loaded.forecaster, request.series, horizon=request.horizon, count=request.origins
    )
    return summarize(request, version, rolled, season_of(request, loaded.card))
