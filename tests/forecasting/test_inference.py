from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from service.forecasting.export import export_onnx, onnx_forward
from service.forecasting.inference import Forecaster, keras_forward
from service.forecasting.pipeline import Trained, train_series
from service.forecasting.spec import TrainSpec, WindowSpec


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
    ],
    ids=["lstm", "gru", "simple_rnn", "dense", "stack"],
)
def test_serving_paths_agree_with_keras_predict(spec: TrainSpec, tmp_path: Path) -> None:
    """Both fast paths (a compiled Keras call, ONNX Runtime) give what `predict` gives."""
    trained = trained_on_sine(spec)
    export_onnx(trained.model, tmp_path / "model.onnx")
    x = np.random.default_rng(0).normal(size=(33, spec.window.timesteps, 1)).astype(np.float32)
    expected = trained.model.predict(x, verbose=0)
    for forward in (keras_forward(trained.model), onnx_forward(tmp_path / "model.onnx")):
        np.testing.assert_allclose(forward(x), expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(forward(x[:1]), expected[:1], rtol=1e-6, atol=1e-7)


def test_onnx_forward_is_safe_under_concurrent_calls(tmp_path: Path) -> None:
    trained = trained_on_sine(TrainSpec(units=4, epochs=2))
    export_onnx(trained.model, tmp_path / "model.onnx")
    forward = onnx_forward(tmp_path / "model.onnx")
    inputs = [np.full((3, 20, 1), i / 10, np.float32) for i in range(16)]
    expected = [forward(x) for x in inputs]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(forward, inputs * 4))
    for i, result in enumerate(got):
        np.testing.assert_array_equal(result, expected[i % 16])


def test_predictions_are_in_original_units() -> None:
    spec = TrainSpec(units=4, epochs=3, scaling="standard")
    trained = trained_on_sine(spec)
    forecaster = Forecaster(keras_forward(trained.model), trained.preprocessing)
    windows = np.random.default_rng(1).normal(size=(5, 20, 1))
    prep = trained.preprocessing
    raw = trained.model.predict(prep.x_scaler.transform(windows).astype(np.float32), verbose=0)
    np.testing.assert_allclose(forecaster.predict(windows), prep.y_scaler.inverse(raw), rtol=1e-5)


def test_recursive_forecast_feeds_each_prediction_back() -> None:
    spec = TrainSpec(units=4, epochs=3, window=WindowSpec(length=6, sampling_rate=2))
    trained = trained_on_sine(spec)
    forecaster = Forecaster(keras_forward(trained.model), trained.preprocessing)
    history = list(np.sin(0.5 * np.arange(30)))
    got = forecaster.forecast(np.array(history), horizon=4)[:, 0]
    for step in range(4):  # by hand: predict from the last window, append, repeat
        window = np.array(history[len(history) - 6 :: 2]).reshape(1, 3, 1)
        history.append(float(forecaster.predict(window)[0, 0]))
        assert got[step] == pytest.approx(history[-1], rel=1e-5)


def test_series_windows_pair_each_window_with_its_next_value() -> None:
    trained = trained_on_sine(TrainSpec(units=2, epochs=1, window=WindowSpec(length=3)))
    forecaster = Forecaster(keras_forward(trained.model), trained.preprocessing)
    windows = forecaster.windows(np.arange(6.0))
    assert windows.targets[:, 0].tolist() == [3, 4, 5]
    evaluation = forecaster.evaluate(np.arange(6.0))
    assert evaluation.t.tolist() == [3, 4, 5]
    assert evaluation.baselines(None)["naive"][:, 0].tolist() == [2, 3, 4]
