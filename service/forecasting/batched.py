"""A numpy forward pass for large batches of windows, exported beside the ONNX model.

ONNX Runtime's recurrent kernels walk the batch one sequence at a time: measured on the
lecture's LSTM(4) over 20 steps, about 2 us per window (365 us for 180 windows, 2.9 ms for 1,440),
which is most of a 180-window /forecast. Numpy runs each timestep as a handful of vector operations
over the whole batch instead (about 200 us for 180 windows), but pays a fixed cost per step that
ONNX Runtime does not (about 100 us for one window against 12 us). So serving uses both: ONNX
Runtime for small batches, this pass for large ones (`by_batch_size`). No library offers this
kernel without a heavy dependency (numba, a JIT, or TensorFlow itself), hence the hand-written
layers; each export is checked against Keras before it is kept, as the ONNX one is.

Supported: the layers `network.build_model` emits (Flatten, Dense, SimpleRNN, LSTM, GRU with
`reset_after`, Cropping1D to the last timestep) and the spec's activations. The file is a plain
`.npz` (no pickles): one JSON description of the layers and their weights by name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import erf

from service.forecasting.network import Forward, Network
from service.forecasting.spec import LayerType

if TYPE_CHECKING:
    import keras

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "tanh": np.tanh,
    "sigmoid": lambda x: 0.5 + 0.5 * np.tanh(0.5 * x),
    "relu": lambda x: np.maximum(x, 0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: (
        1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))
    ),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),
    "silu": lambda x: x * (0.5 + 0.5 * np.tanh(0.5 * x)),  # Keras 3's name for swish
}
_RECURRENT = {"SimpleRNN", "LSTM", "GRU"}
_KERAS_KIND = {
    LayerType.dense: "Dense",
    LayerType.simple_rnn: "SimpleRNN",
    LayerType.lstm: "LSTM",
    LayerType.gru: "GRU",
}
_ALIASES = {"swish": "silu"}  # the spec's name, Keras 3's


class Unsupported(ValueError):
    """The model has a layer or setting this pass does not implement."""


def describe(network: Network) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """The layers `forward_of` runs and their weights by name, for a network of the stacks
    `network.build_model` builds."""
    entries: list[dict[str, Any]] = [{"kind": "Flatten"}] if network.flattened else []
    arrays: dict[str, np.ndarray] = {}
    weights = iter(network.weights)
    for layer in (*network.layers, None):
        kind = "Dense" if layer is None else _KERAS_KIND[layer.type]
        default = "tanh" if kind in _RECURRENT else "linear"
        activation = default if layer is None or layer.activation is None else layer.activation
        entry: dict[str, Any] = {"kind": kind, "activation": _ALIASES.get(activation, activation)}
        names = ["kernel", "bias"]
        if layer is not None and layer.type.recurrent:
            entry["return_sequences"] = layer.return_sequences
            names = ["kernel", "recurrent", "bias"]
        if layer is None and network.sequence_out:
            entries.append({"kind": "Last"})
        for name in names:
            arrays[f"{len(entries)}.{name}"] = np.asarray(next(weights), np.float32)
        entries.append(entry)
    return entries, arrays


def export_batched(network: Network, path: Path) -> None:
    """Write the layers and weights `batched_forward` reads."""
    entries, arrays = describe(network)
    with path.open("wb") as file:
        np.savez(file, layers=np.array(json.dumps(entries)), **arrays)  # type: ignore[arg-type]


def network_forward(network: Network) -> Forward:
    """The numpy pass over a network's weights, without writing them anywhere."""
    return forward_of(*describe(network))


def describe_keras(model: keras.Model) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """As `describe`, for a Keras model of the layers this pass implements (or `Unsupported`)."""
    layers: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for layer in model.layers:
        kind, config = type(layer).__name__, layer.get_config()
        entry: dict[str, Any] = {"kind": kind}
        if kind == "InputLayer":
            continue
        if kind == "Cropping1D":
            if tuple(config["cropping"])[1] != 0 or layer.output.shape[1] != 1:
                raise Unsupported("Cropping1D other than to the last timestep")
            entry["kind"] = "Last"
        elif kind == "Flatten":
            if layers and layers[-1]["kind"] == "Last":
                continue  # (batch, 1, units) -> (batch, units): "Last" already did it
        elif kind == "Dense" or kind in _RECURRENT:
            entry["activation"] = _activation(config["activation"])
            if kind in _RECURRENT:
                entry["return_sequences"] = bool(config["return_sequences"])
            if kind in ("LSTM", "GRU") and _activation(config["recurrent_activation"]) != "sigmoid":
                raise Unsupported(f"{kind} with a recurrent activation other than sigmoid")
            if kind == "GRU" and not config.get("reset_after", False):
                raise Unsupported("GRU without reset_after")
            if any(config.get(k) for k in ("go_backwards", "stateful")) or not config["use_bias"]:
                raise Unsupported(f"{kind} with {config}")
            names = ("kernel", "bias") if kind == "Dense" else ("kernel", "recurrent", "bias")
            for name, weight in zip(names, layer.get_weights(), strict=True):
                arrays[f"{len(layers)}.{name}"] = np.asarray(weight, np.float32)
        else:
            raise Unsupported(f"layer {kind}")
        layers.append(entry)
    return layers, arrays


