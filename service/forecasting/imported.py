"""A Keras model built elsewhere, as the service's `Network`: its layer stack and its weights.

Once an uploaded model is a `Network`, it is exported, checked and served exactly as a trained
one (ONNX built from the weights, the numpy pass for large batches). The stacks taken are the
ones `network.build_model` emits, spelled as a notebook would: Dense, SimpleRNN, LSTM and GRU
layers, Flatten before an all-Dense stack, and Cropping1D (or nothing) to read a sequence's last
timestep. Options the serving paths lack (a GRU without `reset_after`, `go_backwards`, a
non-sigmoid recurrent activation) are refused by name; the caller also checks the result
against the Keras model itself on probe windows, which catches anything this reading missed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

import numpy as np

from service.forecasting.batched import Unsupported
from service.forecasting.network import Network
from service.forecasting.spec import Activation, LayerSpec, LayerType, check_stack

if TYPE_CHECKING:
    import keras

_TYPES = {
    "Dense": LayerType.dense,
    "SimpleRNN": LayerType.simple_rnn,
    "LSTM": LayerType.lstm,
    "GRU": LayerType.gru,
}
_ACTIVATIONS = set(get_args(Activation))
_ALIASES = {"silu": "swish"}  # Keras 3's name, the spec's


class _Reader:
    """Walks the layers once, keeping the stack, its weights and the tensor's rank."""

    def __init__(self, model: keras.Model) -> None:
        self.layers: list[LayerSpec] = []
        self.weights: list[np.ndarray] = []
        self.sequence = True  # the tensor is (batch, timesteps, units)
        self.cropped = False  # ... with only its last timestep left
        self.flattened = False  # an all-Dense stack over the flattened window
        for layer in model.layers:
            self.read(layer)

    def read(self, layer: Any) -> None:
        kind, config = type(layer).__name__, layer.get_config()
        name = f"layer {layer.name!r} ({kind})"
        if kind == "InputLayer":
            return
        if kind == "Flatten":
            self._flatten(name)
        elif kind == "Cropping1D":
            recurrent = any(spec.type.recurrent for spec in self.layers)
            if not recurrent or not self.sequence or self.cropped or layer.output.shape[1] != 1:
                raise Unsupported(f"{name}: the service reads a sequence's last timestep only")
            self.cropped = True
        elif kind in _TYPES:
            self._layer(layer, kind, config, name)
        else:
            raise Unsupported(f"{name} is not a layer the service serves")

    def _flatten(self, name: str) -> None:
        if self.cropped or not self.sequence:
            self.sequence = self.cropped = False  # (batch, 1, units) or (batch, units): as is
        elif not self.layers:
            self.flattened, self.sequence = True, False
        else:
            raise Unsupported(
                f"{name} flattens a whole sequence; the service's networks read its last "
                "timestep (return_sequences=False, or Cropping1D)"
            )

    def _layer(self, layer: Any, kind: str, config: dict[str, Any], name: str) -> None:
        layer_type = _TYPES[kind]
        if layer_type.recurrent:
            if not self.sequence or self.cropped:
                raise Unsupported(f"{name} needs a sequence as input")
            self._check_recurrent(kind, config, name)
        activation = _activation(config["activation"], name)
        spec = LayerSpec(
            type=layer_type,
            units=int(config["units"]),
            activation=activation,
            return_sequences=bool(config.get("return_sequences", False)),
        )
        self.layers.append(spec)
        self.weights += _weights(layer, config, layer_type)
        if layer_type.recurrent:
            self.sequence = spec.return_sequences

    @staticmethod
    def _check_recurrent(kind: str, config: dict[str, Any], name: str) -> None:
        for option in ("go_backwards", "stateful", "return_state"):
            if config.get(option):
                raise Unsupported(f"{name}: {option}=True is not served")
        if kind in ("LSTM", "GRU") and _name(config["recurrent_activation"]) != "sigmoid":
            raise Unsupported(f"{name}: a recurrent_activation other than sigmoid is not served")
        if kind == "GRU" and not config.get("reset_after", True):
            raise Unsupported(f"{name}: reset_after=False is not served (Keras 3's default: True)")


def network_of(model: keras.Model, *, timesteps: int) -> Network:
    """The model as a layer stack and a linear Dense head (an identity head when its last
    layer is not one), or `Unsupported` naming the layer that does not fit. `timesteps`: the
    windows it will see (a model built for any length takes them)."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise Unsupported(
            f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; the "
            "service feeds one window and reads one output"
        )
    shape = tuple(model.input_shape)
    if len(shape) != 3 or shape[2] is None:
        raise Unsupported(
            f"the model takes input of shape {shape}; the service feeds 3-D windows "
            "(batch, timesteps, features)"
        )
    reader = _Reader(model)
    if reader.sequence and not reader.flattened:
        raise Unsupported(
            "the model outputs a sequence; the service needs one value per target column "
            "(return_sequences=False on the last recurrent layer, or Cropping1D to the last step)"
        )
    layers, weights = reader.layers, reader.weights
    if not layers:
        raise Unsupported("the model has no Dense or recurrent layer")
    if layers[-1].type is LayerType.dense and layers[-1].activation == "linear":
        head = layers.pop()
        outputs = head.units
    else:  # a last layer with an activation, or a recurrent one: an identity head after it
        outputs = layers[-1].units
        weights += [np.eye(outputs, dtype=np.float32), np.zeros(outputs, np.float32)]
    try:
        check_stack(layers)
    except ValueError as error:
        raise Unsupported(str(error)) from None
    return Network(
        layers=tuple(layers),
        timesteps=timesteps,
        features=int(shape[2]),
        outputs=outputs,
        weights=tuple(weights),
    )


def _weights(layer: Any, config: dict[str, Any], layer_type: LayerType) -> list[np.ndarray]:
    """Kernel, recurrent kernel, bias, as the service's networks keep them: a layer without a
    bias gets a zero one of the shape Keras would have given it."""
    arrays = [np.asarray(w, np.float32) for w in layer.get_weights()]
    if config.get("use_bias", True):
        return arrays
    units = int(config["units"])
    bias_shape = {
        LayerType.dense: (units,),
        LayerType.simple_rnn: (units,),
        LayerType.lstm: (4 * units,),
        LayerType.gru: (2, 3 * units),
    }[layer_type]
    return [*arrays, np.zeros(bias_shape, np.float32)]


def _name(config: Any) -> str:
    if isinstance(config, str):
        return config
    if isinstance(config, dict):
        return str(config.get("config", {}).get("name", config.get("class_name", config)))
    return str(getattr(config, "__name__", config))


def _activation(config: Any, where: str) -> Activation:
    name = _ALIASES.get(_name(config), _name(config))
    if name not in _ACTIVATIONS:
        raise Unsupported(f"{where}: activation {name!r} is not served")
    return name  # type: ignore[return-value]
