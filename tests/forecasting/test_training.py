from __future__ import annotations

import time

import numpy as np
import pytest

from service.forecasting.data import Examples, series_examples
from service.forecasting.pipeline import TrainingDiverged, train
from service.forecasting.spec import TrainSpec, WindowSpec
from service.forecasting.training import Progress


def sine_examples(n: int = 80, start: float = 0.0, length: int = 8) -> Examples:
    series = np.sin(start + 0.5 * np.arange(n))
    return series_examples(series, window=WindowSpec(length=length), target_columns=None, stride=1)


def weights(model) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return [w.copy() for w in model.get_weights()]


@pytest.mark.parametrize("batch_size", [None, 7])
def test_same_seed_same_data_same_model(batch_size: int | None) -> None:
    spec = TrainSpec(architecture="gru", units=3, epochs=30, batch_size=batch_size, seed=7)
    first = train(spec, sine_examples(), kind="series", test=sine_examples(start=40))
    second = train(spec, sine_examples(), kind="series", test=sine_examples(start=40))
    for a, b in zip(weights(first.model), weights(second.model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.metrics == second.metrics
    assert first.fit.history == second.fit.history


def test_different_seed_different_model() -> None:
    runs = [
        train(TrainSpec(units=3, epochs=3, seed=s), sine_examples(), kind="series") for s in (1, 2)
    ]
    assert not np.array_equal(runs[0].model.get_weights()[0], runs[1].model.get_weights()[0])


def test_history_keeps_every_epoch_and_loss_falls() -> None:
    trained = train(TrainSpec(units=4, epochs=120), sine_examples(), kind="series")
    assert trained.fit.epochs_run == 120
    assert len(trained.fit.history["loss"]) == 120
    assert trained.fit.history["loss"][-1] < trained.fit.history["loss"][0] / 10
    assert trained.fit.stop_reason == "epochs"


def test_early_stopping_stops_on_a_plateau() -> None:
    """A constant series is learnt at once; patience 20 must stop long before 2000 epochs."""
    flat = series_examples(
        np.full(40, 3.0), window=WindowSpec(length=4), target_columns=None, stride=1
    )
    spec = TrainSpec(units=2, epochs=2000, early_stopping_patience=20, scaling="none")
    trained = train(spec, flat, kind="series")
    assert trained.fit.stop_reason == "early_stopping"
    assert trained.fit.epochs_run < 2000


def test_validation_fraction_holds_out_the_tail_and_reports_val_loss() -> None:
    spec = TrainSpec(units=3, epochs=10, validation_fraction=0.25)
    trained = train(spec, sine_examples(), kind="series")
    assert len(trained.fit.history["val_loss"]) == 10
    assert trained.examples == 54  # 72 windows, the last 18 held out
    assert trained.metrics["validation_mse"] is not None


def test_time_budget_stops_training_and_keeps_the_model() -> None:
    spec = TrainSpec(units=8, epochs=20_000, batch_size=4, max_seconds=1.0)
    started = time.perf_counter()
    trained = train(spec, sine_examples(), kind="series", test=sine_examples(start=40))
    assert trained.fit.stop_reason == "max_seconds"
    assert trained.fit.epochs_run < 20_000
    assert time.perf_counter() - started < 30  # stopped, not run to the end
    assert trained.metrics["test_mse"] is not None


def test_progress_is_reported_and_cancel_stops() -> None:
    seen: list[Progress] = []
    spec = TrainSpec(units=3, epochs=1000)
    trained = train(
        spec,
        sine_examples(),
        kind="series",
        on_progress=seen.append,
        should_cancel=lambda: len(seen) >= 2,
    )
    assert trained.fit.stop_reason == "cancelled"
    assert [p.epoch for p in seen] == [50, 100]
    assert all(p.total == 1000 and p.loss > 0 for p in seen)


def test_divergence_is_an_error() -> None:
    spec = TrainSpec(units=8, epochs=50, optimizer="sgd", learning_rate=10.0, scaling="none")
    big = Examples(np.full((20, 3, 1), 1e3), np.full((20, 1), 1e3), None)
    with pytest.raises(TrainingDiverged, match="diverged"):
        train(spec, big, kind="inputs")


def test_metrics_carry_the_naive_baseline_on_the_same_points() -> None:
    test = sine_examples(start=40)
    trained = train(TrainSpec(units=3, epochs=5), sine_examples(), kind="series", test=test)
    assert test.naive is not None
    expected = float(np.mean((test.targets - test.naive) ** 2))
    assert trained.metrics["naive_mse"] == pytest.approx(expected)


@pytest.mark.slow
def test_default_settings_reach_lecture_quality() -> None:
    """The lecture's windowed sine task with the service defaults: test MSE <= 1e-05."""
    window = WindowSpec(length=20)
    cut = {"window": window, "target_columns": None, "stride": 1}
    data = series_examples(np.sin(np.arange(0, 100, 0.5)), **cut)
    test = series_examples(np.sin(np.arange(90, 200, 0.5)), **cut)
    trained = train(TrainSpec(architecture="lstm"), data, kind="series", test=test)
    assert trained.metrics["test_mse"] is not None
    assert trained.metrics["test_mse"] <= 1e-05
