"""An ensemble's networks fused into one ONNX graph: one runtime call answers a request.

- one-step predictions: every member's step graph (runtime_graph.step_model) side by side;
- a recursive horizon: ONE `Loop` over the horizon whose body runs every member's step on its
  own window (its own window normalisation and scaling), each prediction appended to the window
  it came from. Side by side, each member's own `Loop` paid ONNX Runtime's per-iteration cost
  once per member: 8 members over 100 steps took 30 ms, one loop for all of them 13 ms
  (bench/serve_latency.py's machine, one thread).

The members' forecasts come out of the graph in each member's last transform level; the
transforms are undone right after, for all steps at once (transforms.unroll), and the mean is
taken in original units, as `Ensemble` takes it. Built once when a version is loaded and kept
with it in the model cache.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import onnx
from onnx import TensorProto, helper

from service.forecasting.data import Preprocessing
from service.forecasting.folding import scaling_folded
from service.forecasting.onnx_graph import Graph
from service.forecasting.runtime_graph import (
    _double,
    _model,
    _network,
    _opsets,
    _session,
    _step,
    joint_model,
    step_model,
)


def _int64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def horizon_model(networks: list[onnx.ModelProto], preps: list[Preprocessing]) -> onnx.ModelProto:
    """ "m{k}_history" (origins, length_k, features) float64 per member and "horizon" (int64
    scalar) in; "forecast" (members, origins, horizon, features) out, each member's recursive
    forecast of its last level."""
    assert all(p.window is not None and p.recursive for p in preps), "members that recurse"
    g, body = Graph("h_"), Graph("b_")
    carried_in: list[onnx.ValueInfoProto] = []
    carried_out: list[onnx.ValueInfoProto] = []
    scanned: list[onnx.ValueInfoProto] = []
    for k, (network, prep) in enumerate(zip(networks, preps, strict=True)):
        folded = scaling_folded(network, prep)
        net = _network(folded or network, f"m{k}_net_")
        graph = net[0]
        g.initializers.extend(graph.initializer)  # outer scope: the loop body reads them
        history, kind = f"m{k}_history_in", TensorProto.DOUBLE
        if _scaled(prep):
            window, kind = _sampled(body, history, prep), TensorProto.FLOAT
            for node in graph.node:  # the network reads the window itself
                node.input[:] = [window if n == net[1] else n for n in node.input]
            body.nodes.extend(graph.node)
            body.one("Unsqueeze", net[2], body.const(_int64(1)))
        else:
            window = _sampled(body, history, prep)
            _step(body, window, prep, net, row=True, folded=folded is not None)
        # The step's row (origins, 1, features): the loop's scanned output, and the window's
        # next row.
        step = f"m{k}_step"
        body.nodes[-1].output[0] = step
        _append(body, history, step, prep, f"m{k}_history_out")
        length = prep.window.length if prep.window else 0
        for names, suffix in ((carried_in, "_history_in"), (carried_out, "_history_out")):
            names.append(
                helper.make_tensor_value_info(
                    f"m{k}{suffix}", kind, ["origins", length, prep.features]
                )
            )
        scanned.append(helper.make_tensor_value_info(step, kind, ["origins", 1, prep.features]))
    body.one("Identity", "cond_in", out="cond_out")
    loop_body = helper.make_graph(
        body.nodes, "steps",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), *carried_in],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), *carried_out, *scanned],
        body.initializers,
    )  # fmt: skip
    histories = [_history(g, f"m{k}_history", p) for k, p in enumerate(preps)]
    lasts = [g.name("last") for _ in preps]
    steps = [g.name("steps") for _ in preps]
    true = g.const(np.array(True))
    g.nodes.append(
        helper.make_node("Loop", ["horizon", true, *histories], [*lasts, *steps], body=loop_body)
    )
    forecasts = []
    for prep, out in zip(preps, steps, strict=True):  # (horizon, origins, 1, features) each
        if _scaled(prep):
            out = _unscaled(g, out, prep)
        moved = g.one("Transpose", out, perm=[2, 1, 0, 3])  # (1, origins, horizon, features)
        forecasts.append(moved)
    g.one("Concat", *forecasts, out="forecast", axis=0)
    features = preps[0].features
    inputs = [
        *(_double(f"m{k}_history", "origins", p.window.length if p.window else 0, features)
          for k, p in enumerate(preps)),
        helper.make_tensor_value_info("horizon", TensorProto.INT64, []),
    ]  # fmt: skip
    outputs = [_double("forecast", len(preps), "origins", "horizon", features)]
    opsets = [_opsets(n) for n in networks]
    return _model(g, inputs, outputs, opsets[0])


def _scaled(prep: Preprocessing) -> bool:
    """Whether a member's recursion can run in its scaled float32 units: with no window
    normalisation and the targets scaled as the inputs, a prediction goes back into the window
    as the network gave it (as `Forecaster._forecast_scaled` does), and the scaling, its
    inverse and both casts leave the loop (six nodes of about fifteen a step)."""
    x, y = prep.x_scaler, prep.y_scaler
    return prep.window_normalization == "none" and (x.offset, x.scale) == (y.offset, y.scale)


def _sampled(body: Graph, history: str, prep: Preprocessing) -> str:
    assert prep.window is not None
    if prep.window.sampling_rate == 1:
        return history  # the whole window
    return body.one(
        "Slice", history, body.const(_int64(0)), body.const(_int64(prep.window.length)),
        body.const(_int64(1)), body.const(_int64(prep.window.sampling_rate)),
    )  # fmt: skip


def _append(body: Graph, history: str, row: str, prep: Preprocessing, out: str) -> None:
    """The window less its first row, with `row` (origins, 1, features) as its last."""
    assert prep.window is not None
    rest = body.one(
        "Slice", history, body.const(_int64(1)), body.const(_int64(prep.window.length)),
        body.const(_int64(1)),
    )  # fmt: skip
    body.one("Concat", rest, row, out=out, axis=1)


def _history(g: Graph, name: str, prep: Preprocessing) -> str:
    """The loop's first window: the input as given, or scaled to float32 for a scaled member."""
    if not _scaled(prep):
        return name
    x = g.one("Sub", name, g.const(np.asarray(prep.x_scaler.offset, np.float64)))
    x = g.one("Div", x, g.const(np.asarray(prep.x_scaler.scale, np.float64)))
    return g.one("Cast", x, to=TensorProto.FLOAT)


