"""ONNX graphs that wrap a network with what serving does around it, so that one runtime call
answers a whole request.

- `step_model`: windows in the units the model sees before normalisation (a series' last
  transform level), the prediction out in the same units: the window normalisation, the scaling
  and their inverses inside the graph, in float64 as `Forecaster.predict` does them (for windows
  relative to a reference, the scaling folded into the network's weights: folding.py).
- `joint_model`: several such models side by side in one graph (the members of an ensemble):
  one call runs them all.

The recursive horizon (one `Loop` around every member's step) is fused.py's. The series
transforms stay outside: the top level's recursion never reads the levels below it, so they are
inverted afterwards (transforms.unroll). Any network graph works, the fused one from
onnx_graph.py or Keras' export.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from service.forecasting.data import Preprocessing
from service.forecasting.folding import scaling_folded
from service.forecasting.onnx_graph import OPSET, Graph

_NET = "net_"  # prefix of the network's own names inside a wrapping graph


def _network(network: onnx.ModelProto, prefix: str = _NET) -> tuple[onnx.GraphProto, str, str]:
    """The network's graph with its names prefixed, its input name and its output name; a last
    `Identity` naming the output is dropped (one node fewer a step inside a loop)."""
    graph = _prefixed(network.graph, prefix)
    out = graph.output[0].name
    last = graph.node[-1] if graph.node else None
    if last is not None and last.op_type == "Identity" and list(last.output) == [out]:
        out = last.input[0]
        graph.node.pop()
    return graph, graph.input[0].name, out


def _prefixed(graph: onnx.GraphProto, prefix: str) -> onnx.GraphProto:
    """A copy with every name prefixed, in subgraphs too, so that a loop body's references to
    the outer graph still match (onnx.compose.add_prefix renames those inconsistently)."""
    out = onnx.GraphProto()
    out.CopyFrom(graph)
    _rename(out, prefix)
    return out


def _rename(graph: onnx.GraphProto, prefix: str) -> None:
    def named(name: str) -> str:
        return prefix + name if name else name

    for value in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]:
        value.name = named(value.name)
    for node in graph.node:
        node.name = named(node.name)
        node.input[:] = [named(n) for n in node.input]
        node.output[:] = [named(n) for n in node.output]
        for attribute in node.attribute:
            if attribute.HasField("g"):
                _rename(attribute.g, prefix)
            for sub in attribute.graphs:
                _rename(sub, prefix)


def _step(
    g: Graph, window: str, prep: Preprocessing, net: tuple[onnx.GraphProto, str, str],
    *, row: bool = False, folded: bool = False,
) -> str:  # fmt: skip
    """Nodes computing one prediction (batch, outputs) float64 from windows (batch, timesteps,
    features) float64, as Forecaster.predict does; appends the network's nodes to `g`. With
    `row`, the prediction as the row (batch, 1, outputs) a window's next step appends (a loop
    body's few nodes fewer). `folded`: the network's weights do the scaling (folding.py)."""
    graph, net_in, net_out = net
    reference = None
    if prep.window_normalization == "last":
        last = g.const(np.array([-1], np.int64))
        reference = g.one("Gather", window, last, axis=1)  # (batch, 1, features)
    elif prep.window_normalization == "mean":
        reference = g.one("ReduceMean", window, axes=[1], keepdims=1)
    x = window if reference is None else g.one("Sub", window, reference)
    if not folded:
        x = g.one("Sub", x, g.const(np.asarray(prep.x_scaler.offset, np.float64)))
        x = g.one("Div", x, g.const(np.asarray(prep.x_scaler.scale, np.float64)))
    g.one("Cast", x, out=net_in, to=TensorProto.FLOAT)
    g.nodes.extend(graph.node)
    y = g.one("Cast", net_out, to=TensorProto.DOUBLE)
    if not folded:
        y = g.one("Mul", y, g.const(np.asarray(prep.y_scaler.scale, np.float64)))
        y = g.one("Add", y, g.const(np.asarray(prep.y_scaler.offset, np.float64)))
    columns = prep.target_columns or list(range(prep.features))
    every = columns == list(range(prep.features))
    if row:
        assert every, "a window's next row predicts every column"
        y = g.one("Unsqueeze", y, g.const(np.array([1], np.int64)))
        if reference is not None:
            y = g.one("Add", y, reference)  # both (batch, 1, features)
    elif reference is not None:
        squeezed = g.one("Squeeze", reference, g.const(np.array([1], np.int64)))
        if not every:
            squeezed = g.one("Gather", squeezed, g.const(np.asarray(columns, np.int64)), axis=1)
        y = g.one("Add", y, squeezed)
    return y


def _double(name: str, *shape: str | int | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.DOUBLE, list(shape))


def _model(g: Graph, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
           opset: list[onnx.OperatorSetIdProto]) -> onnx.ModelProto:  # fmt: skip
    graph = helper.make_graph(g.nodes, "served", inputs, outputs, g.initializers)
    proto = helper.make_model(graph, opset_imports=opset)
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def _opsets(network: onnx.ModelProto) -> list[onnx.OperatorSetIdProto]:
    """The opsets of the wrapping graph: the network's, which must be 17 for the default domain
    (the nodes written here use 17's forms; a network at another opset is served as it is)."""
    default = [o.version for o in network.opset_import if o.domain in ("", "ai.onnx")]
    if default != [OPSET]:
        raise ValueError(f"network graph at opset {default}: these graphs are written for {OPSET}")
    return list(network.opset_import)


def step_model(network: onnx.ModelProto, prep: Preprocessing) -> onnx.ModelProto:
    """ "window" (batch, timesteps, features) float64 in, "prediction" (batch, outputs) out."""
    g = Graph("s_")
    folded = scaling_folded(network, prep)
    net = _network(folded or network)
    g.initializers.extend(net[0].initializer)
    y = _step(g, "window", prep, net, folded=folded is not None)
    g.one("Identity", y, out="prediction")
    inputs = [_double("window", "batch", prep.timesteps, prep.features)]
    return _model(g, inputs, [_double("prediction", "batch", prep.outputs)], _opsets(network))


def joint_model(models: list[onnx.ModelProto]) -> onnx.ModelProto:
    """Several models in one graph, member k's inputs and outputs prefixed `m{k}_`."""
    nodes, inits, inputs, outputs = [], [], [], []
    for k, proto in enumerate(models):
        graph = _prefixed(proto.graph, f"m{k}_")
        nodes += graph.node
        inits += graph.initializer
        inputs += graph.input
        outputs += graph.output
    graph = helper.make_graph(nodes, "members", inputs, outputs, inits)
    proto = helper.make_model(graph, opset_imports=models[0].opset_import)
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def _session(proto: onnx.ModelProto) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread per call: small graphs, and the other core serves another request meanwhile.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        proto.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
