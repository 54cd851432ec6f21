"""ONNX graphs built straight from a network's weights, with ONNX's fused recurrent operators.

Exporting through Keras (`model.export(format="onnx")`, tf2onnx) costs most of a second per
network and turns GRU and SimpleRNN layers into loops of small operators; writing the graph from
the weights costs milliseconds and gives every recurrent preset ONNX Runtime's own `LSTM`, `GRU`
and `RNN` kernels. Layers whose activation those kernels lack (selu, gelu, swish inside a
recurrent layer) raise `NotFused`, and the caller falls back to the Keras export.

The gate layouts differ: Keras orders an LSTM's gates i, f, c, o and ONNX i, o, f, c; both order a
GRU's z, r, h, and Keras' `reset_after` is ONNX's `linear_before_reset`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from service.forecasting.network import Network

OPSET = 17
# Activations ONNX Runtime's recurrent kernels implement, as (name, alpha, beta).
_FUSED = {
    "tanh": ("Tanh", None, None),
    "relu": ("Relu", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "linear": ("Affine", 1.0, 0.0),
    "elu": ("Elu", 1.0, None),
}
_PLAIN = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid", "elu": "Elu"}
_SELU: dict[str, Any] = {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805}


class NotFused(ValueError):
    """A recurrent layer with an activation ONNX's fused kernels do not have."""


class Graph:
    """Nodes and initialisers, with fresh names."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, value: Any, hint: str = "const") -> str:  # anything np.asarray takes
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, outputs: int = 1, **attrs: Any) -> list[str]:
        names = [self.name(kind.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(kind, list(inputs), names, **attrs))
        return names

    def one(self, kind: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        """One node with one output: a fresh name, or `out` (a graph's declared output)."""
        if out is None:
            return self.op(kind, *inputs, **attrs)[0]
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out


def activation(graph: Graph, x: str, name: str) -> str:
    """An activation as plain ONNX operators (Dense layers; the same functions as Keras')."""
    if name == "linear":
        return x
    if name in _PLAIN:
        return graph.one(_PLAIN[name], x)
    if name == "selu":
        return graph.one("Selu", x, **_SELU)
    if name in ("swish", "silu"):
        return graph.one("Mul", x, graph.one("Sigmoid", x))
    if name == "gelu":  # exact (erf) gelu, Keras' default
        scaled = graph.one("Div", x, graph.const(np.float32(np.sqrt(2.0))))
        one_plus = graph.one("Add", graph.one("Erf", scaled), graph.const(np.float32(1.0)))
        return graph.one("Mul", graph.one("Mul", x, one_plus), graph.const(np.float32(0.5)))
    raise NotFused(f"activation {name!r}")


def network_graph(graph: Graph, network: Network, x: str) -> str:
    """The network on `x` (batch, timesteps, features) float32; returns its output's name."""
    weights = iter(network.weights)
    if network.flattened:
        h = graph.one("Reshape", x, graph.const(np.array([0, -1], np.int64)))
        sequence = False
    else:
        h = graph.one("Transpose", x, perm=[1, 0, 2])  # (timesteps, batch, features)
        sequence = True
    for layer in network.layers:
        name = layer.activation or ("tanh" if layer.type.recurrent else "linear")
        if not layer.type.recurrent:
            kernel, bias = next(weights), next(weights)
            h = graph.one("Add", graph.one("MatMul", h, graph.const(kernel)), graph.const(bias))
            h = activation(graph, h, name)
            continue
        kernel, recurrent, bias = next(weights), next(weights), next(weights)
        y, y_h = _recurrent(graph, layer.type.value, h, kernel, recurrent, bias, name)
        if layer.return_sequences:
            h = graph.one("Squeeze", y, graph.const(np.array([1], np.int64)))
        else:
            h, sequence = graph.one("Squeeze", y_h, graph.const(np.array([0], np.int64))), False
    if sequence:
        h = graph.one("Gather", h, graph.const(np.array(network.timesteps - 1, np.int64)), axis=0)
    kernel, bias = next(weights), next(weights)
    return graph.one("Add", graph.one("MatMul", h, graph.const(kernel)), graph.const(bias))


def _recurrent(
    graph: Graph, kind: str, x: str, kernel: np.ndarray, recurrent: np.ndarray,
    bias: np.ndarray, name: str,
) -> tuple[str, str]:  # fmt: skip
    if name not in _FUSED:
        raise NotFused(f"{kind} with activation {name!r}")
    fused, alpha, beta = _FUSED[name]
    units = recurrent.shape[0]
    if kind == "lstm":
        order = np.r_[0:units, 3 * units : 4 * units, units : 2 * units, 2 * units : 3 * units]
        w, r, b = kernel[:, order].T, recurrent[:, order].T, np.r_[bias[order], np.zeros(4 * units)]
        op, acts, attrs = "LSTM", ["Sigmoid", fused, fused], dict[str, Any]()
    elif kind == "gru":
        w, r, b = kernel.T, recurrent.T, np.r_[bias[0], bias[1]]
        op, acts, attrs = "GRU", ["Sigmoid", fused], {"linear_before_reset": 1}
    else:
        w, r, b = kernel.T, recurrent.T, np.r_[bias, np.zeros(units)]
        op, acts, attrs = "RNN", [fused], {}
    # Consumed in order by the activations that take them (Sigmoid takes none).
    uses = acts.count(fused)
    if alpha is not None:
        attrs["activation_alpha"] = [alpha] * uses
    if beta is not None:
        attrs["activation_beta"] = [beta] * uses
    inputs = (graph.const(w[None].astype(np.float32)), graph.const(r[None].astype(np.float32)))
    y, y_h = graph.op(
        op, x, *inputs, graph.const(b[None].astype(np.float32)), outputs=2,
        hidden_size=units, activations=acts, **attrs,
    )  # fmt: skip
    return y, y_h


def model(graph: Graph, inputs: list[onnx.ValueInfoProto], outputs: list[str]) -> onnx.ModelProto:
    float_ = TensorProto.FLOAT
    out = [helper.make_tensor_value_info(name, float_, ["batch", None]) for name in outputs]
    body = helper.make_graph(graph.nodes, "forecast", inputs, out, graph.initializers)
    proto = helper.make_model(body, opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = 8  # what onnxruntime reads since 1.10
    onnx.checker.check_model(proto)
    return proto


def network_onnx(network: Network) -> onnx.ModelProto:
    """(batch, timesteps, features) float32 windows in "window", (batch, outputs) out."""
    graph = Graph()
    window = helper.make_tensor_value_info(
        "window", TensorProto.FLOAT, ["batch", network.timesteps, network.features]
    )
    out = network_graph(graph, network, "window")
    graph.nodes.append(helper.make_node("Identity", [out], ["output"]))
    return model(graph, [window], ["output"])
