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

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from service.forecasting.data import Preprocessing
from service.forecasting.onnx_graph import Graph
from service.forecasting.runtime_graph import (
    _double,
    _model,
    _opsets,
    _prefixed,
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
    carried_in, carried_out, predictions = [], [], []
    for k, (network, prep) in enumerate(zip(networks, preps, strict=True)):
        assert prep.window is not None
        length, rate = prep.window.length, prep.window.sampling_rate
        graph = _prefixed(network.graph, f"m{k}_net_")
        g.initializers.extend(graph.initializer)  # outer scope: the loop body reads them
        history = f"m{k}_history_in"
        sampled = body.one(
            "Slice", history, body.const(_int64(0)), body.const(_int64(length)),
            body.const(_int64(1)), body.const(_int64(rate)),
        )  # fmt: skip
        y = _step(body, sampled, prep, (graph, graph.input[0].name, graph.output[0].name))
        rest = body.one(
            "Slice", history, body.const(_int64(1)), body.const(_int64(length)),
            body.const(_int64(1)),
        )  # fmt: skip
        appended = body.one("Unsqueeze", y, body.const(_int64(1)))
        body.one("Concat", rest, appended, out=f"m{k}_history_out", axis=1)
        predictions.append(body.one("Unsqueeze", y, body.const(_int64(0))))
        carried_in.append(_double(history, "origins", length, prep.features))
        carried_out.append(_double(f"m{k}_history_out", "origins", length, prep.features))
    body.one("Concat", *predictions, out="predictions", axis=0)
    body.one("Identity", "cond_in", out="cond_out")
    features = preps[0].features
    loop_body = helper.make_graph(
        body.nodes, "steps",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), *carried_in],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), *carried_out,
         _double("predictions", len(preps), "origins", features)],
        body.initializers,
    )  # fmt: skip
    histories = [f"m{k}_history" for k in range(len(preps))]
    lasts = [g.name("last") for _ in preps]
    true = g.const(np.array(True))
    g.nodes.append(
        helper.make_node("Loop", ["horizon", true, *histories], [*lasts, "steps"], body=loop_body)
    )
    g.one("Transpose", "steps", out="forecast", perm=[1, 2, 0, 3])
    inputs = [
        *(_double(name, "origins", p.window.length if p.window else 0, features)
          for name, p in zip(histories, preps, strict=True)),
        helper.make_tensor_value_info("horizon", TensorProto.INT64, []),
    ]  # fmt: skip
    outputs = [_double("forecast", len(preps), "origins", "horizon", features)]
    opsets = [_opsets(n) for n in networks]
    return _model(g, inputs, outputs, opsets[0])


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
