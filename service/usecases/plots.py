"""Server-side plots as PNG bytes: a version's training curve, and a forecast over its history.

Pure functions, no FastAPI. Each plot is its own `Figure` drawn on its own Agg canvas: no pyplot,
so no global figure state, and concurrent requests in the thread pool cannot disturb each other.
Sizes are in pixels, rendered at `DPI`. matplotlib is imported on first use.
"""

from __future__ import annotations

import functools
import io
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from service.config import Settings
from service.errors import InvalidInput, NotTrained
from service.forecasting.calendar import Calendar
from service.forecasting.windowing import as_2d
from service.schemas.forecast import ForecastRequest
from service.serving.cache import ModelCache
from service.store.card import ModelCard
from service.store.local import ModelStore
from service.usecases.forecasting import forecast_series, intervals, load_checked

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
X = Callable[[np.ndarray], np.ndarray]  # row positions to x axis values
_COLUMN_LEGEND_LIMIT = 10  # columns named in a legend; past this only the kinds of line are


@dataclass(frozen=True)
class Band:
    """A prediction interval around the horizon forecast: (horizon, outputs) bounds."""

    level: float
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class HeldOut:
    """A held-out series and the model's one-step predictions on it (window stride 1)."""

    series: np.ndarray
    predictions: np.ndarray


def plot_training(store: ModelStore, name: str, version: int, *, width: int, height: int) -> bytes:
    """A trained version's loss per epoch; an uploaded one has none."""
    card = store.card(name, version)
    if card.upload is not None:
        raise NotTrained(f"model {name}@{version} was uploaded: it has no training loss to plot")
    return training_plot(card, width=width, height=height)


def plot_forecast(
    request: ForecastRequest,
    *,
    store: ModelStore,
    cache: ModelCache,
    settings: Settings,
    width: int,
    height: int,
) -> bytes:
    """What `POST /forecast` computes for a `series`, drawn over it."""
    if request.series is None:
        raise InvalidInput(
            "a plot needs `series`; ready-made `inputs` have no time axis", field="series"
        )
    version, forecaster, card = load_checked(request, store=store, cache=cache, settings=settings)
    outcome = forecast_series(forecaster, request)
    bands = None
    if outcome.ahead is not None and request.levels:
        bands = [
            Band(b.level, as_2d(np.asarray(b.lower)), as_2d(np.asarray(b.upper)))
            for b in intervals(request, card, outcome.ahead) or []
        ]
    title = f"{request.model_name}@{version}"
    if outcome.scores:
        scores = outcome.scores
        title += f": one-step MSE {scores['mse']:.3g} (naive {scores['naive_mse']:.3g})"
    if request.horizon:
        title += f", {request.horizon}-step forecast"
    assert forecaster.prep.window is not None  # load_checked: a series model
    return forecast_plot(
        request.series,
        outcome.predictions,
        outcome.ahead,
        # The first window's target: after the window and the rows the transforms use up.
        window_length=forecaster.min_history,
        stride=request.stride,
        target_columns=forecaster.prep.target_columns,
        width=width,
        height=height,
        title=title,
        bands=bands,
        calendar=request.calendar,
    )


def training_plot(
    card: ModelCard, *, test: HeldOut | None = None, width: int, height: int
) -> bytes:
    """The loss per epoch (log scale, with val_loss when there is one); given held-out data, a
    second panel with the held-out series and the predictions at the index of the value each
    predicts, as the lecture plots them."""
    figure = _figure(width, height)
    font = _font_size(width, height)
    wide = width >= height
    panels = 2 if test is not None else 1
    axes = figure.subplots(1 if wide else panels, panels if wide else 1, squeeze=False).ravel()
    _loss_panel(axes[0], card, font, title_width=width / (2 if wide and test else 1))
    if test is not None:
        assert card.preprocessing.window is not None, "held-out series go with series models"
        _series_panel(
            axes[1],
            test.series,
            test.predictions,
            None,
            window_length=card.preprocessing.window.length,
            stride=1,
            target_columns=card.preprocessing.target_columns,
            font=font,
        )
        axes[1].set_title(
            _wrap("held-out series: actual vs predicted", width / (2 if wide else 1), font),
            fontsize=font,
        )
        _legend_below(figure, axes[1], width, font)
    figure.suptitle(f"{card.model_name}@{card.version}", fontsize=font + 1)
    return _png(figure)


