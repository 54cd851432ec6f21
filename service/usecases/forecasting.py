"""Forecasts from a stored version: one-step predictions per window, the MSE against the
actuals beside the baselines, a recursive horizon and its intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.config import Settings
from service.forecasting.ensemble import SeriesForecaster
from service.forecasting.metrics import mse
from service.schemas.forecast import ForecastRequest, ForecastResult, Interval, Values
from service.serving.cache import ModelCache
from service.store.card import ModelCard
from service.store.local import ModelStore
from service.usecases.checks import check_forecast_limits, check_forecast_request


@dataclass(frozen=True)
class SeriesOutcome:
    predictions: np.ndarray  # one per window, in original units
    scores: dict[str, float | None]  # mse and the baselines', when windows have next values
    ahead: np.ndarray | None  # the recursive forecast past the end, when a horizon was asked


def forecast(
    request: ForecastRequest, *, store: ModelStore, cache: ModelCache, settings: Settings
) -> ForecastResult:
    version, forecaster, card = load_checked(request, store=store, cache=cache, settings=settings)
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
            result.intervals = intervals(request, card, outcome.ahead)
    else:
        assert request.inputs is not None
        predictions = forecaster.predict(request.inputs)
        result.predictions = _values(predictions)
        if request.targets is not None:
            result.mse = mse(request.targets.reshape(predictions.shape), predictions)
    return result


def load_checked(
    request: ForecastRequest, *, store: ModelStore, cache: ModelCache, settings: Settings
) -> tuple[int, SeriesForecaster, ModelCard]:
    """The version asked for, loaded, once the request is known to fit it."""
    check_forecast_limits(request, settings)
    version = store.resolve(request.model_name, request.version)
    loaded = cache.get(request.model_name, version)
    check_forecast_request(request, loaded.card, settings)
    return version, loaded.forecaster, loaded.card


def forecast_series(forecaster: SeriesForecaster, request: ForecastRequest) -> SeriesOutcome:
    assert request.series is not None
    evaluation = forecaster.evaluate(request.series, stride=request.stride)
    ahead = None
    if request.horizon:
        ahead = forecaster.forecast(request.series, horizon=request.horizon)
    scores = evaluation.scores(forecaster.prep.season_length)
    return SeriesOutcome(evaluation.predictions, scores, ahead)


def intervals(
    request: ForecastRequest, card: ModelCard, ahead: np.ndarray
) -> list[Interval] | None:
    """The bounds per `levels` around the horizon forecast, from the card's calibration."""
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


def _values(array: np.ndarray) -> Values:
    """A flat list for a single target (as the lecture's `y_pred.flatten()`), else rows."""
    values: Values = array[:, 0].tolist() if array.shape[1] == 1 else array.tolist()
    return values
