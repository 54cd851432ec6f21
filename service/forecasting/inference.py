"""Predictions from a trained model: one step per window, and recursive multi-step forecasts.

The forecaster works on a `forward` function (scaled float32 windows in, scaled outputs out), so
the same code serves a Keras model or any exact equivalent of it. Around it, in order: series
transforms (log, differences), per-window normalisation, scaling; each undone on the way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from service.forecasting import transforms
from service.forecasting.data import Examples, Preprocessing, series_examples
from service.forecasting.metrics import Evaluation
from service.forecasting.network import Forward
from service.forecasting.windowing import as_2d

if TYPE_CHECKING:
    import keras

    from service.forecasting.fused import JointCalls


def window_reference(inputs: np.ndarray, how: str) -> np.ndarray | None:
    """Per window and feature, the value a normalised window is expressed relative to."""
    if how == "last":
        return inputs[:, -1, :]
    if how == "mean":
        return inputs.mean(axis=1)
    return None


@dataclass(frozen=True)
class Windows:
    """A series cut for one-step predictions: the windows, the levels' actual values (to invert
    predictions through), the rows predicted and the series."""

    inputs: np.ndarray
    history: list[np.ndarray]
    t: np.ndarray
    data: np.ndarray


class Forecaster:
    """`joint`, when given, serves this network's whole steps and horizons in one runtime call
    each (fused.py), for batches of fewer than `joint_below` windows; `forward` serves
    the rest."""

    def __init__(
        self,
        forward: Forward,
        preprocessing: Preprocessing,
        joint: JointCalls | None = None,
        *,
        joint_below: int | None = None,
    ) -> None:
        self.forward = forward
        self.prep = preprocessing
        self.lag = transforms.lag(preprocessing.transforms)
        self.joint = joint
        self.joint_below = joint_below

    @property
    def min_history(self) -> int:
        """Rows a series needs for one window (after what the transforms use up)."""
        assert self.prep.window is not None, "only series models read series"
        return self.lag + self.prep.window.length

    @property
    def columns(self) -> list[int]:
        return self.prep.target_columns or list(range(self.prep.features))

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """One prediction (outputs,) per window (timesteps, features), in the units the windows
        are in (the last transform's level for a series model with transforms)."""
        if len(inputs) == 0:
            return np.empty((0, self.prep.outputs))
        if self.joint is not None and joins(len(inputs), self.joint_below):
            return self.joint.step([inputs])[0]
        reference = window_reference(inputs, self.prep.window_normalization)
        if reference is not None:
            inputs = inputs - reference[:, None, :]
        x = self.prep.x_scaler.transform(inputs).astype(np.float32)
        y = self.prep.y_scaler.inverse(np.asarray(self.forward(x), dtype=np.float64))
        if reference is not None:  # series models only: their targets are some of the features
            y = y + reference[:, self.columns]
        return y

    def windows(self, series: np.ndarray, *, stride: int = 1) -> Examples:
        """The series' last transform level cut the way the model was trained."""
        return self._cut(transforms.levels(self.prep.transforms, as_2d(series))[-1], stride)

    def _cut(self, top: np.ndarray, stride: int, offset: int | None = None) -> Examples:
        """Windows from row `offset` on (the first row past the transforms' lag by default)."""
        assert self.prep.window is not None, "only series models cut series into windows"
        return series_examples(
            top[self.lag if offset is None else offset :],
            window=self.prep.window,
            target_columns=self.prep.target_columns,
            stride=stride,
        )

    def evaluate(self, series: np.ndarray, *, stride: int = 1, first: int = 0) -> Evaluation:
        """One-step predictions for every window of the series, in original units, each with
        the actual next value (as the lecture's `model.predict(test_generator)`); the first
        target is at row `first`, or at the first row one window allows if that is later."""
        windows = self.evaluation_windows(series, stride=stride, first=first)
        return self.evaluated(windows, self.predict(windows.inputs))

    def evaluation_windows(self, series: np.ndarray, *, stride: int, first: int) -> Windows:
        window = self.prep.window
        assert window is not None, "only series models cut series into windows"
        data = as_2d(series)
        levels = transforms.levels(self.prep.transforms, data)
        history = [level[:, self.columns] for level in levels]
        offset = max(first, self.min_history) - window.length
        cut = self._cut(levels[-1], stride, offset)
        t = offset + window.length + stride * np.arange(len(cut))
        return Windows(cut.inputs, history, t, data)

    def evaluated(self, windows: Windows, predictions: np.ndarray) -> Evaluation:
        """Predictions for `windows` (in the last level's units) as an evaluation."""
        t, data = windows.t, windows.data
        predicted = transforms.invert(self.prep.transforms, predictions, windows.history, t)
        return Evaluation(predicted, data[t][:, self.columns], t, data[:, self.columns])

    def forecast(self, series: np.ndarray, *, horizon: int) -> np.ndarray:
        """`horizon` steps past the end of the series, each prediction fed back as input."""
        return self.forecast_from(series, [len(series)], horizon=horizon)[0]

    def forecast_from(
        self, series: np.ndarray, origins: Sequence[int], *, horizon: int
    ) -> np.ndarray:
        """(origins, horizon, columns): from each origin o, `horizon` steps forecast from
        series[:o] alone, each prediction fed back as input. All origins advance together, one
        model call per step, so a backtest or a calibration costs `horizon` calls, not
        origins x horizon."""
        window = self.prep.window
        assert window is not None, "only series models forecast ahead"
        assert self.prep.recursive, "only a model predicting every column forecasts ahead"
        data = as_2d(series)
        starts = np.asarray(origins, dtype=np.int64)
        assert len(starts) and starts.min() >= self.min_history, "each origin needs a window"
        if self.joint is not None and self.joint.recursive and joins(len(starts), self.joint_below):
            ahead = self.joint.ahead([self.history(data, starts)], horizon)[0]
            return self.unrolled(data, starts, ahead)
        if not self.prep.transforms and self.prep.window_normalization == "none":
            return self._forecast_scaled(data, starts, horizon=horizon)
        return self.unrolled(data, starts, self._ahead_top(data, starts, horizon=horizon))

    def _ahead_top(self, data: np.ndarray, starts: np.ndarray, *, horizon: int) -> np.ndarray:
        """(origins, horizon, features): the last level's recursion, one model call per step;
        the levels below are undone afterwards, for the whole horizon at once."""
        window = self.prep.window
        assert window is not None
        length, rate = window.length, window.sampling_rate
        room = np.zeros((len(starts), horizon, self.prep.features))
        buffer = np.concatenate([self.history(data, starts), room], axis=1)
        for h in range(horizon):
            buffer[:, length + h] = self.predict(buffer[:, h : h + length : rate])
        return buffer[:, length:]

    def history(self, data: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(origins, length, features): the last level's `length` rows before each origin,
        what a recursive forecast starts from."""
        assert self.prep.window is not None
        rows = starts[:, None] + np.arange(-self.prep.window.length, 0)[None, :]
        return transforms.levels(self.prep.transforms, data)[-1][rows]

    def unrolled(self, data: np.ndarray, starts: np.ndarray, ahead: np.ndarray) -> np.ndarray:
        """A recursive forecast of the last level (origins, horizon, features), computed in one
        call, carried down the transforms in a few array operations (transforms.unroll)."""
        return transforms.unroll(self.prep.transforms, data, starts, ahead)

    def _forecast_scaled(self, data: np.ndarray, starts: np.ndarray, *, horizon: int) -> np.ndarray:
        """The same recursion, all in scaled units (the targets' scaler is the inputs' when
        nothing else stands between them): one model call per step and nothing else."""
        window = self.prep.window
        assert window is not None
        rows = starts[:, None] + np.arange(-window.length, 0)[None, :]  # (origins, length)
        tail = self.prep.x_scaler.transform(data[rows])
        room = np.zeros((len(starts), horizon, self.prep.features))
        buffer = np.concatenate([tail, room], axis=1).astype(np.float32)
        for h in range(horizon):
            x = buffer[:, h : h + window.length : window.sampling_rate]
            buffer[:, window.length + h] = self.forward(x)
        return self.prep.y_scaler.inverse(buffer[:, window.length :].astype(np.float64))


def joins(windows: int, below: int | None) -> bool:
    """Whether a batch goes to the joint graphs (all sizes when no limit is set)."""
    return windows > 0 and (below is None or windows < below)


def keras_forward(model: keras.Model) -> Forward:
    """A compiled call with a fixed input signature: no per-call `predict` overhead, no retracing,
    and safe to call from several threads at once."""
    import tensorflow as tf

    _, timesteps, features = model.input_shape
    signature = [tf.TensorSpec((None, timesteps, features), tf.float32)]
    call = tf.function(
        lambda x: model(x, training=False), input_signature=signature, autograph=False
    )

    def forward(x: np.ndarray) -> np.ndarray:
        return call(tf.constant(x, tf.float32)).numpy()

    return forward