def forecast_plot(
    series: np.ndarray,
    predictions: np.ndarray,
    forecast: np.ndarray | None,
    *,
    window_length: int,
    width: int,
    height: int,
    title: str,
    stride: int = 1,
    target_columns: Sequence[int] | None = None,
    bands: Sequence[Band] | None = None,
    calendar: Calendar | None = None,
) -> bytes:
    """The history, the one-step predictions at the indices they predict (window k predicts
    `k * stride + window_length`; for a model with transforms pass the window length plus the
    rows the transforms use up), and the forecast continuing past the end of the history.

    `predictions` is (windows, outputs); `target_columns` are the series columns the outputs
    predict (default: all). `forecast` is (horizon, features), or None; `bands` are drawn
    around it, the widest palest. With a `calendar`, the x axis is its dates.
    """
    figure = _figure(width, height)
    font = _font_size(width, height)
    axes = figure.subplots()
    _series_panel(
        axes,
        series,
        predictions,
        forecast,
        window_length=window_length,
        stride=stride,
        target_columns=target_columns,
        font=font,
        x=_x_axis(axes, calendar, font),
    )
    if forecast is not None and bands:
        several = as_2d(np.asarray(forecast)).shape[1] > 1
        _bands(axes, bands, start=len(series), several=several, x=_x_axis(axes, calendar, font))
    axes.set_title(_wrap(title, width, font + 1), fontsize=font + 1)
    _legend_below(figure, axes, width, font)
    return _png(figure)


def _loss_panel(axes: Axes, card: ModelCard, font: float, *, title_width: float) -> None:
    history = card.history
    epochs = np.arange(1, len(history.loss) + 1)
    axes.plot(epochs, history.loss, color="C0", label="loss")
    if history.val_loss:
        axes.plot(
            np.arange(1, len(history.val_loss) + 1),
            history.val_loss,
            color="C1",
            linestyle="--",
            label="val_loss",
        )
    if history.loss and min(history.loss + (history.val_loss or [])) > 0:
        axes.set_yscale("log")
    layers = ", ".join(
        f"{layer.type.value}({layer.units})" for layer in card.spec.resolved_layers()
    )
    stopped = "" if card.stop_reason == "epochs" else f", {card.stop_reason.replace('_', ' ')}"
    title = f"training loss: {layers}, {card.epochs_run} epochs{stopped}"
    axes.set_title(_wrap(title, title_width, font), fontsize=font)
    axes.set_xlabel("epoch", fontsize=font)
    axes.set_ylabel(f"{card.spec.loss} (scaled units)", fontsize=font)
    axes.tick_params(labelsize=font - 1)
    axes.grid(True, which="major", alpha=0.3)
    if history.loss:
        axes.legend(loc="upper right", fontsize=font - 1)
    else:
        axes.text(
            0.5, 0.5, "no epochs recorded", ha="center", fontsize=font, transform=axes.transAxes
        )


