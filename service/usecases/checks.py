"""Request rules beyond shapes: the limits in settings, the rows the transforms use up, and
what a stored model accepts. Each raises InvalidInput (422) naming the field, before any work."""

from __future__ import annotations

import numpy as np

from service.config import Settings
from service.errors import InvalidInput
from service.forecasting.auto import candidate_specs, plan, validates
from service.forecasting.pipeline import DEFAULT_EPOCHS
from service.forecasting.scaling import Scaler
from service.forecasting.spec import TrainSpec, WindowSpec
from service.forecasting.transforms import Transform, check_chain, lag
from service.forecasting.windowing import as_2d, window_count
from service.schemas.backtest import BacktestRequest
from service.schemas.dates import seasoned
from service.schemas.forecast import ForecastRequest
from service.schemas.train import TrainRequest
from service.schemas.upload import UploadSpec
from service.store.card import ModelCard
from service.store.local import ModelStore


def check_train_request(request: TrainRequest, settings: Settings) -> None:
    """The data and the spec against the limits, and enough rows for a window."""
    if request.series is not None:
        windows = _check_train_series(request, settings)
    else:
        assert request.inputs is not None
        windows = len(request.inputs)
        _check_windows(windows, "inputs", settings)
        check_rows(request.inputs.reshape(-1, request.inputs.shape[-1]), "inputs", settings)
    check_spec_limits(request.spec, windows=windows, settings=settings)


def check_versions(name: str, store: ModelStore, settings: Settings) -> None:
    """A model name keeps at most `max_versions` versions: room for a new one."""
    limit = settings.max_versions
    if len(store.versions(name)) >= limit:
        raise InvalidInput(
            f"model {name!r} has {limit} versions, the limit "
            "(FORECAST_MAX_VERSIONS); delete old versions first",
            field="model_name",
        )


def check_upload_spec(spec: UploadSpec, settings: Settings) -> None:
    """An upload's declared preprocessing consistent (a transform chain in order, fitted
    smoothing, target columns once each, usable scalers), and its test series within the
    limits, long enough for a window and positive for a log transform."""
    try:
        check_chain(spec.transforms)
    except ValueError as error:
        raise InvalidInput(str(error), field="spec.transforms") from None
    for index, step in enumerate(spec.transforms):
        if step.type == "smoothing" and step.fitted is None:
            raise InvalidInput(
                f"transforms[{index}] (smoothing) needs its fitted parameters",
                field=f"spec.transforms.{index}",
            )
    columns = spec.target_columns or []
    if columns != sorted(set(columns)) or any(c < 0 for c in columns):
        raise InvalidInput(
            f"target_columns is {columns}: give each column once, in increasing order",
            field="spec.target_columns",
        )
    for name, scaler in (("scaling", spec.x_scaler), ("target_scaling", spec.target_scaling)):
        if scaler is not None:
            _check_scaler(scaler, f"spec.{name}")
    if spec.test_series is not None:
        test = as_2d(spec.test_series)
        check_rows(test, "spec.test_series", settings)
        needed = lag(spec.transforms) + spec.window.length + 1
        if len(test) < needed:
            raise InvalidInput(
                f"test_series has {len(test)} rows; window.length {spec.window.length} needs "
                f"at least {needed} (one window and its next value)",
                field="spec.test_series",
            )
        check_transformable(test, spec.transforms, "spec.test_series")


def _check_scaler(scaler: Scaler, field: str) -> None:
    if len(scaler.offset) != len(scaler.scale) or not scaler.offset:
        raise InvalidInput(
            f"{field}: offset and scale need one number per column, as many of each", field=field
        )
    values = np.asarray([*scaler.offset, *scaler.scale], dtype=np.float64)
    if not np.isfinite(values).all() or any(s == 0 for s in scaler.scale):
        raise InvalidInput(
            f"{field}: offset and scale must be finite, and scale not 0", field=field
        )


def check_timesteps(timesteps: int | None, window: WindowSpec) -> None:
    """A model built for windows of `timesteps` (None: any) against the declared window."""
    if timesteps is not None and timesteps != window.timesteps:
        raise InvalidInput(
            f"the model takes windows of {timesteps} timesteps; spec.window (length "
            f"{window.length}, sampling_rate {window.sampling_rate}) cuts windows of "
            f"{window.timesteps}",
            field="spec.window",
        )


def check_forecast_limits(request: ForecastRequest, settings: Settings) -> None:
    if request.horizon > settings.max_horizon:
        raise InvalidInput(
            f"horizon is {request.horizon}, the limit is {settings.max_horizon} "
            "(FORECAST_MAX_HORIZON)",
            field="horizon",
        )
    if request.inputs is not None:
        _check_windows(len(request.inputs), "inputs", settings)
    if request.series is not None:
        check_rows(as_2d(request.series), "series", settings)


