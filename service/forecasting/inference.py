"""Predictions from a trained model: one step per window, and recursive multi-step forecasts.

The forecaster works on a `forward` function (scaled float32 windows in, scaled outputs out), so
the same code serves a Keras model or any exact equivalent of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from service.forecasting.data import Examples, Preprocessing, series_examples
from service.forecasting.windowing import as_2d

if TYPE_CHECKING:
    import keras

Forward = Callable[[np.ndarray], np.ndarray]


class Forecaster:
    def __init__(self, forward: Forward, preprocessing: Preprocessing) -> None:
        self.forward = forward
        self.prep = preprocessing

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """One prediction (outputs,) per window (timesteps, features), in original units."""
        if len(inputs) == 0:
            return np.empty((0, self.prep.outputs))
        x = self.prep.x_scaler.transform(inputs).astype(np.float32)
        return self.prep.y_scaler.inverse(np.asarray(self.forward(x), dtype=np.float64))

    def windows(self, series: np.ndarray, *, stride: int = 1) -> Examples:
        """The series cut the way the model was trained, each window with its next value."""
        assert self.prep.window is not None, "only series models cut series into windows"
        return series_examples(
            series, window=self.prep.window, target_columns=self.prep.target_columns, stride=stride
        )

    def forecast(self, series: np.ndarray, *, horizon: int) -> np.ndarray:
        """`horizon` steps past the end of the series, each prediction fed back as input."""
        window = self.prep.window
        assert window is not None and self.prep.recursive, "only series models forecast ahead"
        # Work in scaled units: a series model's target scaler is its input scaler.
        tail = self.prep.x_scaler.transform(as_2d(series)[-window.length :])
        buffer = np.concatenate([tail, np.zeros((horizon, self.prep.features))]).astype(np.float32)
        for h in range(horizon):
            x = buffer[h : h + window.length : window.sampling_rate][None, ...]
            buffer[window.length + h] = self.forward(x)[0]
        return self.prep.y_scaler.inverse(buffer[window.length :].astype(np.float64))


def keras_forward(model: keras.Model) -> Forward:
    """A compiled call with a fixed input signature: no per-call `predict` overhead, no retracing,
    and safe to call from several threads at once."""
    import tensorflow as tf

    _, timesteps, features = model.input_shape
    signature = [tf.TensorSpec((None, timesteps, features), tf.float32)]
    call = tf.function(lambda x: model(x, training=False), input_signature=signature)

    def forward(x: np.ndarray) -> np.ndarray:
        return call(tf.constant(x, tf.float32)).numpy()

    return forward