def _series_panel(
    axes: Axes,
    series: np.ndarray,
    predictions: np.ndarray,
    forecast: np.ndarray | None,
    *,
    window_length: int,
    stride: int,
    target_columns: Sequence[int] | None,
    font: float,
    x: X = np.asarray,
) -> None:
    history = as_2d(np.asarray(series, dtype=np.float64))
    predicted = as_2d(np.asarray(predictions, dtype=np.float64))
    columns = list(target_columns) if target_columns is not None else list(range(history.shape[1]))
    end = len(history)
    at = window_length + stride * np.arange(len(predicted))
    several = len(columns) > 1
    named = several and len(columns) <= _COLUMN_LEGEND_LIMIT
    for k, column in enumerate(columns):
        # One column: a colour per kind of line. Several: a colour per column, a style per kind.
        colours = (f"C{k % 10}",) * 3 if several else ("C0", "C1", "C2")
        suffix = f" [{column}]" if named else ""
        axes.plot(
            x(np.arange(end)),
            history[:, column],
            color=colours[0],
            linewidth=1.2,
            label=f"actual{suffix}" if named or not several else None,
        )
        if len(predicted):
            axes.plot(
                x(at),
                predicted[:, k],
                color=colours[1],
                linestyle="--",
                linewidth=1.2,
                label=None if several else "one-step prediction",
            )
        if forecast is not None and len(forecast):
            ahead = as_2d(np.asarray(forecast, dtype=np.float64))[:, column]
            # Drawn from the last actual value, so the forecast visibly continues the history.
            axes.plot(
                x(np.arange(end - 1, end + len(ahead))),
                np.concatenate([history[-1:, column], ahead]),
                color=colours[2],
                linestyle=":",
                linewidth=1.8,
                label=None if several else f"forecast ({len(ahead)} steps)",
            )
    if several:  # the kinds of line, in black, once each
        if not named:
            axes.plot([], [], color="black", label=f"actual ({len(columns)} columns)")
        if len(predicted):
            axes.plot([], [], color="black", linestyle="--", label="one-step prediction")
        if forecast is not None and len(forecast):
            axes.plot([], [], color="black", linestyle=":", label="forecast")
    if forecast is not None and len(forecast):
        last, following = x(np.array([end - 1, end]))
        axes.axvline(
            last + (following - last) / 2, color="grey", linewidth=0.8, label="end of history"
        )
    if x is np.asarray:
        axes.set_xlabel("time step", fontsize=font)
    axes.set_ylabel("value", fontsize=font)
    axes.tick_params(labelsize=font - 1)
    axes.grid(True, alpha=0.3)


def _x_axis(axes: Axes, calendar: Calendar | None, font: float) -> X:
    """Where row positions go on the x axis: themselves, or their dates (labelled concisely)."""
    if calendar is None:
        return np.asarray
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.set_xlabel(f"date (freq {calendar.freq})", fontsize=font)

    def dates(positions: np.ndarray) -> np.ndarray:
        index = calendar.dates(positions)
        return np.asarray(index.tz_localize(None) if index.tz else index, dtype="datetime64[ns]")

    return dates


def _bands(
    axes: Axes, bands: Sequence[Band], *, start: int, several: bool, x: X = np.asarray
) -> None:
    """Each level's interval as a shaded band over the forecast steps, per column."""
    for band in sorted(bands, key=lambda b: -b.level):
        steps = x(np.arange(start, start + len(band.lower)))
        for k in range(band.lower.shape[1]):
            colour = f"C{k % 10}" if several else "C2"
            axes.fill_between(
                steps,
                band.lower[:, k],
                band.upper[:, k],
                color=colour,
                alpha=0.12 + 0.18 * (1 - band.level / 100),
                linewidth=0,
                label=f"{band.level:g}% interval" if k == 0 else None,
            )


def _legend_below(figure: Figure, axes: Axes, width: int, font: float) -> None:
    """The axes' legend under the figure, out of the way of the data, in as many columns as fit."""
    handles, labels = axes.get_legend_handles_labels()
    columns = max(1, min(len(handles), int(width // (15 * font))))
    figure.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=columns,
        fontsize=font - 1,
        frameon=False,
    )


def _wrap(text: str, width: float, font: float) -> str:
    """Text broken into lines that fit `width` pixels (a character is about 0.6 em wide)."""
    characters = int(width / (0.6 * font * DPI / 72))
    return textwrap.fill(text, max(characters, 10), break_on_hyphens=False)


def _font_size(width: int, height: int) -> float:
    """10 pt at the default size, smaller for small images so the text still fits."""
    return float(np.clip(min(width / 50, height / 30), 5, 10))


@functools.cache
def _agg() -> None:
    import matplotlib

    matplotlib.use("Agg")


def _figure(width: int, height: int) -> Figure:
    _agg()
    from matplotlib.figure import Figure

    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    canvas.print_png(buffer)  # type: ignore[no-untyped-call]
    return buffer.getvalue()
