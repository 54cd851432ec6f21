from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from service.forecasting.batched import (
    ByBatchSize,
    Unsupported,
    batched_forward,
    by_batch_size,
    describe_keras,
    export_batched,
    network_forward,
)
from service.forecasting.export import export_onnx, onnx_forward
from service.forecasting.inference import Forecaster, keras_forward
from service.forecasting.pipeline import train_series
from service.forecasting.spec import TrainSpec, WindowSpec
from service.forecasting.trained import Trained


def trained_on_sine(spec: TrainSpec) -> Trained:
    return train_series(spec, np.sin(0.5 * np.arange(80)))


@pytest.mark.parametrize(
    "spec",
    [
        TrainSpec(architecture="lstm", units=4, epochs=3),
        TrainSpec(architecture="gru", units=4, epochs=3),
        TrainSpec(architecture="simple_rnn", units=4, epochs=3),
        TrainSpec(architecture="dense", units=4, epochs=3),
        TrainSpec(
            layers=[
                {"type": "dense", "units": 3, "activation": "relu"},
                {"type": "lstm", "units": 3, "return_sequences": True},
                {"type": "gru", "units": 3},
            ],
            epochs=3,
        ),
        TrainSpec(
            layers=[
                {"type": "simple_rnn", "units": 5, "activation": "relu", "return_sequences": True},
                {"type": "dense", "units": 3, "activation": "selu"},
                {"type": "lstm", "units": 3, "activation": "elu", "return_sequences": True},
                {"type": "lstm", "units": 3, "activation": "linear", "return_sequences": True},
                {"type": "gru", "units": 3, "activation": "sigmoid", "return_sequences": True},
                {"type": "dense", "units": 3, "activation": "swish"},
            ],
            epochs=3,
        ),
        TrainSpec(
            layers=[
                {"type": "dense", "units": 6, "activation": "gelu"},
                {"type": "dense", "units": 4, "activation": "tanh"},
            ],
            epochs=3,
        ),
    ],
    ids=["lstm", "gru", "simple_rnn", "dense", "stack", "activations", "mlp-gelu"],
)
def test_serving_paths_agree_with_keras_predict(spec: TrainSpec, tmp_path: Path) -> None:
    """Every fast path (a compiled Keras call, ONNX Runtime, the numpy batch pass) gives what
    `predict` gives, on one window and on many."""
    trained = trained_on_sine(spec)
    model = trained.network.keras_model()
    x = np.random.default_rng(0).normal(size=(180, spec.window.timesteps, 1)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    export_batched(trained.network, tmp_path / "model.npz")
    export_onnx(trained.network, tmp_path / "model.onnx")
    paths = [
        keras_forward(model),
        batched_forward(tmp_path / "model.npz"),
        network_forward(trained.network),
        onnx_forward(tmp_path / "model.onnx"),
    ]
    # 1e-6 relative; near zero, 1e-6 absolute: the network works in scaled units (outputs of
    # order 1), where float32 sums of order-1 terms differ by ~1e-7 between kernels.
    atol = 1e-6
    for forward in paths:
        np.testing.assert_allclose(forward(x), expected, rtol=1e-6, atol=atol)
        np.testing.assert_allclose(forward(x[:1]), expected[:1], rtol=1e-6, atol=atol)


def test_batched_export_refuses_what_it_does_not_implement() -> None:
    import keras

    inputs = keras.Input((5, 1))
    model = keras.Model(inputs, keras.layers.GRU(2, reset_after=False)(inputs))
    with pytest.raises(Unsupported, match="reset_after"):
        describe_keras(model)
    conv = keras.Model(inputs, keras.layers.Conv1D(2, 3)(inputs))
    with pytest.raises(Unsupported, match="Conv1D"):
        describe_keras(conv)


def test_by_batch_size_sends_each_size_to_the_faster_path() -> None:
    """Costs linear in the batch: `small` 1 ms per window, `large` 20 ms flat; from 20
    windows on `large` is the faster."""
    import time

    calls: list[str] = []

    def small(x: np.ndarray) -> np.ndarray:
        calls.append("small")
        time.sleep(0.001 * len(x) / 16)
        return x[:, -1]

    def large(x: np.ndarray) -> np.ndarray:
        calls.append("large")
        time.sleep(0.020 / 16)
        return x[:, -1]

    forward = by_batch_size(small, large, probe=(3, 1))
    assert isinstance(forward, ByBatchSize)
    assert 8 <= forward.crossover <= 40  # 20 on an idle machine; sleeps overshoot under load
    calls.clear()
    forward(np.zeros((1, 3, 1), np.float32))
    forward(np.zeros((200, 3, 1), np.float32))
    assert calls == ["small", "large"]
    never = by_batch_size(large, small, probe=(3, 1))  # `small` never wins as the large path
    assert never is large


@pytest.mark.parametrize("runtime", ["onnx", "numpy"])
def test_exported_forward_is_safe_under_concurrent_calls(runtime: str, tmp_path: Path) -> None:
    trained = trained_on_sine(TrainSpec(units=4, epochs=2))
    if runtime == "onnx":
        export_onnx(trained.network, tmp_path / "model.onnx")
        forward = onnx_forward(tmp_path / "model.onnx")
    else:
        export_batched(trained.network, tmp_path / "model.npz")
        forward = batched_forward(tmp_path / "model.npz")
    inputs = [np.full((3 + i, 20, 1), i / 10, np.float32) for i in range(16)]
    expected = [forward(x) for x in inputs]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(forward, inputs * 4))
    for i, result in enumerate(got):
        np.testing.assert_array_equal(result, expected[i % 16])