def check_backtest_limits(request: BacktestRequest, settings: Settings) -> None:
    check_rows(as_2d(request.series), "series", settings)
    if request.origins * request.horizon > settings.max_horizon:
        raise InvalidInput(
            f"origins x horizon is {request.origins * request.horizon}, the limit is "
            f"{settings.max_horizon} (FORECAST_MAX_HORIZON)",
            field="origins",
        )
    if request.refit and request.origins > settings.max_refit_origins:
        raise InvalidInput(
            f"origins is {request.origins}; a refit backtest trains once per origin, the limit "
            f"is {settings.max_refit_origins} (FORECAST_MAX_REFIT_ORIGINS)",
            field="origins",
        )


def check_refit_trainings(request: BacktestRequest, card: ModelCard, settings: Settings) -> None:
    networks = 1 + len(card.ensemble)
    limit = settings.max_refit_trainings
    if request.origins * networks > limit:
        raise InvalidInput(
            f"model {_label(card)} has {networks} networks to retrain per "
            f"origin: {request.origins} origins would be {request.origins * networks} "
            f"trainings, the limit is {limit} (FORECAST_MAX_REFIT_TRAININGS); give at most "
            f"{limit // networks} origins",
            field="origins",
        )


def check_rows(array: np.ndarray, field: str, settings: Settings) -> None:
    """Rows and features of a 2-D array against the limits."""
    if len(array) > settings.max_series_length:
        raise InvalidInput(
            f"{field} has {len(array)} rows, the limit is {settings.max_series_length} "
            "(FORECAST_MAX_SERIES_LENGTH)",
            field=field,
        )
    if array.shape[1] > settings.max_features:
        raise InvalidInput(
            f"{field} has {array.shape[1]} features, the limit is {settings.max_features} "
            "(FORECAST_MAX_FEATURES)",
            field=field,
        )


def _check_windows(count: int, field: str, settings: Settings) -> None:
    if count > settings.max_windows:
        raise InvalidInput(
            f"{field} gives {count} windows, the limit is {settings.max_windows} "
            "(FORECAST_MAX_WINDOWS)",
            field=field,
        )


def check_spec_limits(spec: TrainSpec, *, windows: int, settings: Settings) -> None:
    """The network's size and the training's work against the limits in settings."""
    layers = spec.resolved_layers()
    if len(layers) > settings.max_layers:
        raise InvalidInput(
            f"spec.layers has {len(layers)} layers, the limit is {settings.max_layers} "
            "(FORECAST_MAX_LAYERS)",
            field="spec.layers",
        )
    for i, layer in enumerate(layers):
        if layer.units > settings.max_units:
            field = "spec.units" if spec.layers is None else f"spec.layers[{i}].units"
            raise InvalidInput(
                f"{field} is {layer.units}, the limit is {settings.max_units} (FORECAST_MAX_UNITS)",
                field=field,
            )
    epochs = spec.epochs or DEFAULT_EPOCHS
    if epochs > settings.max_epochs:
        raise InvalidInput(
            f"spec.epochs is {epochs}, the limit is {settings.max_epochs} (FORECAST_MAX_EPOCHS)",
            field="spec.epochs",
        )
    units = sum(layer.units for layer in layers)
    work = windows * epochs * units
    if work > settings.max_training_work:
        raise InvalidInput(
            f"this training is {windows} windows x {epochs} epochs x {units} units = {work:.3g}, "
            f"the limit is {settings.max_training_work:.3g} (FORECAST_MAX_TRAINING_WORK); "
            "use fewer epochs, a larger window stride or smaller layers",
            field="spec",
        )


def _check_train_series(request: TrainRequest, settings: Settings) -> int:
    """Limits and rows of a series request; returns its number of windows."""
    assert request.series is not None
    spec, series = seasoned(request.spec, request)[0], as_2d(request.series)
    window, used = spec.window, lag(spec.chain)
    check_rows(series, "series", settings)
    check_transformable(series, spec.chain, "series")
    count = window_count(len(series) - used, length=window.length, stride=window.stride)
    if count < 1:
        after = f", after the {used} rows the transforms use up" if used else ""
        raise InvalidInput(
            f"series has {len(series)} rows; spec.window.length {window.length} needs at "
            f"least {used + window.length + 1} (one window and its next value{after})",
            field="series",
        )
    _check_windows(count, "series", settings)
    if request.test_series is not None:
        _check_test_series(as_2d(request.test_series), spec, series, settings)
    return count


def _check_test_series(
    test: np.ndarray, spec: TrainSpec, series: np.ndarray, settings: Settings
) -> None:
    check_rows(test, "test_series", settings)
    # With `auto`, a kept network may difference more than the spec says: the test series must
    # give it a window too, or the ensemble is scored on nothing.
    used, length = _largest_lag(spec, series), spec.window.length
    if len(test) < used + length + 1:
        after = f", after the {used} rows the transforms use up" if used else ""
        candidates = " (of the largest `auto` candidate)" if spec.auto else ""
        raise InvalidInput(
            f"test_series has {len(test)} rows; spec.window.length {length} "
            f"needs at least {used + length + 1}{after}{candidates}",
            field="test_series",
        )
    check_transformable(test, spec.chain, "test_series")


