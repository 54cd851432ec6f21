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


def initial_weights(
    layers: list[LayerSpec] | tuple[LayerSpec, ...],
    *,
    timesteps: int,
    features: int,
    outputs: int,
    seed: int,
) -> tuple[np.ndarray, ...]:
    """The weights Keras gives this stack when it is built under `seed`: its own initialisers
    (Glorot-uniform kernels, orthogonal recurrent kernels, the LSTM forget gate's unit bias) in
    its own order, so a seed means what it means to a Keras user (and to earlier versions of
    this service). About 30 ms a stack.

    (Drawn in numpy from the same distributions instead, the weights differ draw by draw, and a
    seed's luck is shared by every series of the same shape: bench/accuracy.py's default
    configuration, seed 0 throughout, measured 2.4x the best statistical model against 1.6x.)"""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(list(layers), timesteps=timesteps, features=features, outputs=outputs)
    return tuple(np.asarray(w) for w in model.get_weights())


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