def _activation(config: Any) -> str:
    name = config if isinstance(config, str) else config.get("config", {}).get("name", config)
    if name not in _ACTIVATIONS:
        raise Unsupported(f"activation {name!r}")
    return str(name)


def batched_forward(path: Path) -> Forward:
    """The exported model as a function of float32 windows (batch, timesteps, features)."""
    with np.load(path, allow_pickle=False) as data:
        layers = json.loads(str(data["layers"]))
        weights = {key: data[key] for key in data.files if key != "layers"}
    return forward_of(layers, weights)


def forward_of(layers: list[dict[str, Any]], weights: dict[str, np.ndarray]) -> Forward:
    """Pure numpy on arrays read once: safe to call from several threads at once."""
    steps = [_step(i, layer, weights) for i, layer in enumerate(layers)]

    def forward(x: np.ndarray) -> np.ndarray:
        # Batch last throughout, (timesteps, features, batch): every row a step or a gate touches
        # is contiguous, so each numpy call is one tight loop over the batch.
        h = np.ascontiguousarray(x.transpose(1, 2, 0), dtype=np.float32)
        for step in steps:
            h = step(h)
        return np.ascontiguousarray(h.T)

    return forward


def _step(i: int, layer: dict[str, Any], weights: dict[str, np.ndarray]) -> Forward:
    kind = layer["kind"]
    if kind == "Flatten":
        return lambda x: x.reshape(-1, x.shape[-1])  # (timesteps * features, batch)
    if kind == "Last":
        return lambda x: x[-1]
    prefix = f"{i}."
    w = {name.removeprefix(prefix): a for name, a in weights.items() if name.startswith(prefix)}
    act = _ACTIVATIONS[layer["activation"]]
    if kind == "Dense":
        kernel, bias = w["kernel"].T.copy(), w["bias"][:, None].copy()
        return lambda x: act(np.matmul(kernel, x) + bias)
    cell = {"SimpleRNN": _simple_rnn, "LSTM": _lstm, "GRU": _gru}[kind]
    return cell(w["kernel"].T.copy(), w["recurrent"], w["bias"], act, layer["return_sequences"])


class _Recurrence:
    """The state a recurrent layer carries from step to step, (units + 1, batch), with a last row
    of ones so that one product with the recurrent kernel also adds the bias."""

    def __init__(self, units: int, batch: int, timesteps: int | None) -> None:
        self.state = np.zeros((units + 1, batch), np.float32)
        self.state[units] = 1.0
        self.h = self.state[:units]
        self.out = np.empty((timesteps, units, batch), np.float32) if timesteps else None

    def record(self, t: int) -> None:
        if self.out is not None:
            self.out[t] = self.h

    def result(self) -> np.ndarray:
        return self.out if self.out is not None else self.h.copy()


