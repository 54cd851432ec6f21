"""Replay the lecture's experiments (../shared/seed/rnn_lecture.txt) through the HTTP API.

Each experiment is one /train request with the lecture's data, architecture, batch size (Keras'
default 32 where the lecture gives none), learning rate (Adam's default 1e-3) and epochs, and no
scaling, so the numbers compare with the lecture's. The last row trains the same windowed LSTM(4)
with the service's default training settings instead.

    .venv/bin/python bench/seed_replay.py            # prints a markdown table
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.config import Settings
from service.main import create_app

LECTURE = {"batch_size": 32, "learning_rate": 0.001, "scaling": "none"}


def dense(units: int) -> dict[str, Any]:
    return {"type": "dense", "units": units, "activation": "relu"}


def rnn(kind: str, units: int = 32, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "units": units, "activation": "relu", **extra}


def seq(kind: str) -> dict[str, Any]:
    return rnn(kind, return_sequences=True)


def fx_request(layers: list[dict[str, Any]], epochs: int, *, interpolate: bool = False) -> dict:
    """The lecture's f(x) = sin(x) data, as 3-D inputs (x.reshape(-1, 1, 1)) and targets."""
    if interpolate:
        rng = np.random.default_rng(0)
        x_train, x_test = (
            rng.uniform(-3 * np.pi, 3 * np.pi, 1000),
            rng.uniform(-3 * np.pi, 3 * np.pi, 100),
        )
    else:
        x_train, x_test = np.arange(0, 100, 0.5), np.arange(90, 200, 0.5)
    return {
        "inputs": x_train.reshape(-1, 1, 1).tolist(),
        "targets": np.sin(x_train).tolist(),
        "test_inputs": x_test.reshape(-1, 1, 1).tolist(),
        "test_targets": np.sin(x_test).tolist(),
        "spec": {"layers": layers, "epochs": epochs, **LECTURE},
    }


def windowed_request(spec: dict[str, Any]) -> dict:
    return {
        "series": np.sin(np.arange(0, 100, 0.5)).tolist(),
        "test_series": np.sin(np.arange(90, 200, 0.5)).tolist(),
        "spec": {"layers": [{"type": "lstm", "units": 4}], "window": {"length": 20}, **spec},
    }


EXPERIMENTS: list[tuple[str, float | None, dict]] = [
    (
        "Dense 64-64, interpolation",
        0.0004397,
        fx_request([dense(64), dense(64)], 500, interpolate=True),
    ),
    ("Dense 64-64, extrapolation", 0.9014, fx_request([dense(64), dense(64)], 500)),
    ("SimpleRNN(32)", 0.5763, fx_request([rnn("simple_rnn")], 100)),
    (
        "2x SimpleRNN(32), sequences",
        0.5098,
        fx_request([seq("simple_rnn"), seq("simple_rnn")], 100),
    ),
    (
        "Dense(32) + 2x SimpleRNN(32)",
        0.6449,
        fx_request([dense(32), seq("simple_rnn"), seq("simple_rnn")], 100),
    ),
    ("2x LSTM(32), sequences", 0.5191, fx_request([seq("lstm"), seq("lstm")], 100)),
    ("2x GRU(32), sequences", 0.5434, fx_request([seq("gru"), seq("gru")], 100)),
    (
        "windowed LSTM(4), length 20, lecture recipe",
        8.97e-06,
        windowed_request(
            {
                "batch_size": 10,
                "epochs": 300,
                "learning_rate": 0.001,
                "scaling": "none",
                "window_normalization": "none",  # the lecture's windows are plain levels
            }
        ),
    ),
    ("windowed LSTM(4), length 20, service defaults", None, windowed_request({})),
]


def main() -> None:
    rows = []
    with (
        tempfile.TemporaryDirectory() as store,
        TestClient(create_app(Settings(store_root=Path(store)))) as client,
    ):
        for i, (name, lecture_mse, body) in enumerate(EXPERIMENTS):
            started = time.perf_counter()
            response = client.post("/train", json={"model_name": f"seed-{i}", **body})
            seconds = time.perf_counter() - started
            response.raise_for_status()
            result = response.json()
            rows.append(
                (name, lecture_mse, result["metrics"]["test_mse"], result["epochs_run"], seconds)
            )
            print(f"done: {name}", file=sys.stderr)
    print("| experiment | lecture test MSE | ours | epochs | seconds (request) |")
    print("| --- | --- | --- | --- | --- |")
    for name, lecture_mse, ours, epochs, seconds in rows:
        lecture = "-" if lecture_mse is None else f"{lecture_mse:.3g}"
        print(f"| {name} | {lecture} | {ours:.3g} | {epochs} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
