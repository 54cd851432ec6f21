from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CacheDep, StoreDep
from service.api.responses import errors
from service.api.security import Read
from service.forecasting.evaluation import (
    baseline_forecasts,
    mase_scale,
    rolling_forecasts,
    scores,
)
from service.schemas import BacktestRequest, BacktestResult
from service.validation import check_series

router = APIRouter(tags=["forecast"])


@router.post(
    "/backtest",
    response_model=BacktestResult,
    dependencies=[Read],
    responses=errors(400, 401, 404, 409, 413),
)
def backtest(request: BacktestRequest, store: StoreDep, cache: CacheDep) -> BacktestResult:
    """Rolling-origin evaluation of a stored model: from each of the last `origins` origins of
    the series, forecast `horizon` steps (recursively, from the history before the origin) and
    compare with what followed; the naive, seasonal naive and drift forecasts from the same
    origins are scored beside it. MASE scales by the in-sample (seasonal) naive error."""
    version = store.resolve(request.model_name, request.version)
    loaded = cache.get(request.model_name, version)
    check_series(request.series, loaded.card, horizon=request.horizon, backtest=True)
    season = request.season_length or loaded.card.preprocessing.season_length
    rolled = rolling_forecasts(
        loaded.forecaster, request.series, horizon=request.horizon, count=request.origins
    )
    scale = mase_scale(request.series, rolled.origins[0], season)
    baselines = {
        name: scores(rolled.actuals, forecast, scale=scale)
        for name, forecast in baseline_forecasts(
            request.series, rolled.origins, horizon=request.horizon, season_length=season
        ).items()
    }
    model = scores(rolled.actuals, rolled.forecasts, scale=scale)
    best = min(b.mse for b in baselines.values())
    return BacktestResult(
        model_name=request.model_name,
        version=version,
        horizon=request.horizon,
        origins=rolled.origins,
        model=model,
        baselines=baselines,
        skill=model.mse / best if best > 0 else None,
    )
