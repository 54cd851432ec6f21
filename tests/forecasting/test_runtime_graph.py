"""The one-call graphs (runtime_graph.py, fused.py) and the numpy path give Keras' answers, made
step by step as before (one `predict` a step, each transform undone step by step): one-step
predictions, recursive horizons from one origin and from many, and ensembles, for every preset,
an explicit stack, each window normalisation and each transform (smoothing's included)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from service.forecasting import transforms
from service.forecasting.batched import network_forward
from service.forecasting.ensemble import Ensemble
from service.forecasting.folding import scaling_folded
from service.forecasting.fused import Joint, horizon_model
from service.forecasting.inference import Forecaster, keras_forward
from service.forecasting.onnx_graph import network_onnx
from service.forecasting.pipeline import train_series
from service.forecasting.runtime_graph import _session, step_model
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


Served = tuple[Forecaster, Forecaster, Forecaster]


def served(trained: Trained) -> Served:
    """The network through Keras (the reference), the numpy pass, and the one-call graphs."""
    forward = network_forward(trained.network)
    joint = Joint([network_onnx(trained.network)], [trained.preprocessing])
    prep = trained.preprocessing
    keras = Forecaster(keras_forward(trained.network.keras_model()), prep)
    return keras, Forecaster(forward, prep), Forecaster(forward, prep, joint)


def stepped(keras: Forecaster, origins: list[int], horizon: int) -> np.ndarray:
    """Keras' recursive forecast as it was served: one `predict` a step, each level undone
    after each step (transforms.recurse)."""
    assert keras.prep.window is not None
    length, rate = keras.prep.window.length, keras.prep.window.sampling_rate
    return transforms.recurse(
        keras.prep.transforms, SERIES[:, None], np.asarray(origins), horizon=horizon,
        back=length, step=lambda top, t: keras.predict(top[t - length : t : rate].swapaxes(0, 1)),
    )  # fmt: skip


def close(a: np.ndarray, b: np.ndarray) -> None:
    # 1e-5 relative, with an absolute allowance of 1e-5 of the series' own scale for values near 0.
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(np.std(SERIES)))


@pytest.fixture(scope="module", params=list(SPECS))
def three(request: pytest.FixtureRequest) -> Served:
    return served(train_series(SPECS[request.param], SERIES))


def test_one_step_predictions_equal_keras(three: Served) -> None:
    keras, plain, joint = three
    one = SERIES[: joint.min_history + 1]
    for path in (plain, joint):
        close(path.evaluate(SERIES).predictions, keras.evaluate(SERIES).predictions)
        close(path.evaluate(one).predictions, keras.evaluate(one).predictions)


def test_horizons_equal_keras_step_by_step(three: Served) -> None:
    keras, plain, joint = three
    origins = list(range(joint.min_history, 80, 3))
    for path in (plain, joint):
        close(path.forecast(SERIES, horizon=40), stepped(keras, [len(SERIES)], 40)[0])
        close(path.forecast_from(SERIES, origins, horizon=10), stepped(keras, origins, 10))


def test_an_ensemble_in_one_call_equals_its_members_keras_answers_averaged() -> None:
    members = [train_series(SPECS[name], SERIES) for name in ("lstm", "log, smoothing", "dense")]
    trios = [served(m) for m in members]
    keras = Ensemble([k for k, _, _ in trios])
    joint = Joint([network_onnx(m.network) for m in members], [m.preprocessing for m in members])
    together = Ensemble([p for _, p, _ in trios], joint)
    expected = np.mean([stepped(k, [len(SERIES)], 30)[0] for k, _, _ in trios], axis=0)
    close(together.forecast(SERIES, horizon=30), expected)
    close(together.evaluate(SERIES).predictions, keras.evaluate(SERIES).predictions)
    windows = keras.members[0].windows(SERIES).inputs[:3]
    close(together.predict(windows), keras.predict(windows))


def test_the_horizon_graph_is_one_loop_around_the_network() -> None:
    trained = train_series(SPECS["lstm"], SERIES)
    loop = horizon_model([network_onnx(trained.network)], [trained.preprocessing])
    assert [n.op_type for n in loop.graph.node].count("Loop") == 1
    body = next(n for n in loop.graph.node if n.op_type == "Loop").attribute[0].g
    ops = [n.op_type for n in body.node]
    assert "LSTM" in ops
    # A step's nodes each cost about a microsecond: no copies but the loop condition's.
    assert ops.count("Identity") == 1, ops
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


@pytest.mark.parametrize(
    ("name", "folds"), [("gru", True), ("dense", True), ("stack", True), ("levels, minmax", False)]
)
def test_relative_windows_have_their_scaling_folded_into_the_weights(
    name: str, folds: bool
) -> None:
    """Four nodes fewer a step; levels keep theirs (an offset of levels in float32 weights would
    cancel digits). Answers equal Keras' either way (the tests above)."""
    trained = train_series(SPECS[name], SERIES)
    network = network_onnx(trained.network)
    folded = scaling_folded(network, trained.preprocessing)
    assert (folded is not None) == folds
    ops = [n.op_type for n in step_model(network, trained.preprocessing).graph.node]
    assert ("Div" in ops) != folds
    if folded is not None:  # the same network, the scaling inside: equal on scaled windows
        windows = np.random.default_rng(0).normal(
            size=(5, trained.network.timesteps, trained.network.features)
        )
        prep = trained.preprocessing
        scaled = prep.x_scaler.transform(windows).astype(np.float32)
        out = _session(network).run(None, {"window": scaled})[0]
        expected = prep.y_scaler.inverse(out.astype(np.float64))
        got = _session(folded).run(None, {"window": windows.astype(np.float32)})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