def test_predictions_are_in_original_units() -> None:
    spec = TrainSpec(units=4, epochs=3, scaling="standard", window_normalization="none")
    trained = trained_on_sine(spec)
    forecaster = Forecaster(network_forward(trained.network), trained.preprocessing)
    windows = np.random.default_rng(1).normal(size=(5, 20, 1))
    prep = trained.preprocessing
    scaled = prep.x_scaler.transform(windows).astype(np.float32)
    raw = trained.network.keras_model().predict(scaled, verbose=0)
    np.testing.assert_allclose(forecaster.predict(windows), prep.y_scaler.inverse(raw), rtol=1e-5)


@pytest.mark.parametrize("normalization", ["none", "last", "mean"])
def test_recursive_forecast_feeds_each_prediction_back(normalization: str) -> None:
    """Each path (plain scaled buffer, relative buffer, and the general one) is the loop below."""
    spec = TrainSpec(
        units=4,
        epochs=3,
        window=WindowSpec(length=6, sampling_rate=2),
        window_normalization=normalization,
    )
    trained = trained_on_sine(spec)
    forecaster = Forecaster(network_forward(trained.network), trained.preprocessing)
    history = list(np.sin(0.5 * np.arange(30)))
    got = forecaster.forecast(np.array(history), horizon=4)[:, 0]
    for step in range(4):  # by hand: predict from the last window, append, repeat
        window = np.array(history[len(history) - 6 :: 2]).reshape(1, 3, 1)
        history.append(float(forecaster.predict(window)[0, 0]))
        assert got[step] == pytest.approx(history[-1], rel=1e-5)


def test_series_windows_pair_each_window_with_its_next_value() -> None:
    trained = trained_on_sine(TrainSpec(units=2, epochs=1, window=WindowSpec(length=3)))
    forecaster = Forecaster(network_forward(trained.network), trained.preprocessing)
    windows = forecaster.windows(np.arange(6.0))
    assert windows.targets[:, 0].tolist() == [3, 4, 5]
    evaluation = forecaster.evaluate(np.arange(6.0))
    assert evaluation.t.tolist() == [3, 4, 5]
    assert evaluation.baselines(None)["naive"][:, 0].tolist() == [2, 3, 4]
