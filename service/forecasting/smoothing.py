"""Exponential smoothing as a prior for the network: additive ETS, fitted per series.

The `smoothing` transform runs an additive exponential smoothing filter (level, optional trend,
optionally damped, optional season; Hyndman's error-correction form) over the series and hands
the network its one-step innovations, y_t minus the filter's forecast of y_t. The network learns
what the smoothing leaves; every prediction is mapped back by adding the filter's forecast, and a
recursive forecast advances the filter with the predicted values. A network that learns nothing
gives back the smoothing forecast itself: on a short series the statistical prior carries the
forecast, and on a long one the network adds what the prior misses. This is the recursive form
of Smyl's ES-RNN (the M4 winner: exponential smoothing per series, an LSTM on what is left);
after a `log`, the smoothing is multiplicative in the original units.

    forecast   yhat_t = l_{t-1} + phi b_{t-1} + s_{t-m}
    innovation e_t    = y_t - yhat_t
    update     l_t = l_{t-1} + phi b_{t-1} + alpha e_t;  b_t = phi b_{t-1} + beta e_t;
               s_t = s_{t-m} + gamma e_t

The initial states of the forecast of row t come from the rows before it (all of them, up to
`init_rows`), by least squares: the one-step errors are linear in them, so one filter run over
the data and one over each state alone give every row's forecast for any initial states. A value
is filtered only from what came before it, so innovations, one-step predictions and forecasts
never see the future; the first `warmup` rows get no forecast. The parameters are fitted on the
training series by a coarse-to-fine grid over (alpha, beta, gamma, phi), all candidates
filtered at once as numpy columns, to the squared errors of the 1..h-step forecasts from every
row (h a season): tens of milliseconds a series, where statsmodels' optimiser takes 0.3-1.5 s
per model form here, and the filter must run in the API process, which has no statsmodels. The
trend form (none, additive, damped) and whether to keep the season are chosen by AICc, as
statsforecast's AutoETS chooses.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from threadpoolctl import ThreadpoolController

Trend = Literal["none", "additive", "damped"]
# Rows of the training series the parameters are fitted on (the latest ones): enough to pin four
# smoothing parameters down, and a bounded cost on long series.
FIT_ROWS = 2000
# Initial states are refitted at every row (`init_rows`) for forms with at most this many states
# (a season of up to 28 rows: hourly, daily, monthly, quarterly data); above it (weekly), once
# from the warm-up: refitting 54 states costs seconds a fit.
MAX_EXPANDING_STATES = 30
# Singular values of the normal equations below this share of the largest are taken as zero (the
# level/season trade-off is exactly singular; the normal equations square the rest's spread).
PINV_RCOND = 1e-10
_BLAS = ThreadpoolController()
_ALPHAS = (0.02, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 0.99)
_BETAS = (0.0, 0.02, 0.08, 0.2)
_GAMMAS = (0.0, 0.05, 0.15, 0.3)
_PHIS = (0.85, 0.93, 0.98)
# Serving: the filter is linear in the series (its initial states are a least-squares fit, its
# updates linear in the states), so one-step forecasts, the states at an origin and a recursive
# forecast are matrices applied to the series, computed once by filtering unit vectors and
# kept (at most `MAPS` of each kind). A 200-row series: one product instead of 200 Python steps
# of a few numpy calls each. Longer series than `MAP_ROWS` are filtered row by row (a map holds
# rows x rows floats).
MAP_ROWS = 512
MAPS = 64


@dataclass(frozen=True)
class Params:
    trend: Trend
    season_length: int | None  # None: no seasonal component
    alpha: float
    beta: float
    gamma: float
    phi: float
    warmup: int

    @property
    def states(self) -> int:
        return 1 + (self.trend != "none") + (self.season_length or 0)


def warmup_rows(trend: Trend, season_length: int | None, rows: int) -> int:
    """Rows the initial states are estimated from: two seasons and a bit (ten rows without a
    season), at most half the series, at least two more rows than states."""
    states = 1 + (trend != "none") + (season_length or 0)
    wanted = 2 * season_length + 2 if season_length else 10
    return max(states + 2, min(wanted, rows // 2))


def _filter(
    y: np.ndarray,
    alpha: np.ndarray | float,
    beta: np.ndarray | float,
    gamma: np.ndarray | float,
    phi: np.ndarray | float,
    init: np.ndarray,
    *,
    season: int,
    record: np.ndarray | None = None,
    ahead: int = 0,
    ahead_sse: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run the filter over y (n, columns) from initial states `init` (states, columns), rows:
    level, trend, then the season's states for t % season == 0, 1, ... Returns the one-step
    forecasts (n, columns) and, for each row index in `record`, the states before that row.
    With `ahead`, adds to `ahead_sse` (columns,) the squared errors of the 1..ahead-step
    forecasts from every row."""
    n, columns = y.shape
    steps = np.arange(ahead)
    powers = np.power.outer(np.broadcast_to(phi, (columns,)), np.arange(1, ahead + 1))
    damping = np.cumsum(powers, axis=1).T  # (ahead, columns): phi + ... + phi^h
    level = init[0].copy()
    trend = init[1].copy()
    seasonal = init[2:].copy() if season > 1 else np.zeros((1, columns))
    forecasts = np.empty((n, columns))
    wanted = set() if record is None else {int(r) for r in record}
    kept: dict[int, np.ndarray] = {}
    slots = max(season, 1)
    for t in range(n):
        if t in wanted:
            kept[t] = np.concatenate([level[None], trend[None], seasonal])
        j = t % slots
        if ahead and ahead_sse is not None:
            upto = min(ahead, n - t)
            paths = level + damping[:upto] * trend + seasonal[(t + steps[:upto]) % slots]
            ahead_sse += np.sum((y[t : t + upto] - paths) ** 2, axis=0)
        damped = phi * trend
        forecast = level + damped + seasonal[j]
        forecasts[t] = forecast
        error = y[t] - forecast
        level = level + damped + alpha * error
        trend = damped + beta * error
        seasonal[j] = seasonal[j] + gamma * error
    if n in wanted:
        kept[n] = np.concatenate([level[None], trend[None], seasonal])
    return forecasts, [kept[int(r)] for r in record] if record is not None else []


