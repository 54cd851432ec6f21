"""`architecture: "auto"` and `transforms: "auto"`: try a small candidate set, keep the best.

Each candidate is trained on the series minus a validation tail and scored by rolling-origin
validation on that tail: multi-step recursive forecasts from each of the tail's origins, exactly
what a user will ask of the model. The best few are then retrained on the whole series and kept
as an ensemble. This is the
lecture's own comparison of SimpleRNN, LSTM and GRU, automated, with transforms as a second axis.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from service.forecasting import transforms
from service.forecasting.ensemble import SeriesForecaster
from service.forecasting.evaluation import rolling_forecasts
from service.forecasting.spec import TrainSpec
from service.forecasting.transforms import Transform
from service.forecasting.windowing import as_2d

if TYPE_CHECKING:
    from service.forecasting.pipeline import Trained

PRESETS = ("lstm", "gru", "simple_rnn")
VALIDATION_ORIGINS = 12
# Each candidate (and each one kept, retrained) holds out the last windows of what it trains on
# and keeps its weights at their lowest loss, unless the spec sets a fraction: trained to
# convergence instead, candidates fit the noise of noisy series (trend + season, seed 0, windows
# relative to the last value: holdout MSE 0.383 trained to convergence, 0.272 with this; ETS
# 0.233).
VALIDATION_FRACTION = 0.15
# The best few candidates, each retrained on the whole series, forecast as their mean
# (forecasting/ensemble.py). Measured on bench/accuracy.py's six trend + season series (holdout
# MSE over ETS's): the single best, retrained, reached 1.03/0.87/1.58 (additive) and
# 0.63/0.57/0.78 (multiplicative), one seed of it 11x ETS in a variant run; the mean of the best
# 3: 1.16/1.78/1.50 and 0.97/0.55/0.79; of the best 5: 1.08/1.11/1.18 and 0.74/0.73/1.09.
ENSEMBLE_SIZE = 5


class Candidate(BaseModel):
    architecture: str
    transforms: list[str]
    window_normalization: str = "none"
    validation_mse: float | None  # None: skipped (no budget left, or the data does not allow it)
    seconds: float
    kept: bool = False  # retrained on the whole series as a member of the stored ensemble
    note: str | None = None


class TooShortForAuto(ValueError):
    """The series leaves no room for a validation tail."""


def candidate_specs(
    spec: TrainSpec, series: np.ndarray, *, also: np.ndarray | None = None
) -> list[TrainSpec]:
    """The presets (if the architecture is auto) times the transform chains (if those are).
    A log is offered only when the series, and `also` (the test series), are positive."""
    data = as_2d(series)
    positive = bool((data > 0).all()) and (also is None or bool((also > 0).all()))
    if spec.architecture == "auto":
        archs: list[dict[str, object]] = [{"architecture": a} for a in PRESETS]
    else:
        archs = [{}]
    options: list[dict[str, object]] = [
        {"transforms": spec.chain, "window_normalization": spec.series_normalization}
    ]
    if spec.transforms == "auto":
        norm = spec.window_normalization or "none"
        options = [
            {"transforms": [], "window_normalization": norm},
            {"transforms": [], "window_normalization": "last"},  # a level, not learnt
            {"transforms": [Transform(type="difference")], "window_normalization": "none"},
        ]
        if positive:  # a multiplicative season or growth made additive, then as above
            log = Transform(type="log")
            diff = Transform(type="difference")
            options.append({"transforms": [log, diff], "window_normalization": "none"})
            options.append({"transforms": [log], "window_normalization": "last"})
        if spec.season_length:
            seasonal = Transform(type="seasonal_difference", season_length=spec.season_length)
            options.append({"transforms": [seasonal], "window_normalization": "none"})
    unique = {repr(o): o for o in options}.values()  # "last" twice when the spec asked for it
    held_out = VALIDATION_FRACTION if spec.validation_fraction is None else spec.validation_fraction
    return [
        spec.model_copy(
            update={**arch, **option, "interval_horizon": 0, "validation_fraction": held_out}
        )
        for arch in archs
        for option in unique
    ]


def validation_horizon(spec: TrainSpec) -> int:
    return spec.season_length or min(spec.window.length, 10)


def choose(
    spec: TrainSpec,
    series: np.ndarray,
    *,
    train: Callable[[TrainSpec, np.ndarray], Trained],
    forecaster: Callable[[Trained], SeriesForecaster],
    should_cancel: Callable[[], bool] | None = None,
    test_series: np.ndarray | None = None,
) -> tuple[list[TrainSpec], list[Candidate]]:
    """The best ENSEMBLE_SIZE candidate specs by rolling-origin validation MSE, best first, and
    the leaderboard.

    `train(spec, series)` trains a candidate, `forecaster(trained)` serves it: passed in so the
    ML core's training function is used as is (and tests can count calls)."""
    data = as_2d(series)
    horizon = validation_horizon(spec)
    tail = horizon + VALIDATION_ORIGINS - 1
    specs = candidate_specs(spec, data, also=test_series)
    budget = spec.max_seconds / len(specs) if spec.max_seconds else None
    started = time.monotonic()
    board: list[Candidate] = []
    scored: list[tuple[float, int]] = []  # (validation MSE, index into specs)
    for index, candidate in enumerate(specs):
        entry = Candidate(
            architecture=str(candidate.architecture or ("layers" if candidate.layers else "lstm")),
            transforms=[t.type for t in candidate.chain],
            window_normalization=candidate.series_normalization,
            validation_mse=None,
            seconds=0.0,
        )
        board.append(entry)
        needed = transforms.lag(candidate.chain) + candidate.window.length + 1
        if len(data) - tail < needed + VALIDATION_ORIGINS:
            entry.note = "series too short for this candidate"
            continue
        spent = spec.max_seconds is not None and time.monotonic() - started > spec.max_seconds
        if spent or (should_cancel is not None and should_cancel()):
            entry.note = "time budget spent"
            continue
        t0 = time.monotonic()
        trained = train(candidate.model_copy(update={"max_seconds": budget}), data[:-tail])
        rolled = rolling_forecasts(
            forecaster(trained), data, horizon=horizon, count=VALIDATION_ORIGINS
        )
        entry.validation_mse = float(np.mean((rolled.actuals - rolled.forecasts) ** 2))
        entry.seconds = round(time.monotonic() - t0, 3)
        if np.isfinite(entry.validation_mse):
            scored.append((entry.validation_mse, index))
    if not scored:
        raise TooShortForAuto(
            f"series has {len(data)} rows: too short to validate any candidate on its last "
            f"{tail} rows; give a longer series or choose the architecture and transforms"
        )
    best = sorted(scored)[:ENSEMBLE_SIZE]
    for _, index in best:
        board[index].kept = True
    return [specs[i] for _, i in best], sorted(
        board, key=lambda c: (c.validation_mse is None, c.validation_mse)
    )