def _with_bias(recurrent: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(gates, units + 1): the recurrent kernel transposed, the bias as its last column."""
    return np.concatenate([recurrent, bias[None, :]]).T.astype(np.float32)


def _simple_rnn(
    kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray, act: Forward, sequences: bool
) -> Forward:
    units = recurrent.shape[0]
    recurrent = _with_bias(recurrent, bias)

    def run(x: np.ndarray) -> np.ndarray:
        xw = np.matmul(kernel, x)  # (timesteps, units, batch)
        r = _Recurrence(units, x.shape[-1], len(x) if sequences else None)
        for t in range(len(x)):
            z = np.dot(recurrent, r.state)
            z += xw[t]
            r.h[...] = act(z)
            r.record(t)
        return r.result()

    return run


def _lstm(
    kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray, act: Forward, sequences: bool
) -> Forward:
    """Keras' LSTM (gates i, f, c, o), with the gates reordered i, f, o, c and sigmoid(z) taken as
    0.5 + 0.5 tanh(z / 2) (the halving folded into the weights): one `tanh` covers all four gates
    when the cell activation is tanh, the default."""
    units = recurrent.shape[0]
    order = np.r_[0 : 2 * units, 3 * units : 4 * units, 2 * units : 3 * units]
    half = np.r_[np.full(3 * units, 0.5), np.ones(units)].astype(np.float32)
    kernel = kernel[order] * half[:, None]
    recurrent = _with_bias(recurrent[:, order] * half, bias[order] * half)
    fused = act is np.tanh
    i, f, o, c = (slice(k * units, (k + 1) * units) for k in range(4))
    sigmoids = slice(0, 3 * units)

    def run(x: np.ndarray) -> np.ndarray:
        xw = np.matmul(kernel, x)  # (timesteps, 4 units, batch)
        r = _Recurrence(units, x.shape[-1], len(x) if sequences else None)
        cell = np.zeros((units, x.shape[-1]), np.float32)
        for t in range(len(x)):
            z = np.dot(recurrent, r.state)
            z += xw[t]
            candidate = None if fused else np.array(act(z[c]))  # a copy: z is reused below
            gates = np.tanh(z, out=z)
            gates[sigmoids] *= 0.5
            gates[sigmoids] += 0.5
            cell *= gates[f]
            cell += gates[i] * (gates[c] if candidate is None else candidate)
            np.multiply(gates[o], act(cell), out=r.h)
            r.record(t)
        return r.result()

    return run


def _gru(
    kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray, act: Forward, sequences: bool
) -> Forward:
    """Keras' GRU with `reset_after` (its default): gates z, r, h; an input and a recurrent bias;
    h' = z * h + (1 - z) * candidate, computed as candidate + z * (h - candidate)."""
    units = recurrent.shape[0]
    input_bias, recurrent_bias = bias[0], bias[1].copy()
    recurrent_bias[: 2 * units] += input_bias[: 2 * units]  # z and r add both biases
    recurrent = _with_bias(recurrent, recurrent_bias)
    candidate_bias = input_bias[2 * units :, None].astype(np.float32)
    sigmoid = _ACTIVATIONS["sigmoid"]
    update, reset, new = (slice(k * units, (k + 1) * units) for k in range(3))

    def run(x: np.ndarray) -> np.ndarray:
        xw = np.matmul(kernel, x)  # (timesteps, 3 units, batch)
        r = _Recurrence(units, x.shape[-1], len(x) if sequences else None)
        for t in range(len(x)):
            hu = np.dot(recurrent, r.state)
            zr = sigmoid(xw[t, : 2 * units] + hu[: 2 * units])
            pre = zr[reset] * hu[new]
            pre += xw[t, new]
            pre += candidate_bias
            candidate = act(pre)
            r.h[...] = candidate + zr[update] * (r.h - candidate)
            r.record(t)
        return r.result()

    return run


def by_batch_size(small: Forward, large: Forward, *, probe: tuple[int, int]) -> Forward:
    """Whichever of two exact forward passes is faster at each batch size.

    Both are timed on zero windows of shape `probe` (timesteps, features) at two batch sizes, as
    the model's warm-up; the cost of each is taken as linear in the batch, so one crossover size
    decides. If `large` is never the faster, `small` is used throughout.

    `small` (ONNX Runtime) keeps one-window batches even where numpy is faster alone (GRU and
    SimpleRNN exports: 170 and 74 us against numpy's 115 and 30): ONNX Runtime releases the GIL
    and numpy's many small operations hold it. Tried: numpy for those batches made an auto
    ensemble's 100-step forecast 1.7x slower at p50 under 8 concurrent requests (651 against
    380 ms, bench/serve_latency.py), while it was 1.7x faster in a single thread.
    """
    sizes = (1, 256)
    costs = {}
    for name, forward in (("small", small), ("large", large)):
        costs[name] = [_seconds(forward, np.zeros((n, *probe), np.float32)) for n in sizes]
    (s1, s2), (l1, l2) = costs["small"], costs["large"]
    slope = ((s2 - s1) - (l2 - l1)) / (sizes[1] - sizes[0])
    if slope <= 0:
        return small
    return ByBatchSize(small, large, max(1, int(np.ceil(sizes[0] + (l1 - s1) / slope))))


@dataclass(frozen=True)
class ByBatchSize:
    """`large` for batches of `crossover` windows or more, `small` below."""

    small: Forward
    large: Forward
    crossover: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.large(x) if len(x) >= self.crossover else self.small(x)


def _seconds(forward: Forward, x: np.ndarray, repeats: int = 5) -> float:
    forward(x)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        forward(x)
        best = min(best, time.perf_counter() - started)
    return best
