"""`architecture: "auto"` and `transforms: "auto"`: try a small candidate set, keep the best.

Each candidate is trained on the series minus a validation tail and scored by rolling-origin
validation on that tail: multi-step recursive forecasts from each of the tail's origins, exactly
what a user will ask of the model. The best few are then retrained on the whole series and kept,
with their validation networks, as an ensemble. This is the
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
from service.forecasting.training import Progress, TrainingCancelled, TrainingDiverged, tagged
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
# The best few candidates are kept twice, as trained for validation and retrained on the whole
# series, and forecast as the mean of all those networks (forecasting/ensemble.py). Measured on
# bench/accuracy.py's six trend + season series with network seeds 1 and 2 (holdout MSE over
# ETS's, worst of the 12 runs / mean): the single best retrained 1.68 / 1.01 (and 12x on one
# series with seed 0); the best 5 retrained 1.47 / 1.02; the best 3 or 5 as validated 2.18 /
# 1.03 and 1.99 / 0.97; both networks of the best 5 1.45 / 0.95.
ENSEMBLE_SIZE = 5


class Candidate(BaseModel):
    architecture: str
    transforms: list[str]
    window_normalization: str = "none"
    validation_mse: float | None  # None: skipped (no budget left, or the data does not allow it)
    seconds: float
    kept: bool = False  # in the stored ensemble: its validation network, and retrained
    note: str | None = None

    def describes(self, spec: TrainSpec) -> bool:
        return (self.architecture, self.transforms, self.window_normalization) == _described(spec)


def _described(spec: TrainSpec) -> tuple[str, list[str], str]:
    architecture = spec.architecture or ("layers" if spec.layers else "lstm")
    return str(architecture), [t.type for t in spec.chain], spec.series_normalization


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


def validation_tail(spec: TrainSpec) -> int:
    """Rows at the end of the series that candidates are validated on, not trained on."""
    return validation_horizon(spec) + VALIDATION_ORIGINS - 1


def validates(candidate: TrainSpec, *, rows: int, tail: int) -> bool:
    """Whether a series of `rows` leaves the candidate enough to train on before the tail."""
    needed = transforms.lag(candidate.chain) + candidate.window.length + 1
    return rows - tail >= needed + VALIDATION_ORIGINS


def choose(
    spec: TrainSpec,
    series: np.ndarray,
    *,
    train: Callable[[TrainSpec, np.ndarray, Callable[[Progress], None] | None], Trained],
    forecaster: Callable[[Trained], SeriesForecaster],
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    test_series: np.ndarray | None = None,
) -> tuple[list[Trained], list[Candidate]]:
    """The best ENSEMBLE_SIZE candidates by rolling-origin validation MSE, best first, as
    trained for validation (on the series less its last `excluded_rows`), and the leaderboard.

    `train(spec, series, on_progress)` trains a candidate, `forecaster(trained)` serves it:
    passed in so the ML core's training function is used as is (and tests can count calls)."""
    data = as_2d(series)
    horizon = validation_horizon(spec)
    tail = validation_tail(spec)
    specs = candidate_specs(spec, data, also=test_series)
    # `max_seconds` is shared by every training: these and the retrainings after them.
    share = len(specs) / (len(specs) + ENSEMBLE_SIZE)
    budget = spec.max_seconds / (len(specs) + ENSEMBLE_SIZE) if spec.max_seconds else None
    started = time.monotonic()
    board: list[Candidate] = []
    scored: list[tuple[float, int, Trained]] = []  # (validation MSE, index into specs, network)
    diverged: list[str] = []
    for index, candidate in enumerate(specs):
        architecture, chain, normalization = _described(candidate)
        entry = Candidate(
            architecture=architecture,
            transforms=chain,
            window_normalization=normalization,
            validation_mse=None,
            seconds=0.0,
        )
        board.append(entry)
        if not validates(candidate, rows=len(data), tail=tail):
            entry.note = "series too short for this candidate"
            continue
        if should_cancel is not None and should_cancel():
            raise TrainingCancelled("training was cancelled while comparing candidates")
        spent = time.monotonic() - started
        if spec.max_seconds is not None and spent > share * spec.max_seconds:
            entry.note = "time budget spent"
            continue
        t0 = time.monotonic()
        try:
            trained = train(
                candidate.model_copy(update={"max_seconds": budget}),
                data[:-tail],
                tagged(
                    on_progress,
                    network=index + 1,
                    networks=len(specs),
                    stage="comparing candidates",
                ),
            )
        except TrainingDiverged as error:
            entry.note, entry.seconds = "training diverged", round(time.monotonic() - t0, 3)
            diverged.append(str(error))
            continue
        trained.excluded_rows = tail
        rolled = rolling_forecasts(
            forecaster(trained), data, horizon=horizon, count=VALIDATION_ORIGINS
        )
        entry.validation_mse = float(np.mean((rolled.actuals - rolled.forecasts) ** 2))
        entry.seconds = round(time.monotonic() - t0, 3)
        if np.isfinite(entry.validation_mse):
            scored.append((entry.validation_mse, index, trained))
    if not scored and diverged:
        raise TrainingDiverged(f"every candidate diverged; the first: {diverged[0]}")
    if not scored:
        raise TooShortForAuto(
            f"series has {len(data)} rows: too short to validate any candidate on its last "
            f"{tail} rows; give a longer series or choose the architecture and transforms"
        )
    best = sorted(scored, key=lambda s: s[:2])[:ENSEMBLE_SIZE]
    for _, index, _ in best:
        board[index].kept = True
    return [trained for _, _, trained in best], sorted(
        board, key=lambda c: (c.validation_mse is None, c.validation_mse)
    )
