"""ONNX export of a trained network, and an exact ONNX Runtime forward pass for serving.

Serving through ONNX Runtime costs tens of microseconds per call where Keras' `predict` costs
milliseconds, and a process that only serves never imports TensorFlow (650 MB, seconds to import).
The export happens at training time, in the training worker, beside the native .keras file.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from service.forecasting.network import Forward, Network
from service.forecasting.onnx_graph import NotFused, network_onnx

if TYPE_CHECKING:
    import keras


def export_onnx(network: Network, path: Path) -> None:
    """Write the network as ONNX (batch dimension left open): built from its weights with
    ONNX's fused recurrent operators, or, for an activation those lack, through Keras."""
    try:
        proto = network_onnx(network)
    except NotFused:
        export_keras_onnx(network.keras_model(), path)
        return
    path.write_bytes(proto.SerializeToString())


def export_keras_onnx(model: keras.Model, path: Path) -> None:
    """Write a Keras model as ONNX through Keras' own export (tf2onnx)."""
    model(np.zeros((1, *model.input_shape[1:]), np.float32))  # Keras exports called models only
    # tf2onnx prints its progress to stdout/stderr; the worker's logs are not the place for it.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        model.export(str(path), format="onnx", verbose=False)


def onnx_forward(path: Path) -> Forward:
    """A thread-safe forward pass over an exported model: `InferenceSession.run` may be called
    from several threads at once."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # Small models: one thread per call is fastest and leaves cores to concurrent requests.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        os.fspath(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name

    def forward(x: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: x})[0]

    return forward