def _init_rows(season_length: int | None) -> int:
    return 2 + (season_length or 0)


def init_rows(params: Params) -> int:
    """Rows, at most, that the initial states of a forecast are estimated from: the forecast of
    row t takes them from all of rows 0..t-1 up to this many. Eight rows a state, so that a short
    series' level, trend and season are pinned down by all of its history (on 60 monthly rows
    the warm-up's 26 rows alone left the seasonal naive forecast better than ours), and a long
    one's by a bounded number of rows (the filter forgets its initial states anyway); only the
    warm-up's rows when there are too many states to refit them at every row."""
    if params.states > MAX_EXPANDING_STATES:
        return params.warmup
    return max(params.warmup, 8 * params.states)


def _used(form: Params) -> list[int]:
    """The state rows a form has: the level, the trend (if any), the season's states (if any)."""
    return [0, *([1] if form.trend != "none" else []), *range(2, _init_rows(form.season_length))]


@dataclass(frozen=True)
class _Runs:
    """The filter over the data from zero states (`base`), and over zero data from each used
    state set to one (`effect`: the same for every data column), for each parameter set of a
    grid. Every forecast and state is linear in the initial states, so these give them for any
    initial states: base + effect @ states."""

    base: np.ndarray  # (grid, columns, n) one-step forecasts
    effect: np.ndarray  # (grid, n, k), k the number of used states
    base_states: np.ndarray | None  # (records, state rows, grid, columns): before each record
    effect_states: np.ndarray | None  # (records, state rows, grid, k)


