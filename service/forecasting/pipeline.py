"""Train one model end to end: scale, fit, measure. Plain numpy in, a Keras model out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from service.forecasting.data import DataKind, Examples, Preprocessing
from service.forecasting.scaling import Scaler
from service.forecasting.spec import TrainSpec
from service.forecasting.training import FitConfig, FitResult, Progress, fit

if TYPE_CHECKING:
    import keras

# Measured on the lecture's windowed sine task (bench/train_speed.py): full-batch Adam at a high
# learning rate, halved on plateaus, reaches test MSE below 1e-05 in a few seconds for every
# recurrent preset. Explicit spec values always replace these.
DEFAULT_EPOCHS = 2000
DEFAULT_LEARNING_RATE = 0.03
DEFAULT_MAX_BATCH = 1024
DEFAULT_PATIENCE = 300
# Converged: the loss, in scaled units, is a millionth of the data's variance (standard scaling).
DEFAULT_TOLERANCE = 1e-6
DEFAULT_REDUCE_LR_PATIENCE = 100


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; nothing from this run is worth keeping."""


@dataclass
class Trained:
    model: keras.Model
    preprocessing: Preprocessing
    metrics: dict[str, float | None]
    fit: FitResult
    examples: int  # windows trained on, validation excluded


def fit_config(spec: TrainSpec, n_examples: int) -> FitConfig:
    """The spec's training numbers, with measured defaults for the ones it leaves out."""
    defaults = spec.epochs is None
    return FitConfig(
        epochs=spec.epochs or DEFAULT_EPOCHS,
        batch_size=spec.batch_size or min(n_examples, DEFAULT_MAX_BATCH),
        patience=spec.early_stopping_patience or (DEFAULT_PATIENCE if defaults else None),
        reduce_lr_patience=DEFAULT_REDUCE_LR_PATIENCE if spec.learning_rate is None else None,
        tolerance=spec.tolerance or (DEFAULT_TOLERANCE if defaults else None),
        max_seconds=spec.max_seconds,
        seed=spec.seed,
    )


def train(
    spec: TrainSpec,
    data: Examples,
    *,
    kind: DataKind,
    test: Examples | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Trained:
    """Build the spec's network, train it on `data`, and measure it on held-out points."""
    import keras

    from service.forecasting.network import build_model, build_optimizer

    keras.utils.set_random_seed(spec.seed)
    fitted, validation = data.split(spec.validation_fraction)
    prep = _preprocessing(spec, fitted, kind=kind)
    model = build_model(
        spec.resolved_layers(),
        timesteps=prep.timesteps,
        features=prep.features,
        outputs=prep.outputs,
    )
    optimizer = build_optimizer(
        spec.optimizer, learning_rate=spec.learning_rate or DEFAULT_LEARNING_RATE
    )
    x, y = _scaled(prep, fitted)
    result = fit(
        model,
        optimizer,
        x,
        y,
        config=fit_config(spec, len(fitted)),
        validation=_scaled(prep, validation) if validation is not None else None,
        on_progress=on_progress,
        should_cancel=should_cancel,
    )
    if result.stop_reason == "diverged":
        raise TrainingDiverged(
            f"training diverged at epoch {result.epochs_run}: the loss became "
            f"{result.history['loss'][-1]}; try a lower learning_rate or scaling"
        )
    metrics = _metrics(model, prep, train=fitted, validation=validation, test=test)
    return Trained(
        model=model, preprocessing=prep, metrics=metrics, fit=result, examples=len(fitted)
    )


def _preprocessing(spec: TrainSpec, data: Examples, *, kind: DataKind) -> Preprocessing:
    _, timesteps, features = data.inputs.shape
    x_scaler = Scaler.fit(spec.scaling, data.inputs)
    if kind == "series":
        columns = spec.target_columns or list(range(features))
        y_scaler = x_scaler.select(columns)
    else:
        y_scaler = Scaler.fit(spec.scaling, data.targets)
    return Preprocessing(
        data_kind=kind,
        timesteps=timesteps,
        features=features,
        outputs=data.targets.shape[1],
        window=spec.window if kind == "series" else None,
        target_columns=spec.target_columns if kind == "series" else None,
        x_scaler=x_scaler,
        y_scaler=y_scaler,
    )


def _scaled(prep: Preprocessing, data: Examples) -> tuple[np.ndarray, np.ndarray]:
    x = prep.x_scaler.transform(data.inputs).astype(np.float32)
    return x, prep.y_scaler.transform(data.targets).astype(np.float32)


def predict_keras(model: keras.Model, prep: Preprocessing, inputs: np.ndarray) -> np.ndarray:
    """Predictions in original units, straight from Keras (used at training time only)."""
    x = prep.x_scaler.transform(inputs).astype(np.float32)
    return prep.y_scaler.inverse(np.asarray(model.predict_on_batch(x), dtype=np.float64))


def _metrics(
    model: keras.Model,
    prep: Preprocessing,
    *,
    train: Examples,
    validation: Examples | None,
    test: Examples | None,
) -> dict[str, float | None]:
    metrics: dict[str, float | None] = {}
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        model_mse, naive = _part_metrics(model, prep, part)
        metrics[f"{name}_mse"] = model_mse
        metrics[f"{name}_naive_mse"] = naive
    # The baseline the issue names: the last-value forecast on the test points.
    metrics["naive_mse"] = metrics.pop("test_naive_mse")
    return metrics


def _part_metrics(
    model: keras.Model, prep: Preprocessing, part: Examples | None
) -> tuple[float | None, float | None]:
    if part is None or len(part) == 0:
        return None, None
    predictions = predict_keras(model, prep, part.inputs)
    naive = None if part.naive is None else mse(part.targets, part.naive)
    return mse(part.targets, predictions), naive


def mse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2))
