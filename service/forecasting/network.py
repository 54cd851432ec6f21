"""Build a Keras model from a layer stack. TensorFlow is imported only when a model is built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from service.forecasting.spec import LayerSpec, LayerType

if TYPE_CHECKING:
    import keras

_KERAS_LAYER = {
    LayerType.dense: "Dense",
    LayerType.simple_rnn: "SimpleRNN",
    LayerType.lstm: "LSTM",
    LayerType.gru: "GRU",
}


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