def _largest_lag(spec: TrainSpec, series: np.ndarray) -> int:
    """Rows the transforms of the spec, or of any `auto` candidate the series is long enough to
    validate, use up before a first window."""
    if not spec.auto:
        return lag(spec.chain)
    tail = plan(spec, len(series)).tail
    lags = [
        lag(c.chain, rows=len(series))  # a smoothing prior's warm-up grows with the series
        for c in candidate_specs(spec, series)
        if validates(c, rows=len(series), tail=tail)
    ]
    return max(lags, default=0)


def check_transformable(series: np.ndarray, chain: list[Transform], field: str) -> None:
    """The log transform needs positive data."""
    if any(step.type == "log" for step in chain) and (series <= 0).any():
        index = np.argwhere(series <= 0)[0]
        value = series[tuple(index)]
        raise InvalidInput(
            f"{field}[{index[0]}] is {value:g}: the log transform needs positive data",
            field=field,
        )


def check_forecast_request(request: ForecastRequest, card: ModelCard, settings: Settings) -> None:
    if request.levels and card.calibration is None:
        raise InvalidInput(
            f"model {_label(card)} has no calibrated intervals (trained with interval_horizon 0, "
            "with too little held-out data, or before intervals existed)",
            field="levels",
        )
    if request.inputs is not None:
        _check_inputs(request, card)
    elif request.series is not None:
        check_series(request.series, card, settings, horizon=request.horizon, stride=request.stride)


def _transforms(card: ModelCard) -> list[Transform]:
    """Every transform the version's networks (its own and its ensemble's) apply."""
    return [step for prep in card.preprocessings for step in prep.transforms]


def _names(card: ModelCard) -> str:
    return ", ".join(dict.fromkeys(step.type for step in _transforms(card)))


def _label(card: ModelCard) -> str:
    return f"{card.model_name}@{card.version}"


def _check_inputs(request: ForecastRequest, card: ModelCard) -> None:
    assert request.inputs is not None
    if _transforms(card):
        raise InvalidInput(
            f"model {_label(card)} was trained on a transformed series "
            f"({_names(card)}); send the `series` itself",
            field="inputs",
        )
    timesteps, features = card.input_shape
    _, got_timesteps, got_features = request.inputs.shape
    if got_timesteps != timesteps:
        raise InvalidInput(
            f"inputs has windows of {got_timesteps} timesteps, model {_label(card)} expects "
            f"{timesteps}",
            field="inputs",
        )
    if got_features != features:
        raise InvalidInput(
            f"inputs has {got_features} features per timestep, model {_label(card)} expects "
            f"{features}",
            field="inputs",
        )
    outputs = card.preprocessing.outputs
    if request.targets is not None and as_2d(request.targets).shape[1] != outputs:
        raise InvalidInput(
            f"targets has {as_2d(request.targets).shape[1]} columns, model {_label(card)} "
            f"predicts {outputs}",
            field="targets",
        )


def check_series(
    data: np.ndarray,
    card: ModelCard,
    settings: Settings,
    *,
    horizon: int,
    stride: int = 1,
    backtest: bool = False,
) -> None:
    """A series fits the model: its features, enough rows for one window (and, for a backtest,
    the horizon after it), positive data for a log transform, a model that can forecast ahead."""
    prep, series = card.preprocessing, as_2d(data)
    if prep.window is None:
        raise InvalidInput(
            f"model {_label(card)} was trained on ready-made windows, not a series; send "
            f"`inputs` of shape [batch, {card.input_shape[0]}, {card.input_shape[1]}]",
            field="series",
        )
    if series.shape[1] != prep.features:
        raise InvalidInput(
            f"series has {series.shape[1]} features, model {_label(card)} expects {prep.features}",
            field="series",
        )
    used = max(lag(p.transforms) for p in card.preprocessings)
    needed = used + prep.window.length + (horizon if backtest else 0)
    if len(series) < needed:
        extra = f" after the {used} rows its transforms use up" if used else ""
        after = f" and the {horizon} steps after it" if backtest else ""
        raise InvalidInput(
            f"series has {len(series)} rows, model {_label(card)} needs at least one window of "
            f"{prep.window.length}{extra}{after}",
            field="series",
        )
    try:
        check_transformable(series, _transforms(card), "series")
    except InvalidInput as error:
        raise InvalidInput(f"{error} (model {_label(card)})", field="series") from None
    limit = settings.max_windows
    if window_count(len(series), length=prep.window.length, stride=stride) > limit:
        raise InvalidInput(f"series gives more than {limit} windows; raise stride", field="series")
    if horizon and not prep.recursive:
        raise InvalidInput(
            f"model {_label(card)} predicts columns {prep.target_columns} of {prep.features}; a "
            f"forecast past the end needs a model that predicts every column",
            field="horizon",
        )
