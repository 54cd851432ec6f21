from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from service.api.csv_body import CsvRoute, csv_body
from service.api.deps import CacheDep, SettingsDep, StoreDep
from service.api.responses import errors
from service.api.security import Read
from service.schemas.forecast import ForecastRequest, ForecastResult
from service.store.names import ALIAS_PATTERN, MODEL_NAME_PATTERN
from service.usecases import forecasting

router = APIRouter(tags=["forecast"], route_class=CsvRoute)

_CSV_FIELDS: dict[str, dict[str, Any]] = {
    "model_name": {"type": "string", "pattern": MODEL_NAME_PATTERN},
    "version": {
        "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": ALIAS_PATTERN}],
        "description": "CSV only: a version number or an alias.",
    },
    "horizon": {"type": "integer", "minimum": 0},
    "levels": {
        "type": "string",
        "pattern": r"^[1-9][0-9]?(\.[0-9]{1,3})?(,[1-9][0-9]?(\.[0-9]{1,3})?){0,9}$",
        "description": "CSV only: percentages separated by commas, e.g. 80,95.",
    },
    "stride": {"type": "integer", "minimum": 1},
    "freq": {"type": "string"},
}


@router.post(
    "/forecast",
    response_model=ForecastResult,
    dependencies=[Read],
    responses=errors(400, 401, 404, 409, 413),
    openapi_extra=csv_body(fields=_CSV_FIELDS),
)
async def forecast(
    request: ForecastRequest, store: StoreDep, cache: CacheDep, settings: SettingsDep
) -> Response:
    """One-step predictions for every window, the MSE against the actuals, and optionally a
    recursive forecast `horizon` steps past the end of the series.

    Rules against the stored model, beyond the schema (422 naming the field): `inputs` have its
    window's timesteps and features, `targets` a row per window of its outputs; the series is at
    least one window long (after the version's transforms), with the model's features; a
    recursive `horizon` needs a model predicting every column; `levels` need intervals stored
    with the version.

    Also takes a `text/csv` body (as `POST /train` does): `timestamp_column` and
    `value_columns` and the other fields as query parameters.

    A small request for a loaded version runs on the event loop (`forecasting.runs_inline`);
    the rest in the thread pool, off it.
    """
    if forecasting.runs_inline(request, store=store, cache=cache):
        result = forecasting.forecast(request, store=store, cache=cache, settings=settings)
    else:
        result = await run_in_threadpool(
            forecasting.forecast, request, store=store, cache=cache, settings=settings
        )
    # Serialised once here: returning the model would have FastAPI validate it again.
    return Response(result.model_dump_json(), media_type="application/json")
