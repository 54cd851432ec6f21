"""Checks that need the stored model: shapes against its input shape, what it can forecast."""

from __future__ import annotations

import numpy as np

from service.config import get_settings
from service.errors import InvalidInput
from service.forecasting.transforms import Transform, lag
from service.forecasting.windowing import as_2d, window_count
from service.schemas import ForecastRequest, ModelCard, check_transformable


def check_forecast_request(request: ForecastRequest, card: ModelCard) -> None:
    if request.levels and card.calibration is None:
        raise InvalidInput(
            f"model {_label(card)} has no calibrated intervals (trained with interval_horizon 0, "
            "with too little held-out data, or before intervals existed)",
            field="levels",
        )
    if request.inputs is not None:
        _check_inputs(request, card)
    else:
        assert request.series is not None
        check_series(request.series, card, horizon=request.horizon, stride=request.stride)


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
    data: np.ndarray, card: ModelCard, *, horizon: int, stride: int = 1, backtest: bool = False
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
    except ValueError as error:
        raise InvalidInput(f"{error} (model {_label(card)})", field="series") from None
    limit = get_settings().max_windows
    if window_count(len(series), length=prep.window.length, stride=stride) > limit:
        raise InvalidInput(f"series gives more than {limit} windows; raise stride", field="series")
    if horizon and not prep.recursive:
        raise InvalidInput(
            f"model {_label(card)} predicts columns {prep.target_columns} of {prep.features}; a "
            f"forecast past the end needs a model that predicts every column",
            field="horizon",
        )
