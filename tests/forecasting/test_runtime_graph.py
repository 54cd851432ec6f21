"""The one-call graphs (runtime_graph.py) give the answers of the step-by-step path: one-step
predictions, recursive horizons from one origin and from many, and ensembles, for every preset,
an explicit stack, each window normalisation and each transform (smoothing's included)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from service.forecasting.batched import network_forward
from service.forecasting.ensemble import Ensemble
from service.forecasting.fused import Joint, horizon_model
from service.forecasting.inference import Forecaster
from service.forecasting.onnx_graph import network_onnx
from service.forecasting.pipeline import train_series
from service.forecasting.runtime_graph import step_model
from service.forecasting.spec import TrainSpec
from service.forecasting.trained import Trained

pytestmark = pytest.mark.slow  # trains a dozen tiny networks (about 40 s)

SERIES = np.sin(0.5 * np.arange(90)) + 0.02 * np.arange(90) + 2.0
STACK = [
    {"type": "dense", "units": 3, "activation": "relu"},
    {"type": "lstm", "units": 3, "return_sequences": True},
    {"type": "gru", "units": 3, "activation": "relu"},
]
SPECS = {
    "lstm": TrainSpec(architecture="lstm", units=4, epochs=3),
    "gru": TrainSpec(architecture="gru", units=4, epochs=3),
    "simple_rnn": TrainSpec(architecture="simple_rnn", units=4, epochs=3),
    "dense": TrainSpec(architecture="dense", units=4, epochs=3),
    "stack": TrainSpec(layers=STACK, epochs=3),
    "levels, minmax": TrainSpec(
        architecture="lstm", units=3, epochs=3, window_normalization="none", scaling="minmax"
    ),
    "mean, sampled": TrainSpec(
        architecture="gru",
        units=3,
        epochs=3,
        window_normalization="mean",
        window={"length": 8, "sampling_rate": 2},
    ),
    "log": TrainSpec(architecture="lstm", units=3, epochs=3, transforms=[{"type": "log"}]),
    "difference 2": TrainSpec(
        architecture="gru", units=3, epochs=3, transforms=[{"type": "difference", "order": 2}]
    ),
    "seasonal difference": TrainSpec(
        architecture="simple_rnn",
        units=3,
        epochs=3,
        transforms=[{"type": "seasonal_difference", "season_length": 12}],
    ),
    "log, smoothing": TrainSpec(
        architecture="lstm",
        units=3,
        epochs=3,
        transforms=[{"type": "log"}, {"type": "smoothing", "season_length": 12}],
    ),
}


def served(trained: Trained) -> tuple[Forecaster, Forecaster]:
    """The network as the step-by-step path serves it, and with its one-call graphs."""
    forward = network_forward(trained.network)
    joint = Joint([network_onnx(trained.network)], [trained.preprocessing])
    return Forecaster(forward, trained.preprocessing), Forecaster(
        forward, trained.preprocessing, joint
    )


def close(a: np.ndarray, b: np.ndarray) -> None:
    # 1e-5 relative, with an absolute allowance of 1e-5 of the series' own scale for values near 0.
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(np.std(SERIES)))


@pytest.fixture(scope="module", params=list(SPECS))
def pair(request: pytest.FixtureRequest) -> tuple[Forecaster, Forecaster]:
    return served(train_series(SPECS[request.param], SERIES))


def test_one_step_predictions_equal_the_step_by_step_path(
    pair: tuple[Forecaster, Forecaster],
) -> None:
    plain, joint = pair
    close(joint.evaluate(SERIES).predictions, plain.evaluate(SERIES).predictions)
    one = SERIES[: joint.min_history + 1]
    close(joint.evaluate(one).predictions, plain.evaluate(one).predictions)


def test_horizons_equal_the_step_by_step_path(pair: tuple[Forecaster, Forecaster]) -> None:
    plain, joint = pair
    close(joint.forecast(SERIES, horizon=40), plain.forecast(SERIES, horizon=40))
    origins = list(range(joint.min_history, 80, 3))
    close(
        joint.forecast_from(SERIES, origins, horizon=10),
        plain.forecast_from(SERIES, origins, horizon=10),
    )


def test_an_ensemble_in_one_call_equals_its_members_averaged() -> None:
    members = [train_series(SPECS[name], SERIES) for name in ("lstm", "log, smoothing", "dense")]
    pairs = [served(m) for m in members]
    plain = Ensemble([p for p, _ in pairs])
    joint = Joint([network_onnx(m.network) for m in members], [m.preprocessing for m in members])
    together = Ensemble([p for p, _ in pairs], joint)
    close(together.forecast(SERIES, horizon=30), plain.forecast(SERIES, horizon=30))
    close(together.evaluate(SERIES).predictions, plain.evaluate(SERIES).predictions)
    windows = plain.members[0].windows(SERIES).inputs[:3]
    close(together.predict(windows), plain.predict(windows))


def test_the_horizon_graph_is_one_loop_around_the_network() -> None:
    trained = train_series(SPECS["lstm"], SERIES)
    loop = horizon_model([network_onnx(trained.network)], [trained.preprocessing])
    assert [n.op_type for n in loop.graph.node].count("Loop") == 1
    body = next(n for n in loop.graph.node if n.op_type == "Loop").attribute[0].g
    assert "LSTM" in [n.op_type for n in body.node]
    step = step_model(network_onnx(trained.network), trained.preprocessing)
    onnx.checker.check_model(step)


def test_an_ensemble_horizon_is_one_loop_running_every_member() -> None:
    members = [train_series(SPECS[name], SERIES) for name in ("gru", "mean, sampled")]
    loop = horizon_model(
        [network_onnx(m.network) for m in members], [m.preprocessing for m in members]
    )
    assert [n.op_type for n in loop.graph.node].count("Loop") == 1
    body = next(n for n in loop.graph.node if n.op_type == "Loop").attribute[0].g
    assert [n.op_type for n in body.node].count("GRU") == 2


def test_a_network_at_another_opset_is_refused_so_it_is_served_alone() -> None:
    trained = train_series(SPECS["dense"], SERIES)
    network = network_onnx(trained.network)
    network.opset_import[0].version = 13
    with pytest.raises(ValueError, match="opset"):
        Joint([network], [trained.preprocessing])
