from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from service.forecasting.data import Examples
from service.forecasting.pipeline import resolve_series_defaults, train_arrays, train_series
from service.forecasting.spec import TrainSpec, WindowSpec
from service.forecasting.training import Progress, TrainingContext, TrainingDiverged

SHORT = WindowSpec(length=8)


def sine(n: int = 80, start: float = 0.0) -> np.ndarray:
    return np.sin(start + 0.5 * np.arange(n))


@pytest.mark.parametrize("batch_size", [None, 7])
def test_same_seed_same_data_same_model(batch_size: int | None) -> None:
    spec = TrainSpec(
        architecture="gru", units=3, epochs=30, batch_size=batch_size, seed=7, window=SHORT
    )
    first = train_series(spec, sine(), test_series=sine(start=40))
    second = train_series(spec, sine(), test_series=sine(start=40))
    for a, b in zip(first.network.weights, second.network.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.metrics == second.metrics
    assert first.fit.history == second.fit.history


def test_different_seed_different_model() -> None:
    runs = [
        train_series(TrainSpec(units=3, epochs=3, seed=s, window=SHORT), sine()) for s in (1, 2)
    ]
    assert not np.array_equal(runs[0].network.weights[0], runs[1].network.weights[0])


def test_history_keeps_every_epoch_and_loss_falls() -> None:
    trained = train_series(TrainSpec(units=4, epochs=120, window=SHORT), sine())
    assert trained.fit.epochs_run == 120
    assert len(trained.fit.history["loss"]) == 120
    assert trained.fit.history["loss"][-1] < trained.fit.history["loss"][0] / 10
    assert trained.fit.stop_reason == "epochs"


def test_early_stopping_stops_on_a_plateau() -> None:
    """A constant series is learnt at once; patience 20 must stop long before 2000 epochs."""
    spec = TrainSpec(
        units=2,
        epochs=2000,
        early_stopping_patience=20,
        scaling="none",
        window=WindowSpec(length=4),
    )
    trained = train_series(spec, np.full(40, 3.0))
    assert trained.fit.stop_reason == "early_stopping"
    assert trained.fit.epochs_run < 2000


def test_validation_fraction_holds_out_the_tail_and_reports_val_loss() -> None:
    spec = TrainSpec(units=3, epochs=10, validation_fraction=0.25, window=SHORT)
    trained = train_series(spec, sine())
    assert len(trained.fit.history["val_loss"]) == 10
    assert trained.examples == 54  # 72 windows, the last 18 held out
    assert trained.metrics["validation_mse"] is not None


def test_series_defaults_are_written_into_the_spec() -> None:
    """Unset, a series model's windows are relative to their last value (none with transforms),
    and with the default epochs the last 15% of at least 20 windows are held out."""
    default = resolve_series_defaults(TrainSpec(), windows=100)
    assert (default.window_normalization, default.validation_fraction) == ("last", 0.15)
    few = resolve_series_defaults(TrainSpec(), windows=19)
    assert few.validation_fraction == 0.0
    explicit = resolve_series_defaults(TrainSpec(epochs=50), windows=100)
    assert explicit.validation_fraction == 0.0
    chained = resolve_series_defaults(TrainSpec(transforms=[{"type": "log"}]), windows=100)
    assert chained.window_normalization == "none"
    one_step = resolve_series_defaults(TrainSpec(window=WindowSpec(length=1)), windows=100)
    assert one_step.window_normalization == "none"  # relative to itself, a window is all zeros
    given = resolve_series_defaults(
        TrainSpec(window_normalization="mean", validation_fraction=0.3), windows=100
    )
    assert (given.window_normalization, given.validation_fraction) == ("mean", 0.3)
    trained = train_series(TrainSpec(units=2, epochs=2, window=SHORT), sine())
    assert trained.spec is not None
    assert trained.spec.window_normalization == trained.preprocessing.window_normalization
    assert trained.preprocessing.window_normalization == "last"


def test_default_tolerance_follows_the_targets_variance_within_a_cap() -> None:
    """A millionth of the targets' variance in whatever units the network learns, but never
    more than 1e-5 scaled units: on a long line the levels' variance dwarfs the changes'."""
    from service.forecasting.data import series_examples
    from service.forecasting.pipeline import _preprocessing, _variance_ratio

    def ratio(series: np.ndarray, normalization: str) -> float:
        spec = TrainSpec(window=SHORT, window_normalization=normalization)
        data = series_examples(series[:, None], window=SHORT, target_columns=None, stride=1)
        return _variance_ratio(_preprocessing(spec, data, kind="series"), data)

    assert ratio(sine(200), "none") == pytest.approx(1.0, rel=0.05)  # levels, standard scaling
    assert 2 < ratio(sine(200), "last") < 10  # changes vary less than the sine itself
    assert ratio(0.5 * np.arange(5000.0), "last") == 10.0  # capped


def test_with_validation_the_best_weights_are_kept() -> None:
    """As Keras' EarlyStopping(restore_best_weights=True): the model returned is the one at
    the lowest validation loss, not the last epoch's."""
    spec = TrainSpec(
        units=6, epochs=120, validation_fraction=0.3, learning_rate=0.3, window=SHORT, seed=3
    )
    noisy = sine(90) + np.random.default_rng(0).normal(0, 0.3, 90)
    trained = train_series(spec, noisy)
    val_losses = trained.fit.history["val_loss"]
    assert val_losses[-1] > min(val_losses) * 1.05  # the last epoch is not the best here
    held_out = trained.metrics["validation_mse"]
    assert held_out is not None
    # validation_mse is in original units; the loss in scaled ones: compare via the scaler.
    scale = float(trained.preprocessing.y_scaler.scale[0]) ** 2
    assert held_out / scale == pytest.approx(min(val_losses), rel=1e-3)


def test_time_budget_stops_training_and_keeps_the_model() -> None:
    spec = TrainSpec(units=8, epochs=20_000, batch_size=4, max_seconds=1.0, window=SHORT)
    started = time.perf_counter()
    trained = train_series(spec, sine(), test_series=sine(start=40))
    assert trained.fit.stop_reason == "max_seconds"
    assert trained.fit.epochs_run < 20_000
    assert time.perf_counter() - started < 30  # stopped, not run to the end
    assert trained.metrics["test_mse"] is not None


def test_progress_is_reported_and_cancel_stops() -> None:
    seen: list[Progress] = []
    spec = TrainSpec(units=3, epochs=1000, window=SHORT)
    trained = train_series(
        spec,
        sine(),
        context=TrainingContext(on_progress=seen.append, should_cancel=lambda: len(seen) >= 2),
    )
    assert trained.fit.stop_reason == "cancelled"
    assert [p.epoch for p in seen] == [50, 100]
    assert all(p.total == 1000 and p.loss > 0 for p in seen)


def test_divergence_is_an_error() -> None:
    spec = TrainSpec(units=8, epochs=50, optimizer="sgd", learning_rate=10.0, scaling="none")
    big = Examples(np.full((20, 3, 1), 1e3), np.full((20, 1), 1e3))
    with pytest.raises(TrainingDiverged, match="diverged"):
        train_arrays(spec, big)


def test_metrics_carry_the_baselines_on_the_same_points() -> None:
    test = sine(40, start=40)
    spec = TrainSpec(units=3, epochs=5, window=SHORT, season_length=6)
    trained = train_series(spec, sine(), test_series=test)
    targets = test[8:]
    naive = test[7:-1]
    seasonal = test[2:-6]
    drift = test[7:-1] + (test[7:-1] - test[0]) / np.arange(7, 39)
    metrics: dict[str, Any] = trained.metrics
    assert metrics["naive_mse"] == pytest.approx(np.mean((targets - naive) ** 2))
    assert metrics["seasonal_naive_mse"] == pytest.approx(np.mean((targets - seasonal) ** 2))
    assert metrics["drift_mse"] == pytest.approx(np.mean((targets - drift) ** 2))
    best = min(metrics["naive_mse"], metrics["seasonal_naive_mse"], metrics["drift_mse"])
    assert metrics["skill"] == pytest.approx(metrics["test_mse"] / best)


@pytest.mark.slow
def test_default_settings_reach_lecture_quality() -> None:
    """The lecture's windowed sine task with the service defaults: test MSE <= 1e-05."""
    train_part, test_part = np.sin(np.arange(0, 100, 0.5)), np.sin(np.arange(90, 200, 0.5))
    trained = train_series(TrainSpec(architecture="lstm"), train_part, test_series=test_part)
    assert trained.metrics["test_mse"] is not None
    assert trained.metrics["test_mse"] <= 1e-05


def test_a_large_validation_fraction_still_leaves_one_window_to_train_on() -> None:
    spec = TrainSpec(units=2, epochs=2, validation_fraction=0.8, window=WindowSpec(length=5))
    trained = train_series(spec, sine(7))  # two windows: one trains, one validates
    assert trained.examples == 1
    assert trained.metrics["validation_mse"] is not None


def test_a_reused_compiled_step_gives_the_same_model_as_a_fresh_one() -> None:
    """Steps are compiled once per shape and kept: a training that reuses one (after another
    training of the same shape on other data) gives exactly what it gave the first time."""
    from service.forecasting.training import STEPS

    spec = TrainSpec(architecture="lstm", units=3, epochs=60, window=SHORT, seed=5)
    first = train_series(spec, sine())
    compiled = STEPS.compiled
    other = train_series(spec.model_copy(update={"seed": 6}), sine(start=3.0))
    again = train_series(spec, sine())
    assert STEPS.compiled == compiled  # both reused the step the first one compiled
    for a, b in zip(first.network.weights, again.network.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.fit.history == again.fit.history
    assert not np.array_equal(first.network.weights[0], other.network.weights[0])


def test_rows_are_padded_to_eight_sizes_an_octave() -> None:
    from service.forecasting.training import padded_rows

    assert [padded_rows(n) for n in (1, 15, 16, 17, 180, 250, 257, 1000)] == [
        1, 15, 16, 18, 192, 256, 288, 1024,
    ]  # fmt: skip
    assert all(n <= padded_rows(n) <= n * 1.125 + 1 for n in range(1, 5000))
