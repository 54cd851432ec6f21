"""Train one model end to end: scale, fit, measure. Plain numpy in, a trained network out."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from service.forecasting import transforms
from service.forecasting.auto import choose, padding
from service.forecasting.batched import network_forward
from service.forecasting.data import DataKind, Examples, Preprocessing, series_examples
from service.forecasting.ensemble import SeriesForecaster
from service.forecasting.evaluation import Calibration, calibrate
from service.forecasting.inference import Forecaster, window_reference
from service.forecasting.metrics import Evaluation, mse
from service.forecasting.network import Network
from service.forecasting.scaling import Scaler
from service.forecasting.spec import TrainSpec
from service.forecasting.trained import Candidate, Trained, shrunk
from service.forecasting.training import (
    UNWATCHED,
    FitConfig,
    FitResult,
    TrainingCancelled,
    TrainingContext,
    TrainingDiverged,
    fit,
)
from service.forecasting.windowing import as_2d

# Measured on the lecture's windowed sine task (bench/train_speed.py): full-batch Adam at a high
# learning rate, halved on plateaus, reaches test MSE below 1e-05 in a few seconds for every
# recurrent preset. Explicit spec values always replace these.
DEFAULT_EPOCHS = 2000
DEFAULT_LEARNING_RATE = 0.03
DEFAULT_MAX_BATCH = 1024
DEFAULT_PATIENCE = 300
# Converged: the training MSE is a millionth of the targets' variance (see fit_config).
DEFAULT_TOLERANCE = 1e-6
DEFAULT_REDUCE_LR_PATIENCE = 100
# Series only, measured on noisy synthetic series (bench/accuracy.py): windows relative to their
# last value (TrainSpec.series_normalization) follow trends that a network trained on levels
# flattens (trend + season holdout MSE 0.27-0.54 against 0.69-2.4), and holding out the last 15%
# of windows for early stopping keeps a network from fitting the noise; on the lecture's
# noise-free sine both still reach 1e-07.
DEFAULT_VALIDATION_FRACTION = 0.15
MAX_VARIANCE_RATIO = 10.0  # see _variance_ratio
MIN_WINDOWS_TO_VALIDATE = 20


def resolve_series_defaults(spec: TrainSpec, windows: int) -> TrainSpec:
    """The spec with the series defaults written in: what the card records and a refit reuses."""
    update: dict[str, object] = {"window_normalization": spec.series_normalization}
    if spec.validation_fraction is None:
        default = spec.epochs is None and windows >= MIN_WINDOWS_TO_VALIDATE
        update["validation_fraction"] = DEFAULT_VALIDATION_FRACTION if default else 0.0
    return spec.model_copy(update=update)


def fit_config(
    spec: TrainSpec,
    n_examples: int,
    *,
    variance_ratio: float = 1.0,
    pad_rows: tuple[int, int] = (0, 0),
) -> FitConfig:
    """The spec's training numbers, with measured defaults for the ones it leaves out.

    The default tolerance is a millionth of the targets' own variance, whatever the scaled units
    are: `variance_ratio` is that variance over the scaled unit's (1 for levels with standard
    scaling; larger when the network learns changes relative to the last value)."""
    defaults = spec.epochs is None
    default_tolerance = DEFAULT_TOLERANCE * variance_ratio if defaults else None
    return FitConfig(
        epochs=spec.epochs or DEFAULT_EPOCHS,
        batch_size=spec.batch_size or min(n_examples, DEFAULT_MAX_BATCH),
        learning_rate=spec.learning_rate or DEFAULT_LEARNING_RATE,
        optimizer=spec.optimizer,
        patience=spec.early_stopping_patience or (DEFAULT_PATIENCE if defaults else None),
        reduce_lr_patience=DEFAULT_REDUCE_LR_PATIENCE if spec.learning_rate is None else None,
        tolerance=spec.tolerance or default_tolerance,
        max_seconds=spec.max_seconds,
        seed=spec.seed,
        pad_rows=pad_rows,
    )


def train_series(
    spec: TrainSpec,
    series: np.ndarray,
    *,
    test_series: np.ndarray | None = None,
    context: TrainingContext = UNWATCHED,
    pad_rows: tuple[int, int] = (0, 0),
) -> Trained:
    """Window the series (after its transforms, fitted to it), train, and measure one-step
    forecasts in original units, each beside the baselines on the same points. `pad_rows`:
    see FitConfig."""
    if spec.chain:
        spec = spec.model_copy(update={"transforms": transforms.fit(spec.chain, as_2d(series))})
    data = series_examples(
        transforms.levels(spec.chain, as_2d(series))[-1][transforms.lag(spec.chain) :],
        window=spec.window,
        target_columns=spec.target_columns,
        stride=spec.window.stride,
    )
    spec = resolve_series_defaults(spec, len(data))
    fitted, validation = data.split(spec.validation_fraction or 0.0)
    prep = _preprocessing(spec, fitted, kind="series")
    network, result = _fit(spec, prep, fitted, validation, context, pad_rows)
    trained = Trained(network, prep, {}, result, len(fitted), spec=spec)
    if validation is not None:
        first = transforms.lag(spec.chain) + spec.window.length
        trained.held_out = first + len(fitted) * spec.window.stride
    measuring = time.perf_counter()
    trained.metrics, trained.calibration = measure(
        trained.forecaster(), spec, series, test_series, held_out=trained.held_out
    )
    trained.timings = {
        "fitting": result.seconds,
        "measuring": time.perf_counter() - measuring,
    }
    return trained


def measure(
    forecaster: SeriesForecaster,
    spec: TrainSpec,
    series: np.ndarray | None,
    test_series: np.ndarray | None,
    *,
    held_out: int | None,
) -> tuple[dict[str, float | None], Calibration | None]:
    """One-step scores on the training series (split at row `held_out` into the part trained
    on and the part held out; none for an uploaded model, whose training series is unknown) and
    on the test series, and the calibration for intervals."""
    parts: dict[str, Evaluation | None] = {"train": None, "validation": None}
    if series is not None:
        seen = forecaster.evaluate(series, stride=spec.window.stride)
        split = len(seen) if held_out is None else int(np.searchsorted(seen.t, held_out))
        validation = seen[split:] if held_out is not None else None
        parts = {"train": seen[:split], "validation": validation}
    parts["test"] = forecaster.evaluate(test_series) if test_series is not None else None
    metrics = {k: v.scores(spec.season) if v is not None else {} for k, v in parts.items()}
    calibration = None
    calibration_series = test_series if test_series is not None else series
    if spec.interval_horizon and forecaster.prep.recursive and calibration_series is not None:
        source = "test_series" if test_series is not None else "training_series (in-sample)"
        calibration = calibrate(
            forecaster,
            calibration_series,
            source=source,
            horizon=spec.interval_horizon,
            count=spec.calibration_origins,
        )
    return _flat(metrics), calibration


def train_auto(
    spec: TrainSpec,
    series: np.ndarray,
    *,
    test_series: np.ndarray | None = None,
    context: TrainingContext = UNWATCHED,
) -> Trained:
    """Choose the architecture and/or transforms by rolling-origin validation and keep the best
    few, as validated, as one ensemble measured as it will be served; with `refit_full`, also
    retrain them on the whole series (sharing what is left of `max_seconds`) and keep those
    too."""
    started = time.monotonic()
    validated, board, statistical = choose(
        spec,
        series,
        train=lambda candidate, data, watched, pad: train_series(
            candidate, data, context=watched, pad_rows=pad
        ),
        context=context,
        test_series=test_series,
    )
    # To retrain: none unless refit_full (the validated networks are then the whole ensemble).
    kept = [(n.spec, n.network_share) for n in validated if n.spec is not None and spec.refit_full]
    members: list[Trained] = []
    for rank, (candidate, share) in enumerate(kept):
        if context.cancelled():
            raise TrainingCancelled("training was cancelled while retraining the best candidates")
        # Intervals are calibrated once, on the ensemble; the time left is shared afresh by the
        # networks still to train, and the best always trains (with a tenth if none is left).
        update: dict[str, object] = {"interval_horizon": 0}
        if spec.max_seconds is not None:
            left = spec.max_seconds - (time.monotonic() - started)
            if members and left <= 0:
                _note(board, candidate, "not retrained: time budget spent")
                continue
            share = left / (len(kept) - rank) if left > 0 else 0.1 * spec.max_seconds
            update["max_seconds"] = share
        try:
            member = train_series(
                candidate.model_copy(update=update),
                series,
                context=context.tagged(
                    network=rank + 1, networks=len(kept), stage="retraining the best"
                ),
                pad_rows=padding(candidate, len(series)),
            )
        except TrainingDiverged:
            _note(board, candidate, "diverged when retrained on the whole series")
            continue
        if member.fit.stop_reason == "cancelled":
            raise TrainingCancelled("training was cancelled while retraining the best candidates")
        # Shrunk towards its prior as far as its validation network was.
        members.append(shrunk(member, share))
    if kept and not members:
        raise TrainingDiverged("every kept candidate diverged when retrained on the whole series")
    if context.cancelled():  # before measuring all of them
        raise TrainingCancelled("training was cancelled after retraining the best candidates")
    members += validated
    trained = members[0]
    assert trained.spec is not None  # train_series records it
    # The spec as trained (its share of `max_seconds`, so that a refit trains it the same way),
    # with the intervals the request asked for: calibrated on the whole ensemble.
    trained.spec = trained.spec.model_copy(update={"interval_horizon": spec.interval_horizon})
    trained.ensemble, trained.leaderboard = members[1:], board
    trained.statistical = statistical
    held_out = [m.held_out for m in members if m.held_out is not None]
    measuring = time.perf_counter()
    trained.metrics, trained.calibration = measure(
        trained.forecaster(),
        trained.spec,
        series,
        test_series,
        # The first row every network held out (more transforms, fewer windows to split).
        held_out=max(held_out) if held_out else None,
    )
    retrained = members[: len(members) - len(validated)]
    trained.timings = {"comparing": sum(entry.seconds for entry in board)}
    if spec.refit_full:
        trained.timings["retraining"] = sum(sum(m.timings.values()) for m in retrained)
    trained.timings["measuring"] = time.perf_counter() - measuring
    trained.fitting_seconds = sum(entry.fitting for entry in board) + sum(
        m.fit.seconds for m in retrained
    )
    return trained


def _note(board: list[Candidate], spec: TrainSpec, note: str) -> None:
    """Say on the leaderboard why a kept candidate has only its validation network."""
    for entry in board:
        if entry.kept and entry.describes(spec):
            entry.note = note


def train_arrays(
    spec: TrainSpec,
    data: Examples,
    *,
    test: Examples | None = None,
    context: TrainingContext = UNWATCHED,
) -> Trained:
    """Train on ready-made windows and targets, as `model.fit(X, y)` takes them."""
    fitted, validation = data.split(spec.validation_fraction or 0.0)
    prep = _preprocessing(spec, fitted, kind="inputs")
    network, result = _fit(spec, prep, fitted, validation, context)
    forecaster = Forecaster(network_forward(network), prep)
    metrics = {
        name: {"mse": mse(part.targets, forecaster.predict(part.inputs))} if part else {}
        for name, part in (("train", fitted), ("validation", validation), ("test", test))
    }
    return Trained(network, prep, _flat(metrics), result, len(fitted))


def _fit(
    spec: TrainSpec,
    prep: Preprocessing,
    fitted: Examples,
    validation: Examples | None,
    context: TrainingContext,
    pad_rows: tuple[int, int] = (0, 0),
) -> tuple[Network, FitResult]:
    x, y = _scaled(prep, fitted)
    ratio = _variance_ratio(prep, fitted)
    network, result = fit(
        spec.resolved_layers(),
        x,
        y,
        config=fit_config(spec, len(fitted), variance_ratio=ratio, pad_rows=pad_rows),
        validation=_scaled(prep, validation) if validation is not None else None,
        context=context,
    )
    if result.stop_reason == "diverged":
        raise TrainingDiverged(
            f"training diverged at epoch {result.epochs_run}: the loss became "
            f"{result.history['loss'][-1]}; try a lower learning_rate or scaling"
        )
    return network, result


def _variance_ratio(prep: Preprocessing, data: Examples) -> float:
    """The targets' variance (the level the network's output is mapped back to) over the
    variance of one scaled unit of its output."""
    unit = float(np.mean(np.square(prep.y_scaler.scale)))
    variance = float(np.mean(np.var(data.targets, axis=0)))
    if unit <= 0 or variance <= 0:
        return 1.0
    # Capped: on a long trend the levels' variance dwarfs the changes' (30,000 points of a line
    # would make any loss "converged"); 10 keeps the tolerance at most 1e-5 scaled units.
    return min(variance / unit, MAX_VARIANCE_RATIO)


def _flat(metrics: Mapping[str, Mapping[str, float | None]]) -> dict[str, float | None]:
    """{"test": {"mse": ..}} to {"test_mse": ..}; the test baselines keep their short names
    (`naive_mse`, `seasonal_naive_mse`, `drift_mse`, `skill`)."""
    flat: dict[str, float | None] = {}
    for part, scores in metrics.items():
        for key, value in scores.items():
            name = key if part == "test" and key != "mse" else f"{part}_{key}"
            flat[name] = value
    return flat


def _normalised(prep: Preprocessing, data: Examples) -> tuple[np.ndarray, np.ndarray]:
    reference = window_reference(data.inputs, prep.window_normalization)
    if reference is None:
        return data.inputs, data.targets
    columns = prep.target_columns or list(range(prep.features))
    return data.inputs - reference[:, None, :], data.targets - reference[:, columns]


def _preprocessing(spec: TrainSpec, data: Examples, *, kind: DataKind) -> Preprocessing:
    _, timesteps, features = data.inputs.shape
    base = Preprocessing(
        data_kind=kind,
        timesteps=timesteps,
        features=features,
        outputs=data.targets.shape[1],
        window=spec.window if kind == "series" else None,
        target_columns=spec.target_columns if kind == "series" else None,
        x_scaler=Scaler.fit("none", data.inputs),
        y_scaler=Scaler.fit("none", data.targets),
        transforms=spec.chain,
        window_normalization=spec.window_normalization or "none",
        season_length=spec.season,
    )
    inputs, targets = _normalised(base, data)
    x_scaler = Scaler.fit(spec.scaling, inputs)
    if kind == "series" and base.window_normalization == "none":
        # The targets are columns of the inputs: the same scaling keeps them comparable.
        y_scaler = x_scaler.select(spec.target_columns or list(range(features)))
    else:
        y_scaler = Scaler.fit(spec.scaling, targets)
    return base.model_copy(update={"x_scaler": x_scaler, "y_scaler": y_scaler})


def _scaled(prep: Preprocessing, data: Examples) -> tuple[np.ndarray, np.ndarray]:
    inputs, targets = _normalised(prep, data)
    x = prep.x_scaler.transform(inputs).astype(np.float32)
    return x, prep.y_scaler.transform(targets).astype(np.float32)
