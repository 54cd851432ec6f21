"""Forecasts from a stored version: one-step predictions per window, the MSE against the
actuals beside the baselines, a recursive horizon and its intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.config import Settings
from service.errors import InvalidInput
from service.forecasting.calendar import Calendar, parse_freq, parse_timestamp
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
        if request.calendar is not None:
            at = forecaster.min_history + request.stride * np.arange(len(outcome.predictions))
            _date(result, request.calendar, predicted_at=at)
    elif request.inputs is None:
        ahead = forecaster.forecast(stored_history(store, card), horizon=request.horizon)
        result.forecast = _values(ahead)
        result.intervals = intervals(request, card, ahead)
        calendar = stored_calendar(card)
        if calendar is not None:
            _date(result, calendar, predicted_at=np.arange(0))
    else:
        predictions = forecaster.predict(request.inputs)
        result.predictions = _values(predictions)
        if request.targets is not None:
            result.mse = mse(request.targets.reshape(predictions.shape), predictions)
    return result


# A request this small, for a version already loaded, is answered on the event loop: the hop to
# the thread pool and back costs more than its few network steps (see runs_inline).
INLINE_WINDOWS = 8
INLINE_ROWS = 64
INLINE_HORIZON = 8


def runs_inline(request: ForecastRequest, *, store: ModelStore, cache: ModelCache) -> bool:
    """Whether `forecast` may run on the event loop: a few windows (or a short series and a
    short horizon) for a version already in the cache, so that nothing reads a file but the
    stats that resolve the version. Anything else goes to the thread pool."""
    if request.inputs is not None:
        small = len(request.inputs) <= INLINE_WINDOWS
    elif request.series is not None:
        small = len(request.series) <= INLINE_ROWS and request.horizon <= INLINE_HORIZON
    else:
        small = False  # the stored training series is read from disk
    if not small:
        return False
    return cache.holds(request.model_name, store.resolve(request.model_name, request.version))


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


def stored_history(store: ModelStore, card: ModelCard) -> np.ndarray:
    """The end of the version's training series, kept with it for forecasts without a series."""
    tail = store.tail(card.model_name, card.version) if card.history_rows else None
    if tail is None:
        raise InvalidInput(
            f"model {card.model_name}@{card.version} keeps no training history (uploaded, "
            "trained on `inputs`, or before histories were kept): send the `series` to "
            "forecast from",
            field="series",
        )
    if not card.preprocessing.recursive:
        raise InvalidInput(
            f"model {card.model_name}@{card.version} predicts columns "
            f"{card.preprocessing.target_columns} of {card.preprocessing.features}; a forecast "
            "past the end needs a model that predicts every column",
            field="horizon",
        )
    return tail


def stored_calendar(card: ModelCard) -> Calendar | None:
    """The steps after the training series: from its last timestamp, at its frequency."""
    if card.freq is None or card.last_timestamp is None:
        return None
    last = parse_timestamp(card.last_timestamp, field="last_timestamp")
    return Calendar(last, parse_freq(card.freq), rows=1)


def _date(result: ForecastResult, calendar: Calendar, *, predicted_at: np.ndarray) -> None:
    """Timestamps for the predictions (the rows they predict), the horizon and its intervals."""
    result.freq = calendar.freq
    result.timestamps = calendar.iso(predicted_at)
    if result.forecast is not None:
        result.forecast_timestamps = calendar.ahead(len(result.forecast))
        for interval in result.intervals or []:
            interval.timestamps = result.forecast_timestamps


def _values(array: np.ndarray) -> Values:
    """A flat list for a single target (as the lecture's `y_pred.flatten()`), else rows."""
    values: Values = array[:, 0].tolist() if array.shape[1] == 1 else array.tolist()
    return values