def _runs(
    y: np.ndarray, alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray, phi: np.ndarray,
    form: Params, *, record: np.ndarray | None = None,
) -> _Runs:  # fmt: skip
    """The filter's runs over y (n, columns) for each parameter set (arrays of the grid's
    length), with the states before each row in `record`."""
    n, columns = y.shape
    grid = len(alpha)
    rows = _init_rows(form.season_length)
    used = _used(form)
    k = len(used)
    width = columns + k
    data = np.zeros((n, grid, width))
    data[:, :, :columns] = y[:, None, :]
    init = np.zeros((rows, grid, width))
    for c, r in enumerate(used):
        init[r, :, columns + c] = 1.0
    a, b, g, p = (
        np.broadcast_to(v[:, None], (grid, width)).reshape(-1) for v in (alpha, beta, gamma, phi)
    )
    forecasts, kept = _filter(
        data.reshape(n, -1), a, b, g, p, init.reshape(rows, -1),
        season=form.season_length or 1, record=record,
    )  # fmt: skip
    forecasts = forecasts.reshape(n, grid, width)
    base = forecasts[:, :, :columns].transpose(1, 2, 0)
    effect = forecasts[:, :, columns:].transpose(1, 0, 2)
    if not kept:
        return _Runs(base, effect, None, None)
    # (The filter keeps one seasonal row, all zeros, for a form with no season.)
    states = np.stack(kept).reshape(len(kept), -1, grid, width)
    return _Runs(base, effect, states[..., :columns], states[..., columns:])


def _solve(runs: _Runs, y: np.ndarray, upto: int) -> np.ndarray:
    """(grid, columns, k): the least-squares initial states from rows 0..upto-1 of y
    (n, columns), by the normal equations (k x k, a few states: much cheaper than decomposing
    the rows). The pseudo-inverse takes the level/season trade-off (a constant moved between
    them changes no forecast) by the smallest states."""
    residual = y[:upto].T[None] - runs.base[:, :, :upto]  # (grid, columns, upto)
    effect = runs.effect[:, :upto]  # (grid, upto, k)
    gram = np.einsum("gwk,gwj->gkj", effect, effect)
    moment = np.einsum("gwk,gcw->gck", effect, residual)
    return np.einsum("gkj,gcj->gck", _pinv(gram), moment)


def _pinv(gram: np.ndarray) -> np.ndarray:
    """Pseudo-inverses of a stack of small symmetric matrices, on one BLAS thread: OpenBLAS
    threads on many small matrices at once fight each other on a busy machine (384 of 54 x 54
    took 8.1 s with two threads under load, 0.6 s with one)."""
    with _BLAS.limit(limits=1, user_api="blas"):
        return np.linalg.pinv(gram, rcond=PINV_RCOND, hermitian=True)


def _initial_states_grid(
    y: np.ndarray, alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray, phi: np.ndarray,
    form: Params,
) -> np.ndarray:  # fmt: skip
    """(state rows, grid, columns): the least-squares initial states of y (w, columns) for each
    parameter set of the grid."""
    solution = _solve(_runs(y, alpha, beta, gamma, phi, form), y, len(y))
    out = np.zeros((_init_rows(form.season_length), len(alpha), y.shape[1]))
    out[_used(form)] = solution.transpose(2, 0, 1)
    return out


def initial_states(params: Params, y: np.ndarray) -> np.ndarray:
    """(states rows, columns): least squares over the first `init_rows` rows of y (n, columns)."""
    return _initial_states_grid(y[: init_rows(params)], *_arrays(params), params)[:, 0, :]


def _arrays(params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.array([v]) for v in (params.alpha, params.beta, params.gamma, params.phi))  # type: ignore[return-value]


