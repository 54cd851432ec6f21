"""Series transforms fitted before windowing and inverted on every prediction.

A chain of steps turns the series y into levels: level 0 is y, level k is step k applied to
level k-1 (log, differences of order 1 or 2, a seasonal difference, or the innovations of an
exponential smoothing filter fitted to the series: forecasting/smoothing.py). The network learns
the last level. Levels are kept at the series' own time index, NaN where a step has no value yet
(the first `order` or `season_length` samples, the smoothing's warm-up), so inverting a
prediction made for time t reads the actual values of the lower levels just before t.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.forecasting import smoothing
from service.forecasting.jsontypes import JsonBool, JsonFloat, JsonInt


class Fitted(BaseModel):
    """A smoothing step's parameters, fitted to the training series."""

    model_config = ConfigDict(extra="forbid")

    trend: Literal["none", "additive", "damped"]
    alpha: JsonFloat
    beta: JsonFloat
    gamma: JsonFloat
    phi: JsonFloat
    warmup: JsonInt = Field(description="Rows each series' initial states are estimated from.")
    seasonal: JsonBool = Field(
        default=True,
        description="whether the season_length's season was kept (trend auto: by AICc)",
    )


class Transform(BaseModel):
    """One step: `log` (positive data only), `difference` (order 1 or 2),
    `seasonal_difference` (y[t] - y[t - season_length]) or `smoothing` (the innovations of an
    additive exponential smoothing filter with the given trend form and optional season, fitted
    to the training series; its fitted parameters are stored with the model)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["log", "difference", "seasonal_difference", "smoothing"]
    order: JsonInt = Field(default=1, ge=1, le=2, description="difference only")
    season_length: JsonInt | None = Field(default=None, ge=2, le=10_000)
    trend: Literal["auto", "none", "additive", "damped"] = Field(
        default="auto", description="smoothing only: the trend form (auto: lowest AICc)"
    )
    fitted: Fitted | None = Field(
        default=None, description="smoothing only: set when the model is trained"
    )

    @model_validator(mode="after")
    def _season_for_seasonal(self) -> Transform:
        if self.type == "seasonal_difference" and self.season_length is None:
            raise ValueError("seasonal_difference needs its season_length")
        if self.type in ("log", "difference") and self.season_length is not None:
            raise ValueError(
                f"season_length goes with seasonal_difference or smoothing, not {self.type}"
            )
        if self.type != "smoothing" and (self.trend != "auto" or self.fitted is not None):
            raise ValueError("trend (and fitted parameters) go with smoothing only")
        return self

    @property
    def lag(self) -> int:
        """Samples this step needs before its first value."""
        if self.type == "difference":
            return self.order
        if self.type == "smoothing":
            if self.fitted is not None:
                return self.fitted.warmup
            return smoothing.warmup_rows("additive", self.season_length, rows=10**9)
        return self.season_length or 0

    @property
    def params(self) -> smoothing.Params:
        assert self.fitted is not None, "a smoothing step is fitted before it is applied"
        f = self.fitted
        season = self.season_length if f.seasonal else None
        return smoothing.Params(f.trend, season, f.alpha, f.beta, f.gamma, f.phi, f.warmup)

    def fit(self, below: np.ndarray, *, keep_form: bool = False) -> Transform:
        """This step with its parameters fitted to the level below (the training series').
        `keep_form`: a fitted step's parameters fitted again, in the form its first fit chose
        (the trend form, and the season kept or left out)."""
        if self.type != "smoothing":
            return self
        trend, season = self.trend, self.season_length
        if keep_form and self.fitted is not None:
            trend, season = self.fitted.trend, season if self.fitted.seasonal else None
        p = smoothing.fit(below[:, 0], season_length=season, trend=trend)
        fitted = Fitted(
            trend=p.trend, alpha=p.alpha, beta=p.beta, gamma=p.gamma, phi=p.phi, warmup=p.warmup,
            seasonal=p.season_length is not None,
        )  # fmt: skip
        return self.model_copy(update={"fitted": fitted})

    def apply(self, x: np.ndarray) -> np.ndarray:
        out = np.full_like(x, np.nan)
        if self.type == "log":
            return np.log(x)
        if self.type == "smoothing":
            return x - smoothing.one_step(self.params, x)
        if self.type == "difference":
            diff = np.diff(x, n=self.order, axis=0)
            out[self.order :] = diff
            return out
        m = self.lag
        out[m:] = x[m:] - x[:-m]
        return out

    def invert(self, value: np.ndarray, below: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """The level below at times t, from this level's `value` there and the level below's
        actual values before t (`below` is indexed by time)."""
        if self.type == "log":
            return np.exp(value)
        if self.type == "smoothing":
            return smoothing.one_step(self.params, below)[t] + value
        if self.type == "difference" and self.order == 1:
            return below[t - 1] + value
        if self.type == "difference":
            return value + 2 * below[t - 1] - below[t - 2]
        return below[t - self.lag] + value

    def recursion(
        self, level_below: np.ndarray, origins: np.ndarray, buffer: np.ndarray, start: int
    ) -> Callable[[np.ndarray, int], np.ndarray]:
        """Inverting, one step at a time, a forecast made from several origins at once:
        `buffer` (time, origins, columns) holds the level below from `start` rows before each
        origin and is filled as the forecast goes; the function maps this level's values at
        buffer row t to the level below's there. (`level_below` is the whole series' level,
        for steps that need more history than the buffer holds.)"""
        if self.type == "smoothing":
            states = smoothing.states_at(self.params, level_below, origins)
            return smoothing.Recursion(self.params, states, origins).next_value
        return lambda value, t: self.invert(value, buffer, t)

    def unrolled(self, values: np.ndarray, below: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """The level below over a whole horizon (origins, horizon, columns) from this level's
        values there and the level below's actual values before each origin: what `recursion`
        gives step by step, as a few array operations (cumulative sums, the smoothing's maps)."""
        if self.type == "log":
            return np.exp(values)
        if self.type == "smoothing":
            states = smoothing.states_at(self.params, below, origins)
            return smoothing.ahead(self.params, states, origins, values)
        last = below[origins - 1][:, None]  # (origins, 1, columns)
        if self.type == "difference" and self.order == 1:
            return last + np.cumsum(values, axis=1)
        if self.type == "difference":
            slope = last - below[origins - 2][:, None]
            return last + np.cumsum(slope + np.cumsum(values, axis=1), axis=1)
        m = self.lag  # below[t] = below[t - m] + value: a cumulative sum per phase of the season
        origins_, horizon, columns = values.shape
        seasons = -(-horizon // m)
        padded = np.zeros((origins_, seasons * m, columns))
        padded[:, :horizon] = values
        sums = np.cumsum(padded.reshape(origins_, seasons, m, columns), axis=1)
        base = below[origins[:, None] + np.arange(-m, 0)[None, :]]  # (origins, m, columns)
        return (sums + base[:, None]).reshape(origins_, seasons * m, columns)[:, :horizon]

    @property
    def memory(self) -> int:
        """Rows of the level below that inverting one value reads (from the buffer)."""
        if self.type in ("log", "smoothing"):
            return 0
        return self.order if self.type == "difference" else self.season_length or 0


def check_chain(chain: list[Transform]) -> None:
    """Smoothing filters the series itself (or its log): first in the chain, or right after a
    log, and once."""
    for i, step in enumerate(chain):
        if step.type == "smoothing" and not (i == 0 or (i == 1 and chain[0].type == "log")):
            raise ValueError("smoothing goes first in transforms, or right after a log")


def fit(chain: list[Transform], series: np.ndarray, *, keep_form: bool = False) -> list[Transform]:
    """The chain with each step's parameters fitted to the training series (`keep_form`: a
    fitted chain fitted again, each step in the form it has, see Transform.fit)."""
    out: list[Transform] = []
    level = series.astype(np.float64)
    for step in chain:
        fitted = step.fit(level, keep_form=keep_form)
        out.append(fitted)
        level = fitted.apply(level)
    return out


def memory(chain: list[Transform]) -> int:
    """Rows of history the inversion of a chain reads, at most, on any level."""
    return max((step.memory for step in chain), default=0)


def lag(chain: list[Transform], *, rows: int | None = None) -> int:
    """Leading samples the whole chain loses: the first time the last level has a value (for a
    smoothing step not fitted yet, the warm-up it would take on `rows`, else its longest)."""
    total = 0
    for step in chain:
        if step.type == "smoothing" and step.fitted is None and rows is not None:
            total += smoothing.warmup_rows("additive", step.season_length, rows)
        else:
            total += step.lag
    return total


def levels(chain: list[Transform], series: np.ndarray, *, room: int = 0) -> list[np.ndarray]:
    """[y, step1(y), step2(step1(y)), ...], each the length of `series` (NaN before its lag),
    plus `room` empty (NaN) rows at the end for forecasts to fill."""
    out = [series.astype(np.float64)]
    for step in chain:
        out.append(step.apply(out[-1]))
    if room:
        out = [np.concatenate([level, np.full((room, *level.shape[1:]), np.nan)]) for level in out]
    return out


def invert(
    chain: list[Transform], value: np.ndarray, history: list[np.ndarray], t: np.ndarray
) -> np.ndarray:
    """Last-level values predicted for times t back to original units, through each level's
    actual values before t (`history` as `levels` returns it; it must reach t - 1)."""
    for k in range(len(chain) - 1, -1, -1):
        value = chain[k].invert(value, history[k], t)
    return value


def recurse(
    chain: list[Transform],
    series: np.ndarray,
    origins: np.ndarray,
    *,
    horizon: int,
    back: int,
    step: Callable[[np.ndarray, int], np.ndarray],
) -> np.ndarray:
    """(origins, horizon, columns) in original units: from each origin, `horizon` values of the
    last level, each `step(top, t)` from the last level's buffer (time, origins, columns) up to
    row t, carried down every level. Buffers keep `back` rows (at least) before each origin."""
    known = levels(chain, series)
    back = max(back, memory(chain))
    rows = origins[None, :] + np.arange(-back, 0)[:, None]  # (back, origins)
    room = np.full((horizon, len(origins), series.shape[1]), np.nan)
    buffers = [np.concatenate([level[rows], room]) for level in known]
    inverses = [s.recursion(known[k], origins, buffers[k], back) for k, s in enumerate(chain)]
    for t in range(back, back + horizon):
        value = step(buffers[-1], t)
        buffers[-1][t] = value
        for k in range(len(chain) - 1, -1, -1):
            value = inverses[k](value, t)
            buffers[k][t] = value
    return buffers[0][back:].swapaxes(0, 1)


def unroll(
    chain: list[Transform], series: np.ndarray, origins: np.ndarray, top: np.ndarray
) -> np.ndarray:
    """(origins, horizon, columns) in original units: the last level's recursive forecast `top`
    (origins, horizon, columns) from each origin carried down every level at once, as `recurse`
    carries it step by step (the last level never reads the ones below, so the order of the
    work changes nothing)."""
    known = levels(chain, series)
    value = top
    for k in range(len(chain) - 1, -1, -1):
        value = chain[k].unrolled(value, known[k], origins)
    return value
