"""Series transforms fitted before windowing and inverted on every prediction.

A chain of steps turns the series y into levels: level 0 is y, level k is step k applied to
level k-1 (log, differences of order 1 or 2, or a seasonal difference). The network learns the
last level. Levels are kept at the series' own time index, NaN where a step has no value yet (the
first `order` or `season_length` samples), so inverting a prediction made for time t reads the
actual values of the lower levels just before t.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class Transform(BaseModel):
    """One step: `log` (positive data only), `difference` (order 1 or 2) or
    `seasonal_difference` (y[t] - y[t - season_length])."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["log", "difference", "seasonal_difference"]
    order: int = Field(default=1, ge=1, le=2, description="difference only")
    season_length: int | None = Field(default=None, ge=2, le=10_000)

    @model_validator(mode="after")
    def _season_for_seasonal(self) -> Transform:
        if (self.type == "seasonal_difference") != (self.season_length is not None):
            raise ValueError("season_length goes with (and only with) seasonal_difference")
        return self

    @property
    def lag(self) -> int:
        """Samples this step needs before its first value."""
        if self.type == "difference":
            return self.order
        return self.season_length or 0

    def apply(self, x: np.ndarray) -> np.ndarray:
        out = np.full_like(x, np.nan)
        if self.type == "log":
            return np.log(x)
        if self.type == "difference":
            diff = np.diff(x, n=self.order, axis=0)
            out[self.order :] = diff
            return out
        m = self.lag
        out[m:] = x[m:] - x[:-m]
        return out

    def invert(self, value: np.ndarray, below: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The level below at times t, from this level's `value` there and the level below's
        actual values before t (`below` is indexed by time)."""
        if self.type == "log":
            return np.exp(value)
        if self.type == "difference" and self.order == 1:
            return below[t - 1] + value
        if self.type == "difference":
            return value + 2 * below[t - 1] - below[t - 2]
        return below[t - self.lag] + value


def lag(chain: list[Transform]) -> int:
    """Leading samples the whole chain loses: the first time the last level has a value."""
    return sum(step.lag for step in chain)


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


def fill(chain: list[Transform], history: list[np.ndarray], t: int, value: np.ndarray) -> None:
    """Write a predicted last-level row at time t into every level, in place."""
    history[-1][t] = value
    for k in range(len(chain) - 1, -1, -1):
        history[k][t] = chain[k].invert(value[None, ...], history[k], np.array([t]))[0]
        value = history[k][t]