def _inits(params: Params, runs: _Runs, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(len(rows), columns, k): for each row t, the initial states least squares gives from rows
    0..t-1 (from at most `init_rows` of them), solved from the running sums of the normal
    equations, all rows at once."""
    upto = np.minimum(rows, init_rows(params))
    top = int(upto.max())
    residual = y[:top] - runs.base[0, :, :top].T  # (top, columns)
    effect = runs.effect[0, :top]  # (top, k)
    gram = np.cumsum(np.einsum("tk,tj->tkj", effect, effect), axis=0)
    moment = np.cumsum(np.einsum("tk,tc->tck", effect, residual), axis=0)
    # Row u - 1 of the running sums holds rows 0..u-1. The pseudo-inverse takes the
    # level/season trade-off by the smallest states, as `_solve` does.
    distinct, back = np.unique(upto, return_inverse=True)
    solved = np.einsum("rkj,rcj->rck", _pinv(gram[distinct - 1]), moment[distinct - 1])
    return solved[back.reshape(-1)]


def one_step(params: Params, y: np.ndarray) -> np.ndarray:
    """(n, columns): the filter's forecast of each row t from the rows before it, its initial
    states fitted to them too (NaN within the warm-up, too few rows to fit them)."""
    if len(y) <= MAP_ROWS and np.isfinite(y).all():
        return _one_step_map(params, len(y)) @ y
    return _one_step_filtered(params, y)


@functools.lru_cache(maxsize=MAPS)
def _one_step_map(params: Params, n: int) -> np.ndarray:
    """(n, n): row t maps a series to its one-step forecast of row t."""
    return _one_step_filtered(params, np.eye(n))


def _one_step_filtered(params: Params, y: np.ndarray) -> np.ndarray:
    n = len(y)
    out = np.full(y.shape, np.nan)
    if n <= params.warmup:
        return out
    runs = _runs(y, *_arrays(params), params)
    rows = np.arange(params.warmup, n)
    inits = _inits(params, runs, y, rows)  # (rows, columns, k)
    out[rows] = runs.base[0][:, rows].T + np.einsum("rk,rck->rc", runs.effect[0][rows], inits)
    return out


def states_at(params: Params, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """(origins, state rows, columns): the filter's states just before each origin row, from
    initial states fitted to the rows before it (as `one_step` forecasts that row)."""
    end = int(origins.max())
    if end <= MAP_ROWS and np.isfinite(y[:end]).all():
        maps = _states_map(params, tuple(int(o) for o in origins))  # (origins, rows, end)
        return np.einsum("osn,nc->osc", maps, y[:end])
    return _states_filtered(params, y, origins)


@functools.lru_cache(maxsize=MAPS)
def _states_map(params: Params, origins: tuple[int, ...]) -> np.ndarray:
    """(origins, state rows, max origin): the states before each origin as maps of the series."""
    return _states_filtered(params, np.eye(max(origins)), np.asarray(origins))


def _states_filtered(params: Params, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    last = int(origins.max())
    runs = _runs(y[:last], *_arrays(params), params, record=origins)
    assert runs.base_states is not None and runs.effect_states is not None
    inits = _inits(params, runs, y[:last], origins)  # (origins, columns, k)
    base, effect = runs.base_states[:, :, 0], runs.effect_states[:, :, 0]
    return base + np.einsum("osk,ock->osc", effect, inits)


class Recursion:
    """Advances the filter of several origins at once with forecast innovations."""

    def __init__(self, params: Params, states: np.ndarray, origins: np.ndarray) -> None:
        self.params = params
        self.level = states[:, 0].copy()  # (origins, columns)
        self.trend = states[:, 1].copy()
        self.seasonal = states[:, 2:].copy()  # (origins, season, columns)
        self.t = origins.copy()  # the row each origin forecasts next

    def next_value(self, innovation: np.ndarray, t: int | None = None) -> np.ndarray:
        """The value at each origin's next row: the filter's forecast plus `innovation`."""
        p = self.params
        damped = p.phi * self.trend
        value = self.level + damped + innovation
        if p.season_length:
            slot = self.t % p.season_length
            rows = np.arange(len(slot))
            value = value + self.seasonal[rows, slot]
            self.seasonal[rows, slot] += p.gamma * innovation
        self.level = self.level + damped + p.alpha * innovation
        self.trend = damped + p.beta * innovation
        self.t = self.t + 1
        return value


def ahead(
    params: Params, states: np.ndarray, origins: np.ndarray, innovations: np.ndarray
) -> np.ndarray:
    """(origins, horizon, columns): the values a `Recursion` from `states` gives, step by step,
    for the innovations (origins, horizon, columns), as one product per season phase."""
    horizon = innovations.shape[1]
    phases = origins % params.season_length if params.season_length else np.zeros_like(origins)
    out = np.empty_like(innovations, dtype=np.float64)
    for phase in np.unique(phases):
        at = phases == phase
        maps = _ahead_map(params, horizon, int(phase), states.shape[1])
        rows = states.shape[1]
        out[at] = np.einsum("hs,osc->ohc", maps[:, :rows], states[at]) + np.einsum(
            "hj,ojc->ohc", maps[:, rows:], innovations[at]
        )
    return out


@functools.lru_cache(maxsize=MAPS)
def _ahead_map(params: Params, horizon: int, phase: int, rows: int) -> np.ndarray:
    """(horizon, rows + horizon): each step's value as a map of the states and the innovations,
    from a `Recursion` run on unit states and unit innovations side by side."""
    basis = rows + horizon
    states = np.zeros((basis, rows, 1))
    states[np.arange(rows), np.arange(rows), 0] = 1.0
    recursion = Recursion(params, states, np.full(basis, phase))
    out = np.empty((horizon, basis))
    for h in range(horizon):
        innovation = np.zeros((basis, 1))
        innovation[rows + h] = 1.0
        out[h] = recursion.next_value(innovation)[:, 0]
    return out


def fit(
    y: np.ndarray, *, season_length: int | None, trend: Trend | Literal["auto"],
    horizon: int | None = None,
) -> Params:  # fmt: skip
    """The parameters minimising the squared errors of the 1..horizon-step forecasts from every
    row (a season's, or 10, by default), for the trend form given, or (trend auto) for the form
    with the lowest AICc when fitted to its one-step errors, as AutoETS chooses: the trend form,
    and the season kept or left out. y is one column (n,). Leaving it out was measured on
    bench/accuracy.py's seasonal series (the smoothing forecast alone over the best statistical
    model's holdout MSE, geometric mean): 1.52 to 1.40 (quarterly_trend-s0 5.5 to 1.8).

    Multi-step errors, as R's forecast::ets offers (`opt.crit = "amse"`): the network's prior is
    forecast many steps ahead, and parameters fitted to one-step errors chase the noise of a
    short series (a trend that turns with every point): on bench/accuracy.py's series, the
    smoothing forecast alone over the best statistical model's holdout MSE, geometric mean,
    went from 1.66 to 1.46 (short_monthly-s0 10.3 to 1.5, austres 6.9 to 2.3, airpassengers 3.9
    to 0.8)."""
    y = np.asarray(y, dtype=np.float64)[-FIT_ROWS:]
    ahead = horizon if horizon is not None else season_length or 10
    ahead = max(1, min(ahead, len(y) // 4))
    if trend != "auto":
        return _fit_form(y, season_length, trend, ahead)[0]
    seasons = [season_length, None] if season_length else [None]
    fitted = [
        _fit_form(y, season, form, 1)
        for season in seasons
        for form in ("none", "additive", "damped")
    ]
    chosen = min(fitted, key=lambda f: f[1])[0]
    return _fit_form(y, chosen.season_length, chosen.trend, ahead)[0]


def _fit_form(
    y: np.ndarray, season_length: int | None, trend: Trend, ahead: int
) -> tuple[Params, float]:
    """The form's parameters fitted to the 1..ahead-step errors, and the AICc of the one-step
    errors (a likelihood only when ahead is 1: the form is chosen by those fits)."""
    warm = warmup_rows(trend, season_length, len(y))
    form = Params(trend, season_length, 0.0, 0.0, 0.0, 1.0, warm)
    grid = _grid(trend, season_length)
    best = grid[int(np.argmin(_sse(y, grid, form, ahead)))]
    fine = _refine(best, trend, season_length)
    sse = _sse(y, fine, form, ahead)
    best = fine[int(np.argmin(sse))]
    alpha, beta, gamma, phi = (float(v) for v in best)
    params = Params(trend, season_length, alpha, beta, gamma, phi, warm)
    return params, _aicc(float(np.min(sse)), rows=len(y), free=_free(params))


def _grid(trend: Trend, season_length: int | None) -> np.ndarray:
    betas = _BETAS if trend != "none" else (0.0,)
    gammas = _GAMMAS if season_length else (0.0,)
    phis = _PHIS if trend == "damped" else (1.0,)
    points = [
        (a, b, g, p)
        for a, b, g, p in itertools.product(_ALPHAS, betas, gammas, phis)
        if b <= a and g <= 1 - a
    ]
    return np.array(points)


def _refine(best: np.ndarray, trend: Trend, season_length: int | None) -> np.ndarray:
    """A finer grid around the best point: each parameter scaled by 0.6, 0.8, 1, 1.25, 1.6."""
    factors = (0.6, 0.8, 1.0, 1.25, 1.6)
    alpha, beta, gamma, phi = best
    alphas = sorted({float(np.clip(alpha * f, 0.01, 0.999)) for f in factors})
    betas = sorted({float(min(beta * f, 0.5)) for f in factors}) if trend != "none" else [0.0]
    gammas = sorted({float(min(gamma * f, 0.6)) for f in factors}) if season_length else [0.0]
    phis = sorted({float(np.clip(1 - (1 - phi) * f, 0.8, 0.995)) for f in factors})
    phis = phis if trend == "damped" else [1.0]
    points = [
        (a, b, g, p)
        for a, b, g, p in itertools.product(alphas, betas, gammas, phis)
        if b <= a and g <= 1 - a
    ]
    return np.array(points) if points else best[None]


def _sse(y: np.ndarray, grid: np.ndarray, form: Params, ahead: int) -> np.ndarray:
    """For each parameter set of the grid, the sum of squared errors of the 1..ahead-step
    forecasts from every row, with the initial states least squares fits (to the one-step
    errors) on the first `init_rows` rows. With ahead 1, what AutoETS minimises (its likelihood
    with the initial states estimated, for additive errors)."""
    column = y[:, None]
    alpha, beta, gamma, phi = (grid[:, i] for i in range(4))
    init = _initial_states_grid(column[: init_rows(form)], alpha, beta, gamma, phi, form)[:, :, 0]
    total = np.zeros(len(grid))
    forecasts, _ = _filter(
        np.repeat(column, len(grid), axis=1), alpha, beta, gamma, phi, init,
        season=form.season_length or 1, ahead=ahead if ahead > 1 else 0, ahead_sse=total,
    )  # fmt: skip
    sse = total if ahead > 1 else np.sum((column - forecasts) ** 2, axis=0)
    return np.where(np.isfinite(sse), sse, np.inf)


def _free(params: Params) -> int:
    """Parameters estimated: smoothing parameters and initial states."""
    smoothing = 1 + (params.trend != "none") + bool(params.season_length)
    return smoothing + (params.trend == "damped") + params.states


def _aicc(sse: float, *, rows: int, free: int) -> float:
    if rows <= free + 1 or sse <= 0:
        return math.inf
    loglik = -0.5 * rows * (math.log(2 * math.pi * sse / rows) + 1)
    return -2 * loglik + 2 * free + 2 * free * (free + 1) / (rows - free - 1)
