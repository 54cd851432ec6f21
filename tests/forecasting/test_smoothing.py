from __future__ import annotations

import numpy as np
import pytest

from service.forecasting import smoothing, transforms
from service.forecasting.transforms import Transform


def seasonal_line(n: int = 96, *, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 20 + 0.3 * t + 4 * np.sin(2 * np.pi * t / 12) + rng.normal(0, noise, n)


def params(**overrides: object) -> smoothing.Params:
    base: dict[str, object] = {
        "trend": "additive", "season_length": 12, "alpha": 0.3, "beta": 0.05, "gamma": 0.1,
        "phi": 1.0, "warmup": 26,
    }  # fmt: skip
    base.update(overrides)
    return smoothing.Params(**base)  # type: ignore[arg-type]


def test_a_noise_free_trend_and_season_is_forecast_exactly() -> None:
    """Least-squares initial states from the warm-up pin a line plus a season down exactly:
    every one-step forecast after the warm-up is right, and so is a forecast far ahead."""
    y = seasonal_line(120)[:, None]
    forecasts = smoothing.one_step(params(), y)
    assert np.isnan(forecasts[:26]).all()
    np.testing.assert_allclose(forecasts[26:], y[26:], atol=1e-8)
    origins = np.array([60, 120])
    states = smoothing.states_at(params(), y, origins)
    recursion = smoothing.Recursion(params(), states, origins)
    ahead = np.stack([recursion.next_value(np.zeros((2, 1))) for _ in range(24)], axis=1)
    truth = seasonal_line(144)
    np.testing.assert_allclose(ahead[0, :, 0], truth[60:84], atol=1e-8)
    np.testing.assert_allclose(ahead[1, :, 0], truth[120:144], atol=1e-8)


def test_a_forecast_never_sees_the_rows_after_it() -> None:
    y = seasonal_line(100, noise=1.0)[:, None]
    changed = y.copy()
    changed[70:] += 50.0
    np.testing.assert_array_equal(
        smoothing.one_step(params(), y)[:71], smoothing.one_step(params(), changed)[:71]
    )
    origins = np.array([40, 70])
    np.testing.assert_array_equal(
        smoothing.states_at(params(), y, origins), smoothing.states_at(params(), changed, origins)
    )


def test_states_at_an_origin_are_those_of_filtering_the_rows_before_it() -> None:
    """Past `init_rows` the initial states stay those of the first rows, so advancing from an
    origin there with the actual innovations reproduces the actual next values."""
    y = seasonal_line(200, noise=0.5)[:, None]
    p = params(trend="damped", phi=0.9)
    origin = smoothing.init_rows(p) + 10
    at = smoothing.states_at(p, y, np.array([origin]))[0]
    recursion = smoothing.Recursion(p, at[None], np.array([origin]))
    one_step = smoothing.one_step(p, y)
    for t in range(origin, origin + 10):
        value = recursion.next_value(np.array([[y[t, 0] - one_step[t, 0]]]))
        assert value[0, 0] == pytest.approx(y[t, 0])


def test_each_one_step_forecast_refits_the_initial_states_to_all_rows_before_it() -> None:
    """On a short series every row before t informs t's forecast: it is the forecast of the
    states `states_at` gives at t, and moving an early row (past the warm-up) changes it."""
    y = seasonal_line(60, noise=1.0, seed=2)[:, None]
    p = params()
    assert smoothing.init_rows(p) > len(y)
    rows = np.array([26, 40, 59])
    states = smoothing.states_at(p, y, rows)
    level, trend, seasonal = states[:, 0, 0], states[:, 1, 0], states[:, 2:, 0]
    expected = level + p.phi * trend + seasonal[np.arange(3), rows % 12]
    np.testing.assert_allclose(smoothing.one_step(p, y)[rows, 0], expected, rtol=1e-9)
    moved = y.copy()
    moved[30] += 5.0
    assert smoothing.one_step(p, moved)[59, 0] != pytest.approx(smoothing.one_step(p, y)[59, 0])


@pytest.mark.parametrize("trend", ["none", "additive", "damped"])
def test_the_fit_is_the_best_of_the_parameters_it_tried(trend: smoothing.Trend) -> None:
    """A grid, then a finer one around its best point (which it includes): what comes out is
    at least as good as any point of the first grid on what it minimises, the squared errors
    of the 1..12-step forecasts from every row."""
    y = seasonal_line(150, noise=1.0, seed=3)
    fitted = smoothing.fit(y, season_length=12, trend=trend)
    assert fitted.trend == trend
    grid = smoothing._grid(trend, 12)
    tried = grid[np.random.default_rng(0).choice(len(grid), 8, replace=False)]
    best = _multi_step_sse(fitted, y, 12)
    for alpha, beta, gamma, phi in tried:
        other = smoothing.Params(trend, 12, alpha, beta, gamma, phi, fitted.warmup)
        assert best <= _multi_step_sse(other, y, 12) + 1e-9


def test_fitting_multi_step_errors_keeps_a_short_series_trend_steady() -> None:
    """Five seasons of monthly sales (bench/accuracy.py's short_monthly-s0: a wandering level,
    a slope, a season, noise): one-step errors alone fit a trend that turns with the noise; the
    12-step errors fit the steadier trend that forecasts the next two years better."""
    rng = np.random.default_rng(1000)
    profile = rng.normal(0, 1, 12)
    profile = 8 * (profile - profile.mean()) / profile.std()
    walk = np.cumsum(rng.normal(0, 0.6, 84))
    t = np.arange(84)
    y = 100 + rng.uniform(0.2, 0.6) * t + walk + np.resize(profile, 84) + rng.normal(0, 2, 84)
    train, future = y[:60], y[60:]

    def holdout_mse(p: smoothing.Params) -> float:
        states = smoothing.states_at(p, train[:, None], np.array([60]))
        recursion = smoothing.Recursion(p, states, np.array([60]))
        ahead = [recursion.next_value(np.zeros((1, 1)))[0, 0] for _ in range(24)]
        return float(np.mean((future - np.array(ahead)) ** 2))

    multi = smoothing.fit(train, season_length=12, trend="additive")
    one = smoothing.fit(train, season_length=12, trend="additive", horizon=1)
    assert multi.beta <= one.beta
    assert holdout_mse(multi) < holdout_mse(one)


def test_the_trend_form_is_chosen_by_aicc() -> None:
    """A noisy level with no trend: the extra trend parameters do not pay for themselves."""
    level = 50 + np.random.default_rng(1).normal(0, 1, 120)
    assert smoothing.fit(level, season_length=None, trend="auto").trend == "none"
    rising = 50 + 2.0 * np.arange(120) + np.random.default_rng(1).normal(0, 1, 120)
    assert smoothing.fit(rising, season_length=None, trend="auto").trend != "none"


def test_a_season_that_is_not_there_is_left_out_by_aicc() -> None:
    """Given season_length 4, a trend with no season is fitted without one (its four seasonal
    states do not pay for themselves); a strong season is kept. As a transform, the choice is
    stored with the fitted parameters and the step's lag is the chosen form's warm-up."""
    rng = np.random.default_rng(4)
    trend = 200 + np.cumsum(3 + rng.normal(0, 1.5, 48))
    assert smoothing.fit(trend, season_length=4, trend="auto").season_length is None
    seasonal = trend + 20 * np.resize([1.0, -1.0, 0.5, -0.5], 48)
    assert smoothing.fit(seasonal, season_length=4, trend="auto").season_length == 4
    step = transforms.fit([Transform(type="smoothing", season_length=4)], trend[:, None])[0]
    assert step.fitted is not None
    assert not step.fitted.seasonal
    assert step.params.season_length is None
    assert step.lag == smoothing.warmup_rows(step.fitted.trend, None, 48)


def test_a_fitted_step_fitted_again_keeps_its_form_and_refits_its_parameters() -> None:
    """`keep_form`: the trend form and the season left out, as chosen on the first rows, with
    parameters fitted to every row; a step fitted afresh chooses its form again."""
    rng = np.random.default_rng(4)
    trend = 200 + np.cumsum(3 + rng.normal(0, 1.5, 48))
    seasonal = trend + 20 * np.resize([1.0, -1.0, 0.5, -0.5], 48)
    # The first 40 rows have no season; the last 20 (and so the whole series) do.
    series = np.concatenate([trend[:40], seasonal[40:] + 8 * np.resize([1.0, -1.0], 8)])
    step = transforms.fit([Transform(type="smoothing", season_length=4)], series[:40, None])[0]
    assert step.fitted is not None
    assert not step.fitted.seasonal
    again = transforms.fit([step], series[:, None], keep_form=True)[0]
    assert again.fitted is not None
    assert (again.fitted.trend, again.fitted.seasonal) == (step.fitted.trend, False)
    expected = smoothing.fit(series, season_length=None, trend=step.fitted.trend)
    assert (again.fitted.alpha, again.fitted.beta, again.fitted.phi, again.fitted.warmup) == (
        expected.alpha,
        expected.beta,
        expected.phi,
        expected.warmup,
    )
    assert again.season_length == 4  # the step as given, its season still left out
    afresh = transforms.fit([Transform(type="smoothing", season_length=4)], series[:, None])[0]
    assert afresh.fitted is not None
    assert afresh.fitted.seasonal


def test_the_warm_up_takes_two_seasons_at_most_half_the_series() -> None:
    assert smoothing.warmup_rows("additive", 12, 300) == 26
    assert smoothing.warmup_rows("additive", 12, 40) == 20
    assert smoothing.warmup_rows("none", None, 300) == 10
    assert smoothing.warmup_rows("additive", 12, 10) == 16  # never fewer than states + 2


def test_as_a_transform_it_hands_the_network_the_innovations_and_takes_them_back() -> None:
    y = seasonal_line(100, noise=0.8)[:, None]
    chain = transforms.fit([Transform(type="smoothing", season_length=12)], y)
    assert chain[0].fitted is not None
    levels = transforms.levels(chain, y)
    lag = transforms.lag(chain)
    assert lag == chain[0].fitted.warmup
    assert np.isnan(levels[-1][:lag]).all()
    t = np.arange(lag, len(y))
    np.testing.assert_allclose(transforms.invert(chain, levels[-1][t], levels, t), y[t])
    # Innovations are small where the filter fits: much smaller than the series' own spread.
    assert np.nanstd(levels[-1]) < 0.3 * np.std(y)


def test_smoothing_goes_first_or_right_after_a_log() -> None:
    from service.forecasting.spec import TrainSpec

    TrainSpec(transforms=[{"type": "log"}, {"type": "smoothing", "season_length": 12}])
    with pytest.raises(ValueError, match="smoothing goes first"):
        TrainSpec(transforms=[{"type": "difference"}, {"type": "smoothing"}])
    with pytest.raises(ValueError, match="trend"):
        Transform(type="log", trend="damped")


@pytest.mark.parametrize("trend", ["none", "additive", "damped"])
def test_the_served_maps_equal_filtering_row_by_row(trend: smoothing.Trend) -> None:
    y = seasonal_line(120, noise=0.5)[:, None]
    p = params(trend=trend, phi=0.9 if trend == "damped" else 1.0)
    np.testing.assert_allclose(smoothing.one_step(p, y), smoothing._one_step_filtered(p, y))
    origins = np.array([40, 77, 120])
    states = smoothing._states_filtered(p, y, origins)
    np.testing.assert_allclose(smoothing.states_at(p, y, origins), states, rtol=1e-9, atol=1e-9)
    innovations = np.random.default_rng(0).normal(size=(3, 25, 1))
    recursion = smoothing.Recursion(p, states, origins)
    stepped = np.stack([recursion.next_value(innovations[:, h]) for h in range(25)], axis=1)
    np.testing.assert_allclose(smoothing.ahead(p, states, origins, innovations), stepped)
    long = seasonal_line(smoothing.MAP_ROWS + 20, noise=0.5)[:, None]  # filtered row by row
    np.testing.assert_allclose(smoothing.one_step(p, long)[:120], smoothing.one_step(p, long[:120]))


def _multi_step_sse(p: smoothing.Params, y: np.ndarray, ahead: int) -> float:
    """The squared errors of the 1..ahead-step forecasts from every row, by a plain loop."""
    init = smoothing.initial_states(p, y[:, None])[:, 0]
    level, trend, season = init[0], init[1], list(init[2:])
    m = p.season_length or 1
    total = 0.0
    for t in range(len(y)):
        for j in range(1, min(ahead, len(y) - t) + 1):
            damping = sum(p.phi**i for i in range(1, j + 1))
            value = level + damping * trend + (season[(t + j - 1) % m] if p.season_length else 0)
            total += (y[t + j - 1] - value) ** 2
        error = y[t] - (level + p.phi * trend + (season[t % m] if p.season_length else 0))
        level, trend = level + p.phi * trend + p.alpha * error, p.phi * trend + p.beta * error
        if p.season_length:
            season[t % m] += p.gamma * error
    return total
