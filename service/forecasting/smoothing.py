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

The initial states come from the first `warmup` rows of whatever series the filter runs over, by
least squares (the one-step errors are linear in them), and nothing else: a value is filtered
only from what came before it, so innovations, one-step predictions and forecasts never see the
future. The parameters are fitted on the training series by a coarse-to-fine grid over
(alpha, beta, gamma, phi), all candidates filtered at once as numpy columns: tens of
milliseconds a series, where statsmodels' optimiser takes 0.3-1.5 s per model form here, and the
filter must run in the API process, which has no statsmodels. The trend form (none, additive,
damped) is chosen by AICc, as statsforecast's AutoETS chooses.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Trend = Literal["none", "additive", "damped"]
# Rows of the training series the parameters are fitted on (the latest ones): enough to pin four
# smoothing parameters down, and a bounded cost on long series.
FIT_ROWS = 2000
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
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run the filter over y (n, columns) from initial states `init` (states, columns), rows:
    level, trend, then the season's states for t % season == 0, 1, ... Returns the one-step
    forecasts (n, columns) and, for each row index in `record`, the states before that row."""
    n, columns = y.shape
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


def initial_states(params: Params, y: np.ndarray) -> np.ndarray:
    """(states rows, columns): least squares over the first `warmup` rows of y (n, columns)."""
    return _initial_states_grid(
        y[: params.warmup], np.array([params.alpha]), np.array([params.beta]),
        np.array([params.gamma]), np.array([params.phi]), params,
    )[:, 0, :]  # fmt: skip


def _initial_states_grid(
    y: np.ndarray, alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray, phi: np.ndarray,
    form: Params,
) -> np.ndarray:  # fmt: skip
    """(state rows, grid, columns): the least-squares initial states of y (w, columns) for each
    parameter set of the grid. The one-step errors are linear in the initial states, so they are
    y's errors from zero states less the effect of each state alone."""
    w, columns = y.shape
    grid = len(alpha)
    rows = _init_rows(form.season_length)
    used = [0, *([1] if form.trend != "none" else []), *range(2, rows)]
    k = len(used)
    # Columns: for each grid point and data column, the data from zero states, then each used
    # state set to one with zero data.
    data = np.zeros((w, grid, columns, k + 1))
    data[:, :, :, 0] = y[:, None, :]
    init = np.zeros((rows, grid, columns, k + 1))
    for c, r in enumerate(used):
        init[r, :, :, c + 1] = 1.0
    shape = (grid, columns, k + 1)
    a, b, g, p = (
        np.broadcast_to(v[:, None, None], shape).reshape(-1) for v in (alpha, beta, gamma, phi)
    )
    forecasts, _ = _filter(
        data.reshape(w, -1), a, b, g, p, init.reshape(rows, -1), season=form.season_length or 1
    )
    forecasts = forecasts.reshape(w, grid, columns, k + 1).transpose(1, 2, 0, 3)
    residual = y.T[None] - forecasts[..., 0]  # (grid, columns, w)
    effect = forecasts[..., 1:]  # (grid, columns, w, k)
    # Least squares for every grid point at once; the pseudo-inverse takes the level/season
    # trade-off (a constant moved between them changes no forecast) by the smallest states.
    solution = np.einsum("gckw,gcw->gck", np.linalg.pinv(effect), residual)
    out = np.zeros((rows, grid, columns))
    out[used] = solution.transpose(2, 0, 1)
    return out


def one_step(params: Params, y: np.ndarray) -> np.ndarray:
    """(n, columns): the filter's forecast of each row from the rows before it (NaN within the
    warm-up, whose rows estimated the initial states)."""
    if len(y) <= MAP_ROWS and np.isfinite(y).all():
        return _one_step_map(params, len(y)) @ y
    return _one_step_filtered(params, y)


@functools.lru_cache(maxsize=MAPS)
def _one_step_map(params: Params, n: int) -> np.ndarray:
    """(n, n): row t maps a series to its one-step forecast of row t."""
    return _one_step_filtered(params, np.eye(n))


def _one_step_filtered(params: Params, y: np.ndarray) -> np.ndarray:
    forecasts, _ = _filter(
        y, params.alpha, params.beta, params.gamma, params.phi, initial_states(params, y),
        season=params.season_length or 1,
    )  # fmt: skip
    forecasts[: params.warmup] = np.nan
    return forecasts


def states_at(params: Params, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """(origins, state rows, columns): the filter's states just before each origin row."""
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
    _, kept = _filter(
        y[: int(origins.max())], params.alpha, params.beta, params.gamma, params.phi,
        initial_states(params, y), season=params.season_length or 1, record=origins,
    )  # fmt: skip
    return np.stack(kept)


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


def fit(y: np.ndarray, *, season_length: int | None, trend: Trend | Literal["auto"]) -> Params:
    """The parameters minimising one-step squared errors after the warm-up, for the trend form
    given, or for the form with the lowest AICc. y is one column (n,)."""
    y = np.asarray(y, dtype=np.float64)[-FIT_ROWS:]
    forms: list[Trend] = ["none", "additive", "damped"] if trend == "auto" else [trend]
    fitted = [_fit_form(y, season_length, form) for form in forms]
    return min(fitted, key=lambda f: f[1])[0]


def _fit_form(y: np.ndarray, season_length: int | None, trend: Trend) -> tuple[Params, float]:
    warm = warmup_rows(trend, season_length, len(y))
    form = Params(trend, season_length, 0.0, 0.0, 0.0, 1.0, warm)
    grid = _grid(trend, season_length)
    sse = _sse(y, grid, form)
    best = grid[int(np.argmin(sse))]
    fine = _refine(best, trend, season_length)
    sse_fine = _sse(y, fine, form)
    best = fine[int(np.argmin(sse_fine))]
    value = float(np.min(sse_fine))
    alpha, beta, gamma, phi = (float(v) for v in best)
    params = Params(trend, season_length, alpha, beta, gamma, phi, warm)
    return params, _aicc(value, rows=len(y) - warm, free=_free(params))


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


def _sse(y: np.ndarray, grid: np.ndarray, form: Params) -> np.ndarray:
    """Sum of squared one-step errors after the warm-up, for each parameter set of the grid."""
    column = y[:, None]
    alpha, beta, gamma, phi = (grid[:, i] for i in range(4))
    init = _initial_states_grid(column[: form.warmup], alpha, beta, gamma, phi, form)[:, :, 0]
    forecasts, _ = _filter(
        np.repeat(column, len(grid), axis=1), alpha, beta, gamma, phi, init,
        season=form.season_length or 1,
    )  # fmt: skip
    errors = (column - forecasts)[form.warmup :]
    sse = np.sum(errors**2, axis=0)
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
