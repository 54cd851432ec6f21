from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Response

from service.api.deps import CacheDep, StoreDep
from service.api.responses import errors
from service.api.security import Read
from service.forecasting.inference import Forecaster
from service.forecasting.pipeline import mse
from service.schemas import ForecastRequest, ForecastResult, Values
from service.validation import check_forecast_request

router = APIRouter(tags=["forecast"])


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
    version = store.resolve(request.model_name, request.version)
    loaded = cache.get(request.model_name, version)
    check_forecast_request(request, loaded.card)
    forecaster = loaded.forecaster
    result = ForecastResult(
        model_name=request.model_name, version=version, predictions=[], mse=None
    )
    if request.series is not None:
        _series_predictions(forecaster, request, result)
    else:
        assert request.inputs is not None
        predictions = forecaster.predict(request.inputs)
        result.predictions = _values(predictions)
        if request.targets is not None:
            result.mse = mse(request.targets.reshape(predictions.shape), predictions)
    # Serialised once here: returning the model would have FastAPI validate it again.
    return Response(result.model_dump_json(), media_type="application/json")


def _series_predictions(
    forecaster: Forecaster, request: ForecastRequest, result: ForecastResult
) -> None:
    assert request.series is not None
    windows = forecaster.windows(request.series, stride=request.stride)
    predictions = forecaster.predict(windows.inputs)
    result.predictions = _values(predictions)
    if len(windows):
        result.mse = mse(windows.targets, predictions)
        assert windows.naive is not None
        result.naive_mse = mse(windows.targets, windows.naive)
    if request.horizon:
        result.forecast = _values(forecaster.forecast(request.series, horizon=request.horizon))


def _values(array: np.ndarray) -> Values:
    """A flat list for a single target (as the lecture's `y_pred.flatten()`), else rows."""
    return array[:, 0].tolist() if array.shape[1] == 1 else array.tolist()
