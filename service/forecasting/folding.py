"""A network's input scaling and output unscaling folded into its first and last layers' weights.

Serving wraps a network in the window normalisation and scaling around it (runtime_graph.py):
`(window - reference - offset) / scale` in, `prediction * scale + offset + reference` out. In a
recursive horizon's loop those four nodes run at every step, and ONNX Runtime's cost there is
per node (about a microsecond each, against the lecture's LSTM(4) kernel's few): folded into the
weights, a step has four nodes fewer. For a first layer x -> x W + b (a recurrent layer's input
kernel, or a Dense kernel): ((x - o) / s) W + b = x (W / s) + (b - (o / s) W); for the head
y -> y s' + o': (h K + c) s' + o' = h (K s') + (c s' + o').

Only for windows relative to a reference (their last value or mean): their values, and so the
offsets, are small, where folding an offset of levels into float32 weights would cancel large
terms in float32 (a level of 1e5 with a spread of 10 keeps 2 of its 7 digits). Only for the graphs
onnx_graph.py writes (its layers' known nodes); any other graph is served unfolded.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from service.forecasting.data import Preprocessing

_RECURRENT = ("LSTM", "GRU", "RNN")


def scaling_folded(network: onnx.ModelProto, prep: Preprocessing) -> onnx.ModelProto | None:
    """A copy of the network computing `(out(scaled(x)) * scale + offset)` from unscaled
    (but normalised) windows x, or None where the graph or the preprocessing do not allow it."""
    if prep.window_normalization not in ("last", "mean"):
        return None
    folded = onnx.ModelProto()
    folded.CopyFrom(network)
    graph = folded.graph
    weights = {t.name: t for t in graph.initializer}
    x_offset, x_scale = _floats(prep.x_scaler.offset), _floats(prep.x_scaler.scale)
    y_offset, y_scale = _floats(prep.y_scaler.offset), _floats(prep.y_scaler.scale)
    if not _input_folded(graph, weights, x_offset, x_scale, prep.timesteps):
        return None
    if not _output_folded(graph, weights, y_offset, y_scale):
        return None
    return folded


def _floats(values: list[float]) -> np.ndarray:
    return np.asarray(values, np.float64)


def _input_folded(
    graph: onnx.GraphProto,
    weights: dict[str, onnx.TensorProto],
    offset: np.ndarray,
    scale: np.ndarray,
    timesteps: int,
) -> bool:
    first = _only_consumer(graph, graph.input[0].name)
    if first is None or first.op_type not in ("Transpose", "Reshape"):
        return False
    layer = _only_consumer(graph, first.output[0])
    if layer is None:
        return False
    shift = offset / scale
    if first.op_type == "Transpose" and layer.op_type in _RECURRENT:
        if len(layer.input) < 4 or not all(n in weights for n in layer.input[1:4]):
            return False
        # kernel (1, gates, features); bias (1, 2 gates): the input's, then the recurrent's
        kernel, bias = _array(weights, layer.input[1]), _array(weights, layer.input[3])
        gates = kernel.shape[1]
        bias[:, :gates] -= kernel @ shift
        _set(weights, layer.input[1], kernel / scale)
        _set(weights, layer.input[3], bias)
        return True
    if layer.op_type != "MatMul" or layer.input[1] not in weights:
        return False
    add = _only_consumer(graph, layer.output[0])
    if add is None or add.op_type != "Add" or add.input[1] not in weights:
        return False
    kernel, bias = _array(weights, layer.input[1]), _array(weights, add.input[1])
    if first.op_type == "Reshape":  # flattened windows: the features repeat every timestep
        shift, scale = np.tile(shift, timesteps), np.tile(scale, timesteps)
    if kernel.shape[0] != len(scale):
        return False
    _set(weights, add.input[1], bias - shift @ kernel)
    _set(weights, layer.input[1], kernel / scale[:, None])
    return True


def _output_folded(
    graph: onnx.GraphProto, weights: dict[str, onnx.TensorProto], offset: np.ndarray,
    scale: np.ndarray,
) -> bool:  # fmt: skip
    last = _producer(graph, graph.output[0].name)
    if last is not None and last.op_type == "Identity":
        last = _producer(graph, last.input[0])
    if last is None or last.op_type != "Add" or last.input[1] not in weights:
        return False
    head = _producer(graph, last.input[0])
    if head is None or head.op_type != "MatMul" or head.input[1] not in weights:
        return False
    kernel, bias = _array(weights, head.input[1]), _array(weights, last.input[1])
    _set(weights, head.input[1], kernel * scale)
    _set(weights, last.input[1], bias * scale + offset)
    return True


def _only_consumer(graph: onnx.GraphProto, name: str) -> onnx.NodeProto | None:
    users = [node for node in graph.node if name in node.input]
    return users[0] if len(users) == 1 else None


def _producer(graph: onnx.GraphProto, name: str) -> onnx.NodeProto | None:
    return next((node for node in graph.node if name in node.output), None)


def _array(weights: dict[str, onnx.TensorProto], name: str) -> np.ndarray:
    return numpy_helper.to_array(weights[name]).astype(np.float64)


def _set(weights: dict[str, onnx.TensorProto], name: str, value: np.ndarray) -> None:
    """Written in place in the graph's initialiser (float32, as it was)."""
    weights[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
