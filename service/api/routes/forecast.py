from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import CacheDep, SettingsDep, StoreDep
from service.api.responses import errors
from service.api.routing import JsonRoute
from service.api.security import Read
from service.schemas.forecast import ForecastRequest, ForecastResult
from service.usecases import forecasting

router = APIRouter(tags=["forecast"], route_class=JsonRoute)


@router.post(
    "/forecast",
    response_model=ForecastResult,
    dependencies=[Read],
    responses=errors(400, 401, 404, 409, 413),
)
def forecast(
    request: ForecastRequest, store: StoreDep, cache: CacheDep, settings: SettingsDep
) -> Response:
    """One-step predictions for every window, the MSE against the actuals, and optionally a
    recursive forecast `horizon` steps past the end of the series.

    Rules against the stored model, beyond the schema (422 naming the field): `inputs` have its
    window's timesteps and features, `targets` a row per window of its outputs; the series is at
    least one window long (after the version's transforms), with the model's features; a
    recursive `horizon` needs a model predicting every column; `levels` need intervals stored
    with the version.

    A plain `def`: FastAPI runs it in its thread pool, off the event loop.
    """
    result = forecasting.forecast(request, store=store, cache=cache, settings=settings)
    # Serialised once here: returning the model would have FastAPI validate it again.
    return Response(result.model_dump_json(), media_type="application/json")
