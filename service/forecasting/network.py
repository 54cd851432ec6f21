"""A network as the service keeps it: its layer stack, its shape and its weights as numpy arrays.

Training runs on compiled steps that outlive any one network (forecasting/training.py), so a
trained network is its weights, not a Keras object: the Keras model is built from them when a
version is saved, and serving and validation run exports built from the same arrays. TensorFlow
is imported only where a Keras model is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from service.forecasting.spec import LayerSpec, LayerType

if TYPE_CHECKING:
    import keras

# A forward pass: scaled float32 windows (batch, timesteps, features) in, (batch, outputs) out.
Forward = Callable[[np.ndarray], np.ndarray]

_KERAS_LAYER = {
    LayerType.dense: "Dense",
    LayerType.simple_rnn: "SimpleRNN",
    LayerType.lstm: "LSTM",
    LayerType.gru: "GRU",
}
_GATES = {LayerType.dense: 1, LayerType.simple_rnn: 1, LayerType.lstm: 4, LayerType.gru: 3}


@dataclass(frozen=True)
class Network:
    """A layer stack with a Dense head of `outputs` units, and its weights in Keras' order
    (per layer: kernel, recurrent kernel, bias; the head's kernel and bias last)."""

    layers: tuple[LayerSpec, ...]
    timesteps: int
    features: int
    outputs: int
    weights: tuple[np.ndarray, ...]

    @property
    def flattened(self) -> bool:
        """A stack without recurrent layers sees the whole window flattened."""
        return not any(layer.type.recurrent for layer in self.layers)

    @property
    def sequence_out(self) -> bool:
        """Whether the stack ends in a sequence (the head then reads its last timestep)."""
        last_recurrent = [i for i, layer in enumerate(self.layers) if layer.type.recurrent]
        if not last_recurrent:
            return False
        return self.layers[last_recurrent[-1]].return_sequences

    def keras_model(self) -> keras.Model:
        model = build_model(
            list(self.layers), timesteps=self.timesteps, features=self.features,
            outputs=self.outputs,
        )  # fmt: skip
        model.set_weights(list(self.weights))
        return model


def weight_shapes(
    layers: list[LayerSpec] | tuple[LayerSpec, ...], *, timesteps: int, features: int, outputs: int
) -> list[tuple[int, ...]]:
    """The shapes `Network.weights` has for this stack, in order."""
    shapes: list[tuple[int, ...]] = []
    width = features * timesteps if not any(lay.type.recurrent for lay in layers) else features
    for layer in layers:
        gates = _GATES[layer.type] * layer.units
        shapes.append((width, gates))
        if layer.type.recurrent:
            shapes.append((layer.units, gates))
        shapes.append((2, gates) if layer.type is LayerType.gru else (gates,))
        width = layer.units
    return [*shapes, (width, outputs), (outputs,)]


def initial_weights(
    layers: list[LayerSpec] | tuple[LayerSpec, ...],
    *,
    timesteps: int,
    features: int,
    outputs: int,
    seed: int,
) -> tuple[np.ndarray, ...]:
    """Keras' default initialisers, drawn from one seeded generator: Glorot-uniform kernels,
    orthogonal recurrent kernels, zero biases but for the LSTM forget gate's ones. Drawn in numpy
    so that a fresh network costs microseconds and depends on the seed alone."""
    rng = np.random.default_rng(seed)
    shapes = iter(weight_shapes(layers, timesteps=timesteps, features=features, outputs=outputs))
    out: list[np.ndarray] = []
    for layer in (*layers, None):
        out.append(_glorot(rng, next(shapes)))
        if layer is not None and layer.type.recurrent:
            out.append(_orthogonal(rng, next(shapes)))
        bias = np.zeros(next(shapes), np.float32)
        if layer is not None and layer.type is LayerType.lstm:
            bias[layer.units : 2 * layer.units] = 1.0  # unit_forget_bias
        out.append(bias)
    return tuple(out)


def _glorot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _orthogonal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    rows, cols = shape
    q, r = np.linalg.qr(rng.normal(size=(max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))
    return (q.T if rows < cols else q).astype(np.float32)


def build_model(
    layers: list[LayerSpec], *, timesteps: int, features: int, outputs: int
) -> keras.Model:
    """The stack, then a Dense head with one unit per target.

    A stack without recurrent layers is an MLP over the flattened window. Dense layers between
    recurrent ones act per timestep, as in Keras. When the stack ends in a sequence, the head
    reads its last timestep.
    """
    import keras

    inputs = keras.Input(shape=(timesteps, features), name="window")
    x = inputs
    if not any(layer.type.recurrent for layer in layers):
        x = keras.layers.Flatten(name="flatten_window")(x)
    for i, layer in enumerate(layers):
        x = _keras_layer(layer, name=f"{layer.type}_{i}")(x)
    if len(x.shape) == 3:
        x = keras.layers.Cropping1D((x.shape[1] - 1, 0), name="last_timestep")(x)
        x = keras.layers.Flatten(name="flatten_last")(x)
    head = keras.layers.Dense(outputs, name="head")(x)
    return keras.Model(inputs, head)


def _keras_layer(layer: LayerSpec, *, name: str) -> keras.Layer:
    import keras

    cls = getattr(keras.layers, _KERAS_LAYER[layer.type])
    kwargs: dict[str, object] = {"name": name}
    if layer.activation is not None:
        kwargs["activation"] = layer.activation
    if layer.type.recurrent:
        kwargs["return_sequences"] = layer.return_sequences
    return cls(layer.units, **kwargs)


def build_optimizer(
    name: Literal["adam", "rmsprop", "sgd"], *, learning_rate: float
) -> keras.Optimizer:
    import keras

    classes = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
    }
    return classes[name](learning_rate=learning_rate)
