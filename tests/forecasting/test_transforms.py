from __future__ import annotations

import numpy as np
import pytest

from service.forecasting import transforms
from service.forecasting.batched import network_forward
from service.forecasting.inference import Forecaster
from service.forecasting.pipeline import train_series
from service.forecasting.spec import TrainSpec, WindowSpec
from service.forecasting.transforms import Transform


def growing_seasonal(n: int = 120) -> np.ndarray:
    t = np.arange(n)
    noise = np.random.default_rng(0).normal(0, 0.3, n)
    return (10 + 0.5 * t + 3 * np.sin(2 * np.pi * t / 12) + noise).reshape(-1, 1)


SMOOTHING = Transform(type="smoothing", season_length=12)
CHAINS = {
    "log": [Transform(type="log")],
    "difference": [Transform(type="difference")],
    "difference 2": [Transform(type="difference", order=2)],
    "seasonal": [Transform(type="seasonal_difference", season_length=12)],
    "log + difference": [Transform(type="log"), Transform(type="difference")],
    "difference + seasonal": [
        Transform(type="difference"),
        Transform(type="seasonal_difference", season_length=12),
    ],
    # Smoothing steps fitted to the series (their parameters are part of the step).
    "smoothing": transforms.fit([SMOOTHING], growing_seasonal()),
    "log + smoothing": transforms.fit([Transform(type="log"), SMOOTHING], growing_seasonal()),
}


@pytest.mark.parametrize("chain", CHAINS.values(), ids=CHAINS.keys())
def test_inverting_the_true_last_level_gives_back_the_series(chain: list[Transform]) -> None:
    y = growing_seasonal()
    history = transforms.levels(chain, y)
    lag = transforms.lag(chain)
    t = np.arange(lag, len(y))
    np.testing.assert_allclose(transforms.invert(chain, history[-1][t], history, t), y[t])
    assert np.isnan(history[-1][:lag]).all()
    assert not np.isnan(history[-1][lag:]).any()


@pytest.mark.parametrize("chain", CHAINS.values(), ids=CHAINS.keys())
def test_recursing_on_true_values_rebuilds_the_future(chain: list[Transform]) -> None:
    """The recursive path, from several origins at once: each predicted last-level value is
    carried down every level (here the true values, so the forecasts are the series). The
    origins are past the smoothing's `init_rows`, where its initial states no longer move with
    the origin."""
    y = growing_seasonal(260)
    truth = transforms.levels(chain, y)[-1]
    origins = np.array([200, 210, 220])
    forecasts = transforms.recurse(
        chain,
        y[:220],
        origins,
        horizon=30,
        back=1,
        step=lambda top, t: truth[origins + t - max(1, transforms.memory(chain))],
    )
    for forecast, origin in zip(forecasts, origins, strict=True):
        np.testing.assert_allclose(forecast, y[origin : origin + 30])


def test_seasonal_difference_needs_its_season() -> None:
    with pytest.raises(ValueError, match="season_length"):
        Transform(type="seasonal_difference")
    with pytest.raises(ValueError, match="season_length"):
        Transform(type="log", season_length=12)


def trend(n: int, start: int = 0) -> np.ndarray:
    return 5.0 + 0.3 * np.arange(start, start + n)


@pytest.mark.slow
def test_differencing_lets_the_network_follow_a_trend() -> None:
    """Levels with standard scaling alone cannot extrapolate a rising line; a difference turns
    it into a constant the network learns at once, and so do windows relative to their last
    value (the default for a series without transforms)."""
    window = WindowSpec(length=6)
    specs = {
        "levels": TrainSpec(units=4, epochs=300, window=window, window_normalization="none"),
        "differenced": TrainSpec(
            units=4, epochs=300, window=window, transforms=[{"type": "difference"}]
        ),
        "default": TrainSpec(units=4, epochs=300, window=window),
    }
    future = trend(30, start=60)
    ahead = {}
    for name, spec in specs.items():
        trained = train_series(spec, trend(60))
        forecaster = Forecaster(network_forward(trained.network), trained.preprocessing)
        ahead[name] = float(
            np.mean((forecaster.forecast(trend(60), horizon=30)[:, 0] - future) ** 2)
        )
    assert trained.preprocessing.window_normalization == "last"
    for name in ("differenced", "default"):
        assert ahead[name] < 0.01
        assert ahead[name] < ahead["levels"] / 100


@pytest.mark.parametrize("how", ["last", "mean"])
def test_window_normalisation_round_trips(how: str) -> None:
    spec = TrainSpec(units=3, epochs=20, window=WindowSpec(length=5), window_normalization=how)
    series = 100 + np.sin(0.5 * np.arange(60))
    trained = train_series(spec, series, test_series=series[-20:])
    forecaster = Forecaster(network_forward(trained.network), trained.preprocessing)
    evaluation = forecaster.evaluate(series[-20:])
    assert evaluation.scores(None)["mse"] == pytest.approx(trained.metrics["test_mse"])
    # Shifting a window shifts its prediction by the same amount: the level is not learnt.
    window = series[:5].reshape(1, 5, 1)
    shifted = forecaster.predict(window + 50.0) - forecaster.predict(window)
    assert shifted[0, 0] == pytest.approx(50.0, rel=1e-4)


@pytest.mark.parametrize("chain", CHAINS.values(), ids=CHAINS.keys())
def test_unrolling_a_horizon_at_once_equals_recursing_step_by_step(
    chain: list[Transform],
) -> None:
    y = growing_seasonal(150)
    origins = np.array([100, 107, 120])
    top = np.random.default_rng(1).normal(0, 0.05, (3, 30, 1))
    back = max(1, transforms.memory(chain))
    stepped = transforms.recurse(
        chain, y[:120], origins, horizon=30, back=back, step=lambda _, t: top[:, t - back]
    )
    np.testing.assert_allclose(transforms.unroll(chain, y[:120], origins, top), stepped, rtol=1e-9)
