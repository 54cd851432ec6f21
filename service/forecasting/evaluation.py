"""Rolling-origin evaluation: forecast `horizon` steps from each of several origins of a series and
compare with what followed, beside multi-step baselines from the same origins. Used for backtests,
for choosing among candidate models, and for calibrating prediction intervals."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from service.forecasting.ensemble import SeriesForecaster
from service.forecasting.windowing import as_2d


def origins(n: int, *, horizon: int, count: int, first: int) -> list[int]:
    """The last `count` origins o (forecasting series[o : o+horizon] from series[:o]) whose
    horizon fits in n samples, none before `first`."""
    last = n - horizon
    return list(range(max(first, last - count + 1), last + 1))


@dataclass(frozen=True)
class RollingForecasts:
    """Forecasts (origins, horizon, columns) from each origin, with the actual values."""

    origins: list[int]
    forecasts: np.ndarray
    actuals: np.ndarray


def rolling_forecasts(
    forecaster: SeriesForecaster, series: np.ndarray, *, horizon: int, count: int
) -> RollingForecasts:
    data = as_2d(series)
    starts = origins(len(data), horizon=horizon, count=count, first=forecaster.min_history)
    forecasts = forecaster.forecast_from(data, starts, horizon=horizon)
    actuals = np.stack([data[o : o + horizon] for o in starts])
    return RollingForecasts(starts, forecasts, actuals)


def refit_forecasts(
    fit: Callable[[np.ndarray], SeriesForecaster],
    series: np.ndarray,
    *,
    horizon: int,
    count: int,
    first: int,
    on_origin: Callable[[int, int], None] | None = None,
) -> RollingForecasts:
    """As `rolling_forecasts`, but with a model fitted afresh on the history before each origin
    (`fit(history)`), none before `first`: what the forecasts would have been had the model been
    retrained every time new data came in. `on_origin(done, total)` reports progress."""
    data = as_2d(series)
    starts = origins(len(data), horizon=horizon, count=count, first=first)
    forecasts = []
    for i, o in enumerate(starts):
        forecasts.append(fit(data[:o]).forecast(data[:o], horizon=horizon))
        if on_origin is not None:
            on_origin(i + 1, len(starts))
    actuals = np.stack([data[o : o + horizon] for o in starts])
    return RollingForecasts(starts, np.stack(forecasts), actuals)


def baseline_forecasts(
    series: np.ndarray, starts: list[int], *, horizon: int, season_length: int | None
) -> dict[str, np.ndarray]:
    """Multi-step naive (last value repeated), seasonal naive (the last season repeated) and
    drift (the line through the first and the last value, extended) from each origin."""
    data = as_2d(series)
    steps = np.arange(1, horizon + 1)[:, None]
    out: dict[str, np.ndarray] = {
        "naive": np.stack([np.repeat(data[o - 1 : o], horizon, axis=0) for o in starts]),
        "drift": np.stack(
            [data[o - 1] + steps * (data[o - 1] - data[0]) / max(o - 1, 1) for o in starts]
        ),
    }
    m = season_length
    if m and min(starts) >= m:
        lags = np.arange(horizon) % m
        out["seasonal_naive"] = np.stack([data[o - m + lags] for o in starts])
    return out


def scores(actual: np.ndarray, forecast: np.ndarray, *, scale: float | None) -> dict[str, Any]:
    """MSE, MAE, sMAPE (percent) and MASE (MAE over the in-sample one-step naive MAE), overall
    and under `per_step` (index 0 is one step ahead): the fields of the backtest response's
    `Scores` (schemas/backtest.py), as plain numbers."""
    error = actual - forecast
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2 * np.abs(error), denominator, out=np.zeros_like(error), where=denominator > 0
    )
    per_step_mae = np.abs(error).mean(axis=(0, 2))
    mase = scale is not None and scale > 0
    return {
        "per_step": {
            "mse": (error**2).mean(axis=(0, 2)).tolist(),
            "mae": per_step_mae.tolist(),
            "smape": (100 * ratio.mean(axis=(0, 2))).tolist(),
            "mase": (per_step_mae / scale).tolist() if mase and scale else None,
        },
        "mse": float((error**2).mean()),
        "mae": float(np.abs(error).mean()),
        "smape": float(100 * ratio.mean()),
        "mase": float(np.abs(error).mean() / scale) if mase and scale else None,
    }


def mase_scale(series: np.ndarray, end: int, season_length: int | None) -> float | None:
    """Mean absolute error of the (seasonal) naive one-step forecast on series[:end]."""
    data = as_2d(series)[:end]
    m = season_length if season_length and season_length < len(data) else 1
    if len(data) <= m:
        return None
    return float(np.abs(data[m:] - data[:-m]).mean())


class Calibration(BaseModel):
    """Absolute errors of multi-step forecasts from held-out origins, sorted per step: the
    conformal quantiles for prediction intervals are read from them."""

    source: str  # which data the origins came from
    horizon: int
    origins: int
    abs_errors: list[list[list[float]]]  # (horizon, origins, columns), sorted along origins

    def half_width(self, level: float, horizon: int) -> np.ndarray:
        """(horizon, columns): the split-conformal quantile of the errors at each step; steps
        past the calibrated horizon use the last calibrated step's."""
        errors = np.asarray(self.abs_errors)
        n = errors.shape[1]
        rank = min(n, math.ceil((n + 1) * level / 100)) - 1
        widths = errors[:, rank, :]
        steps = np.minimum(np.arange(horizon), self.horizon - 1)
        return widths[steps]


MIN_CALIBRATION_ORIGINS = 5


def calibrate(
    forecaster: SeriesForecaster, series: np.ndarray, *, source: str, horizon: int, count: int
) -> Calibration | None:
    data = as_2d(series)
    horizon = min(horizon, len(data) - forecaster.min_history)
    if horizon < 1 or not forecaster.prep.recursive:
        return None
    rolled = rolling_forecasts(forecaster, data, horizon=horizon, count=count)
    if len(rolled.origins) < MIN_CALIBRATION_ORIGINS or not np.isfinite(rolled.forecasts).all():
        return None  # too few errors to read a quantile from, or a forecast that blew up
    errors = np.sort(np.abs(rolled.actuals - rolled.forecasts), axis=0)  # (origins, h, cols)
    return Calibration(
        source=source,
        horizon=horizon,
        origins=len(rolled.origins),
        abs_errors=np.transpose(errors, (1, 0, 2)).tolist(),
    )
