from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.forecasting.network import build_model
from service.forecasting.spec import LayerSpec, LayerType, TrainSpec


@pytest.mark.parametrize("preset", ["lstm", "gru", "simple_rnn", "dense"])
def test_presets_build_with_a_head_sized_to_the_targets(preset: str) -> None:
    spec = TrainSpec(architecture=preset, units=3)
    model = build_model(spec.resolved_layers(), timesteps=20, features=2, outputs=2)
    assert model.input_shape == (None, 20, 2)
    assert model.output_shape == (None, 2)


def test_lecture_dense_preprocessing_stack_acts_per_timestep() -> None:
    """Dense(32) -> SimpleRNN(32, seq) -> SimpleRNN(32, seq) -> Dense(1), as in the lecture."""
    layers = [
        LayerSpec(type=LayerType.dense, units=32, activation="relu"),
        LayerSpec(type=LayerType.simple_rnn, units=32, activation="relu", return_sequences=True),
        LayerSpec(type=LayerType.simple_rnn, units=32, activation="relu", return_sequences=True),
    ]
    model = build_model(layers, timesteps=1, features=1, outputs=1)
    dense = model.get_layer("dense_0")
    assert dense.output.shape == (None, 1, 32)  # per timestep, not flattened
    assert model.output_shape == (None, 1)
    # Dense(1->32) + two SimpleRNN(32) + head(32->1), exactly the lecture's parameter count.
    assert model.count_params() == (1 * 32 + 32) + 2 * (32 * 32 + 32 * 32 + 32) + (32 + 1)


def test_sequence_output_is_read_at_the_last_timestep() -> None:
    layers = [LayerSpec(type=LayerType.gru, units=4, return_sequences=True)]
    model = build_model(layers, timesteps=7, features=1, outputs=1)
    assert model.output_shape == (None, 1)


def test_dense_only_stack_sees_the_whole_window() -> None:
    layers = [LayerSpec(type=LayerType.dense, units=5)]
    model = build_model(layers, timesteps=4, features=2, outputs=1)
    assert model.get_layer("dense_0").kernel.shape == (8, 5)


def test_recurrent_layer_after_a_non_sequence_layer_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"layers\[1\] \(lstm\) needs a sequence"):
        TrainSpec(layers=[{"type": "lstm", "units": 4}, {"type": "lstm", "units": 4}])


def test_preset_and_layers_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="either `architecture` or `layers`"):
        TrainSpec(architecture="gru", layers=[{"type": "gru", "units": 4}])


def test_return_sequences_on_dense_is_rejected() -> None:
    with pytest.raises(ValidationError, match="recurrent layers only"):
        LayerSpec(type=LayerType.dense, units=3, return_sequences=True)
