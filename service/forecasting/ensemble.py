"""Several forecasters of one series served as one: their forecasts averaged.

`auto` keeps its best few candidates rather than its single best: the validation ranking of
candidates on a short tail is noisy and one retrained network carries its own training variance,
while the mean of a few good ones is steadier (measured in auto.py's ENSEMBLE_SIZE comment).
Members may differ in architecture and transforms, so each cuts, normalises and inverts its own
windows; they are averaged in original units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from service.forecasting.data import Preprocessing
from service.forecasting.inference import Forecaster, joins
from service.forecasting.metrics import Evaluation
from service.forecasting.windowing import as_2d

if TYPE_CHECKING:
    from service.forecasting.fused import JointCalls


class SeriesForecaster(Protocol):
    """What serving, backtests and calibration need of a model: a Forecaster or an Ensemble."""

    @property
    def prep(self) -> Preprocessing: ...

    @property
    def min_history(self) -> int: ...

    def predict(self, inputs: np.ndarray) -> np.ndarray: ...

    def evaluate(self, series: np.ndarray, *, stride: int = 1, first: int = 0) -> Evaluation: ...

    def forecast(self, series: np.ndarray, *, horizon: int) -> np.ndarray: ...

    def forecast_from(
        self, series: np.ndarray, origins: Sequence[int], *, horizon: int
    ) -> np.ndarray: ...


class Ensemble:
    """The mean of its members' predictions. Every member forecasts the same columns of the same
    series; the first member's preprocessing describes the ensemble's inputs and outputs.

    `joint`, when given, runs every member in one runtime call (fused.py) for batches of
    fewer than `joint_below` windows, and for every recursive forecast."""

    def __init__(
        self,
        members: Sequence[Forecaster],
        joint: JointCalls | None = None,
        *,
        joint_below: int | None = None,
    ) -> None:
        assert members, "an ensemble needs a member"
        self.members = list(members)
        self.prep = self.members[0].prep
        self.joint = joint
        self.joint_below = joint_below

    @property
    def min_history(self) -> int:
        """Rows for one window of every member (members with more transforms need more)."""
        return max(m.min_history for m in self.members)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Windows of the series itself: only for members without transforms (validation.py
        refuses `inputs` otherwise)."""
        if self.joint is not None and joins(len(inputs), self.joint_below):
            return np.mean(self.joint.step([inputs] * len(self.members)), axis=0)
        return np.mean([m.predict(inputs) for m in self.members], axis=0)

    def evaluate(self, series: np.ndarray, *, stride: int = 1, first: int = 0) -> Evaluation:
        """One-step predictions at the rows every member can predict."""
        start = max(first, self.min_history)
        cuts = [m.evaluation_windows(series, stride=stride, first=start) for m in self.members]
        if self.joint is not None and joins(len(cuts[0].inputs), self.joint_below):
            predictions = self.joint.step([cut.inputs for cut in cuts])
        else:
            predictions = [m.predict(cut.inputs) for m, cut in zip(self.members, cuts, strict=True)]
        parts = [
            m.evaluated(cut, y) for m, cut, y in zip(self.members, cuts, predictions, strict=True)
        ]
        mean = np.mean([p.predictions for p in parts], axis=0)
        head = parts[0]
        return Evaluation(mean, head.targets, head.t, head.series)

    def forecast(self, series: np.ndarray, *, horizon: int) -> np.ndarray:
        """Each member's recursive forecast (its own predictions fed back), averaged."""
        return self.forecast_from(series, [len(series)], horizon=horizon)[0]

    def forecast_from(
        self, series: np.ndarray, origins: Sequence[int], *, horizon: int
    ) -> np.ndarray:
        joint = self.joint is not None and self.joint.recursive
        if self.joint is None or not joint or not joins(len(origins), self.joint_below):
            forecasts = [m.forecast_from(series, origins, horizon=horizon) for m in self.members]
            return np.mean(forecasts, axis=0)
        data, starts = as_2d(series), np.asarray(origins, dtype=np.int64)
        assert len(starts) and starts.min() >= self.min_history, "each origin needs a window"
        ahead = self.joint.ahead([m.history(data, starts) for m in self.members], horizon)
        unrolled = [m.unrolled(data, starts, a) for m, a in zip(self.members, ahead, strict=True)]
        return np.mean(unrolled, axis=0)
