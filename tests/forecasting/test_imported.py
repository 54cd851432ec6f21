"""Keras models built as a notebook builds them, read as the service's Network: the numpy pass
and the ONNX export over the read weights give what Keras gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.forecasting.batched import Unsupported, network_forward
from service.forecasting.export import export_onnx, onnx_forward
from service.forecasting.imported import network_of
from service.forecasting.spec import LayerType


def _model(*layers: Any, inputs: tuple[int, int] = (6, 2)) -> Any:
    import keras

    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input(inputs), *layers])


def _stacks() -> dict[str, Any]:
    from keras import layers

    return {
        "lstm": [layers.LSTM(4), layers.Dense(1)],
        "mlp over the flattened window": [
            layers.Flatten(),
            layers.Dense(5, activation="relu"),
            layers.Dense(2),
        ],
        "stacked, cropped to the last step": [
            layers.GRU(3, return_sequences=True),
            layers.SimpleRNN(3, activation="relu", return_sequences=True),
            layers.Cropping1D((5, 0)),
            layers.Flatten(),
            layers.Dense(2),
        ],
        "per-timestep dense, no bias, activated head": [
            layers.Dense(3, activation="tanh", use_bias=False),
            layers.LSTM(3, use_bias=False),
            layers.Dense(2, activation="sigmoid"),
        ],
    }


@pytest.mark.parametrize("name", list(_stacks()))
def test_read_network_computes_what_keras_computes(name: str, tmp_path: Path) -> None:
    model = _model(*_stacks()[name])
    network = network_of(model, timesteps=6)
    probe = np.random.default_rng(1).normal(size=(16, 6, 2)).astype(np.float32)
    expected = np.asarray(model(probe, training=False))
    np.testing.assert_allclose(network_forward(network)(probe), expected, rtol=1e-5, atol=1e-6)
    export_onnx(network, tmp_path / "m.onnx")
    np.testing.assert_allclose(
        onnx_forward(tmp_path / "m.onnx")(probe), expected, rtol=1e-5, atol=1e-6
    )


def test_a_linear_last_dense_is_the_head_and_anything_else_gets_an_identity_head() -> None:
    from keras import layers

    plain = network_of(_model(layers.LSTM(4), layers.Dense(1)), timesteps=6)
    assert [layer.type for layer in plain.layers] == [LayerType.lstm]
    activated = network_of(_model(layers.LSTM(4), layers.Dense(2, activation="relu")), timesteps=6)
    assert [layer.type for layer in activated.layers] == [LayerType.lstm, LayerType.dense]
    np.testing.assert_array_equal(activated.weights[-2], np.eye(2))


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda k: [k.LSTM(3, return_sequences=True), k.Flatten(), k.Dense(1)], "whole sequence"),
        (lambda k: [k.LSTM(3, recurrent_activation="tanh")], "recurrent_activation"),
        (lambda k: [k.LSTM(3, activation="softplus")], "softplus"),
        (lambda k: [k.Dense(3)], "outputs a sequence"),
    ],
)
def test_stacks_the_service_does_not_serve_are_named(make: Any, words: str) -> None:
    from keras import layers

    with pytest.raises(Unsupported, match=words):
        network_of(_model(*make(layers)), timesteps=6)
