"""PNG plots: a version's training curve, and a forecast drawn over the series it was made from.

Plain `def` endpoints: rendering is CPU work, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from service import plots
from service.api.deps import CacheDep, StoreDep, VersionDep
from service.api.forecast import forecast_series, load_checked
from service.api.responses import errors
from service.api.routing import JsonRoute
from service.api.security import Read
from service.errors import InvalidInput, NotTrained
from service.schemas import ForecastRequest

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
    card = store.card(name, version)
    if card.upload is not None:
        raise NotTrained(f"model {name}@{version} was uploaded: it has no training loss to plot")
    png = plots.training_plot(card, width=width, height=height)
    return Response(content=png, media_type="image/png")


@router.post("/forecast/plot", response_class=Response, responses=PNG, dependencies=[Read])
def forecast_plot(
    request: ForecastRequest,
    store: StoreDep,
    cache: CacheDep,
    width: Width = 900,
    height: Height = 500,
) -> Response:
    """What `POST /forecast` computes for a `series`, drawn: the series, the one-step
    predictions at the steps they predict, and the `horizon` forecast past its end."""
    if request.series is None:
        raise InvalidInput(
            "a plot needs `series`; ready-made `inputs` have no time axis", field="series"
        )
    version, forecaster, _ = load_checked(request, store, cache)
    outcome = forecast_series(forecaster, request)
    title = f"{request.model_name}@{version}"
    if outcome.scores:
        scores = outcome.scores
        title += f": one-step MSE {scores['mse']:.3g} (naive {scores['naive_mse']:.3g})"
    if request.horizon:
        title += f", {request.horizon}-step forecast"
    assert forecaster.prep.window is not None  # load_checked: a series model
    png = plots.forecast_plot(
        request.series,
        outcome.predictions,
        outcome.ahead,
        # The first window's target: after the window and the rows the transforms use up.
        window_length=forecaster.min_history,
        stride=request.stride,
        target_columns=forecaster.prep.target_columns,
        width=width,
        height=height,
        title=title,
    )
    return Response(content=png, media_type="image/png")