def _unscaled(g: Graph, steps: str, prep: Preprocessing) -> str:
    y = g.one("Cast", steps, to=TensorProto.DOUBLE)
    y = g.one("Mul", y, g.const(np.asarray(prep.y_scaler.scale, np.float64)))
    return g.one("Add", y, g.const(np.asarray(prep.y_scaler.offset, np.float64)))


class JointCalls(Protocol):
    """What forecasters call on a Joint (serving/batching.py combines its calls)."""

    members: int

    @property
    def recursive(self) -> bool: ...

    def step(self, windows: list[np.ndarray]) -> list[np.ndarray]: ...

    def ahead(self, histories: list[np.ndarray], horizon: int) -> np.ndarray: ...


class Joint:
    """Networks served together: one ONNX Runtime call runs every member's step (or whole
    horizon) on its own windows. A single network is a joint of one."""

    def __init__(self, networks: list[onnx.ModelProto], preps: list[Preprocessing]) -> None:
        self.members = len(networks)
        steps = [step_model(n, p) for n, p in zip(networks, preps, strict=True)]
        self._step = _session(steps[0] if len(steps) == 1 else joint_model(steps))
        self._ahead: Any = None
        if all(p.recursive and p.window is not None for p in preps):
            self._ahead = _session(horizon_model(networks, preps))

    @property
    def recursive(self) -> bool:
        return self._ahead is not None

    def step(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """Each member's predictions (batch, outputs) for its windows, in their units."""
        names = ["window"] if self.members == 1 else [f"m{k}_window" for k in range(self.members)]
        return list(self._step.run(None, dict(zip(names, windows, strict=True))))

    def ahead(self, histories: list[np.ndarray], horizon: int) -> np.ndarray:
        """(members, origins, horizon, features): each member's `horizon` recursive steps from
        the last `length` rows before each origin (origins, length, features)."""
        assert self._ahead is not None, "only models of every column recurse"
        feeds = {
            f"m{k}_history": np.ascontiguousarray(h, np.float64) for k, h in enumerate(histories)
        }
        feeds["horizon"] = np.array(horizon, np.int64)
        return np.asarray(self._ahead.run(None, feeds)[0])
