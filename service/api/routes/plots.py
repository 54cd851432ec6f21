"""PNG plots: a version's training curve, and a forecast drawn over the series it was made from.

Plain `def` endpoints: rendering is CPU work, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from service.api.deps import CacheDep, SettingsDep, StoreDep, VersionDep
from service.api.responses import errors
from service.api.routing import JsonRoute
from service.api.security import Read
from service.schemas.forecast import ForecastRequest
from service.usecases import plots

router = APIRouter(tags=["plots"], route_class=JsonRoute)

Width = Annotated[int, Query(ge=200, le=3000, description="Image width in pixels.")]
Height = Annotated[int, Query(ge=150, le=2000, description="Image height in pixels.")]
PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "A PNG image."},
    **errors(400, 401, 404, 409, 413),
}


@router.get(
    "/models/{name}/versions/{version}/plot.png",
    response_class=Response,
    responses=PNG,
    dependencies=[Read],
)
def version_plot(
    model: VersionDep, store: StoreDep, width: Width = 900, height: Height = 500
) -> Response:
    """The version's training loss per epoch (log scale), with `val_loss` when it was trained
    with a validation fraction."""
    name, version = model
    png = plots.plot_training(store, name, version, width=width, height=height)
    return Response(content=png, media_type="image/png")


@router.post("/forecast/plot", response_class=Response, responses=PNG, dependencies=[Read])
def forecast_plot(
    request: ForecastRequest,
    store: StoreDep,
    cache: CacheDep,
    settings: SettingsDep,
    width: Width = 900,
    height: Height = 500,
) -> Response:
    """What `POST /forecast` computes for a `series`, drawn: the series, the one-step
    predictions at the steps they predict, and the `horizon` forecast past its end. The
    body and its rules are those of `POST /forecast`."""
    png = plots.plot_forecast(
        request, store=store, cache=cache, settings=settings, width=width, height=height
    )
    return Response(content=png, media_type="image/png")
