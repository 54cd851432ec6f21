from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fastapi import APIRouter, Response

from service.api.deps import CacheDep, StoreDep
from service.api.responses import errors
from service.api.routing import JsonRoute
from service.api.security import Read
from service.forecasting.ensemble import SeriesForecaster
from service.forecasting.metrics import mse
from service.schemas import ForecastRequest, ForecastResult, Interval, ModelCard, Values
from service.serving import ModelCache
from service.store import ModelStore
from service.validation import check_forecast_request

router = APIRouter(tags=["forecast"], route_class=JsonRoute)


@router.post(
    "/forecast",
    response_model=ForecastResult,
    dependencies=[Read],
    responses=errors(400, 401, 404, 409, 413),
)
def forecast(request: ForecastRequest, store: StoreDep, cache: CacheDep) -> Response:
    """One-step predictions for every window, the MSE against the actuals, and optionally a
    recursive forecast `horizon` steps past the end of the series.

    A plain `def`: FastAPI runs it in its thread pool, off the event loop.
    """
    version, forecaster, card = load_checked(request, store, cache)
    result = ForecastResult(
        model_name=request.model_name, version=version, predictions=[], mse=None
    )
    if request.series is not None:
        outcome = forecast_series(forecaster, request)
        result.predictions = _values(outcome.predictions)
        for name, value in outcome.scores.items():
            setattr(result, name, value)
        if outcome.ahead is not None:
            result.forecast = _values(outcome.ahead)
            result.intervals = _intervals(request, card, outcome.ahead)
    else:
        assert request.inputs is not None
        predictions = forecaster.predict(request.inputs)
        result.predictions = _values(predictions)
        if request.targets is not None:
            result.mse = mse(request.targets.reshape(predictions.shape), predictions)
    # Serialised once here: returning the model would have FastAPI validate it again.
    return Response(result.model_dump_json(), media_type="application/json")


def load_checked(
    request: ForecastRequest, store: ModelStore, cache: ModelCache
) -> tuple[int, SeriesForecaster, ModelCard]:
    """The version asked for, loaded, once the request is known to fit it."""
    version = store.resolve(request.model_name, request.version)
    loaded = cache.get(request.model_name, version)
    check_forecast_request(request, loaded.card)
    return version, loaded.forecaster, loaded.card


def _intervals(
    request: ForecastRequest, card: ModelCard, ahead: np.ndarray
) -> list[Interval] | None:
    if not request.levels:
        return None
    calibration = card.calibration
    assert calibration is not None, "check_forecast_request refuses levels without it"
    out = []
    for level in request.levels:
        width = calibration.half_width(level, len(ahead))
        out.append(
            Interval(level=level, lower=_values(ahead - width), upper=_values(ahead + width))
        )
    return out


@dataclass(frozen=True)
class SeriesOutcome:
    predictions: np.ndarray  # one per window, in original units
    scores: dict[str, float | None]  # mse and the baselines', when windows have next values
    ahead: np.ndarray | None  # the recursive forecast past the end, when a horizon was asked


def forecast_series(forecaster: SeriesForecaster, request: ForecastRequest) -> SeriesOutcome:
    assert request.series is not None
    evaluation = forecaster.evaluate(request.series, stride=request.stride)
    ahead = None
    if request.horizon:
        ahead = forecaster.forecast(request.series, horizon=request.horizon)
    scores = evaluation.scores(forecaster.prep.season_length)
    return SeriesOutcome(evaluation.predictions, scores, ahead)


def _values(array: np.ndarray) -> Values:
    """A flat list for a single target (as the lecture's `y_pred.flatten()`), else rows."""
    return array[:, 0].tolist() if array.shape[1] == 1 else array.tolist()
