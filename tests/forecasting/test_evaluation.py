from __future__ import annotations

import numpy as np
import pytest

from service.forecasting.batched import network_forward
from service.forecasting.evaluation import (
    baseline_forecasts,
    mase_scale,
    origins,
    refit_forecasts,
    rolling_forecasts,
    scores,
)
from service.forecasting.inference import Forecaster
from service.forecasting.pipeline import train_series
from service.forecasting.spec import TrainSpec, WindowSpec
from service.schemas.backtest import Scores


def test_origins_are_the_last_ones_that_fit() -> None:
    assert origins(20, horizon=3, count=4, first=5) == [14, 15, 16, 17]
    assert origins(10, horizon=3, count=50, first=5) == [5, 6, 7]


def test_refit_forecasts_fit_each_origin_on_its_own_history_only() -> None:
    """A stand-in model that forecasts the mean of what it was fitted on: each origin's
    forecast must come from a fit on exactly series[:origin]."""
    seen: list[int] = []

    class MeanModel:
        def __init__(self, history: np.ndarray) -> None:
            seen.append(len(history))
            self.mean = history.mean(axis=0)

        def forecast(self, series: np.ndarray, *, horizon: int) -> np.ndarray:
            return np.repeat(self.mean[None, :], horizon, axis=0)

    y = np.arange(12.0)
    progress: list[tuple[int, int]] = []
    rolled = refit_forecasts(
        MeanModel,  # type: ignore[arg-type]
        y,
        horizon=2,
        count=3,
        first=4,
        on_origin=lambda done, total: progress.append((done, total)),
    )
    assert rolled.origins == [8, 9, 10]
    assert seen == [8, 9, 10]
    assert rolled.forecasts[:, :, 0].tolist() == [[3.5, 3.5], [4.0, 4.0], [4.5, 4.5]]
    assert rolled.actuals[:, :, 0].tolist() == [[8, 9], [9, 10], [10, 11]]
    assert progress == [(1, 3), (2, 3), (3, 3)]


def test_baselines_from_each_origin() -> None:
    y = np.arange(10.0) ** 2
    out = baseline_forecasts(y, [5, 6], horizon=3, season_length=2)
    assert out["naive"][0, :, 0].tolist() == [16, 16, 16]
    assert out["seasonal_naive"][0, :, 0].tolist() == [9, 16, 9]
    assert out["drift"][0, :, 0].tolist() == pytest.approx([20, 24, 28])  # slope (16-0)/4


def test_scores_per_step_and_overall() -> None:
    actual = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])
    forecast = np.array([[[1.0], [1.0]], [[3.0], [2.0]]])
    result = scores(actual, forecast, scale=2.0)
    assert result["per_step"]["mse"] == [0.0, 2.5]
    assert result["per_step"]["mae"] == [0.0, 1.5]
    assert result["mse"] == 1.25
    assert result["mase"] == pytest.approx(0.75 / 2.0)
    assert result["per_step"]["smape"][1] == pytest.approx(100 * (2 * 1 / 3 + 2 * 2 / 6) / 2)
    assert Scores.model_validate(result).per_step.mse == [0.0, 2.5]  # the response's shape
    assert mase_scale(np.array([1.0, 3.0, 6.0]), 3, None) == 2.5


@pytest.mark.slow
def test_95_percent_intervals_cover_about_95_percent_of_held_out_points() -> None:
    """Split-conformal intervals, calibrated on one held-out stretch of a noisy seasonal series,
    checked on a later stretch of the same process."""
    rng = np.random.default_rng(0)
    t = np.arange(1200)
    y = np.sin(2 * np.pi * t / 25) + rng.normal(0, 0.2, len(t))
    spec = TrainSpec(
        units=8, epochs=150, window=WindowSpec(length=25), interval_horizon=5,
        calibration_origins=150,
    )  # fmt: skip
    trained = train_series(spec, y[:400], test_series=y[400:700])
    assert trained.calibration is not None
    assert trained.calibration.origins == 150
    forecaster = Forecaster(network_forward(trained.network), trained.preprocessing)
    rolled = rolling_forecasts(forecaster, y[700:], horizon=5, count=300)
    covered = {}
    for level in (80, 95):
        width = trained.calibration.half_width(level, 5)
        inside = np.abs(rolled.actuals - rolled.forecasts) <= width
        covered[level] = float(inside.mean())
    assert 0.90 <= covered[95] <= 0.99, covered
    assert 0.72 <= covered[80] <= 0.88, covered
    assert (trained.calibration.half_width(95, 5) >= trained.calibration.half_width(80, 5)).all()
