"""`architecture: "auto"` and `transforms: "auto"`: try a small candidate set, keep the best.

Each candidate is trained on the series minus a validation tail and scored by rolling-origin
validation on that tail: multi-step recursive forecasts from each of the tail's origins, exactly
what a user will ask of the model. The best few are kept, as validated, as an ensemble (with
`refit_full`, retrained on the whole series too). This is the lecture's own comparison of SimpleRNN,
LSTM and GRU, automated, with transforms as a second axis.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from service.forecasting import transforms
from service.forecasting.evaluation import baseline_forecasts, origins, rolling_forecasts
from service.forecasting.spec import TrainSpec, WindowSpec
from service.forecasting.trained import (
    Candidate,
    Statistical,
    Trained,
    corrects_a_prior,
    described,
    shrunk,
    with_priors_refitted,
)
from service.forecasting.training import (
    UNWATCHED,
    TrainingCancelled,
    TrainingContext,
    TrainingDiverged,
)
from service.forecasting.transforms import Transform
from service.forecasting.windowing import as_2d, window_count

# SimpleRNN is left out: on bench/accuracy.py's tuning series it was the weakest architecture
# with every transform (holdout MSE over the best statistical model's, geometric mean over the
# series: 1.8-4.5 against GRU's 1.3-2.6 and LSTM's 1.9-2.6), and an ensemble of the best five
# LSTM and GRU candidates beat one drawn from all three (1.26 against 1.35).
PRESETS = ("lstm", "gru")
VALIDATION_ORIGINS = 12  # on a long series; fewer on a short one (see `plan`)
MIN_VALIDATION_ORIGINS = 4
DEFAULT_WINDOW = 20  # a candidate's window when the spec gives none, and the series allows it
MIN_WINDOW = 3
MIN_WINDOWS = 12  # windows a candidate trains on, at least (4 on a very short series)
# Each candidate (and each one kept, retrained) holds out the last windows of what it trains on
# and keeps its weights at their lowest loss, unless the spec sets a fraction: trained to
# convergence instead, candidates fit the noise of noisy series (trend + season, seed 0, windows
# relative to the last value: holdout MSE 0.383 trained to convergence, 0.272 with this; ETS
# 0.233). On all 33 series of bench/accuracy.py (the geometric mean of holdout MSE over the best
# statistical model's): 0.10 1.30, 0.15 1.26, 0.25 1.28.
VALIDATION_FRACTION = 0.15
# The best few candidates are kept as trained for validation and forecast as the mean of their
# networks (forecasting/ensemble.py). Measured on all 33 series of bench/accuracy.py, with the
# smoothing prior and network shares (holdout MSE over the best statistical model's, geometric
# mean): the best 5 as validated 1.35; the best 5 retrained on the whole series (`refit_full`'s
# networks alone) 1.54; both, `refit_full`'s ensemble, 1.43. Retrained networks carry a training's
# variance that no validation has checked (random_walk-s1: 0.80 as validated, 5.9 retrained),
# and skipping them saves their trainings (auto on a warm worker: 15.2 s with them, 9.1 s
# without). AutoGluon's time series predictor, likewise, serves its validated models and refits
# on the whole data only when asked (its `refit_full`). Earlier, without shares
# and on six trend + season series, the best 5 retrained had measured 1.47 / 1.02 (worst of 12
# runs / mean) against 1.99 / 0.97 as validated. The size, measured in one run on the 33
# series (the best k as validated): k = 1 1.57, 2 1.43, 3 1.36, 4 1.38, 5 1.41, 6 1.47, 8 1.66;
# 3 to 5 are within run-to-run noise (5 measured 1.35 in another run).
ENSEMBLE_SIZE = 5
# The shares of a network's correction to its prior that a candidate is validated with (the
# first that validates best is kept; `trained.shrunk`): the network whole, or shrunk towards its
# smoothing filter or last value, down to the prior alone.
NETWORK_SHARES = (1.0, 0.75, 0.5, 0.25, 0.0)


class TooShortForAuto(ValueError):
    """The series leaves no room for a validation tail."""


@dataclass(frozen=True)
class Plan:
    """How candidates are validated on a series: `origins` forecasts of `horizon` steps from
    the end of the series' first rows, `tail` rows held out of their training."""

    horizon: int
    origins: int

    @property
    def tail(self) -> int:
        return self.horizon + self.origins - 1


def plan(spec: TrainSpec, rows: int) -> Plan:
    """Two seasons' horizon (10 steps without a season) from 12 origins on a long series; on a
    short one, fewer origins and a shorter horizon, so that a tenth to a fifth of it is held out
    and the rest still trains a candidate.

    Two seasons, as far ahead as users forecast (M4's quarterly horizon is 8, its monthly 18):
    a network whose trend drifts validates well a season ahead and then strays. Against one
    season, on all 33 series of bench/accuracy.py (the best five as validated, holdout MSE over
    the best statistical model's, geometric mean): 1.37 to 1.30, tuning 1.22 to 1.18, holdout
    1.77 to 1.62 (austres 11.5 to 7.6, ausbeer 2.0 to 1.1; woolyrnq 1.4 to 2.1)."""
    origins = int(np.clip(rows // 10, MIN_VALIDATION_ORIGINS, VALIDATION_ORIGINS))
    seasons = 2 * spec.season_length if spec.season_length else 10
    horizon = int(np.clip(min(seasons, rows // 8), 2, 10_000))
    return Plan(horizon=horizon, origins=origins)


def candidate_specs(
    spec: TrainSpec, series: np.ndarray, *, also: np.ndarray | None = None
) -> list[TrainSpec]:
    """The presets (if the architecture is auto) times the transform chains (if those are),
    each with its window (the spec's, or one the rows before the validation tail allow). A log
    is offered only when the series, and `also` (the test series), are positive; the
    smoothing prior only for a series of one column."""
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
        options = _transform_options(spec, positive=positive, columns=data.shape[1])
    unique = {repr(o): o for o in options}.values()  # "last" twice when the spec asked for it
    held_out = VALIDATION_FRACTION if spec.validation_fraction is None else spec.validation_fraction
    rows = len(data) - plan(spec, len(data)).tail
    candidates = [
        spec.model_copy(
            update={**arch, **option, "interval_horizon": 0, "validation_fraction": held_out}
        )
        for arch in archs
        for option in unique
    ]
    return _with_windows(candidates, spec, rows)


def _transform_options(spec: TrainSpec, *, positive: bool, columns: int) -> list[dict[str, object]]:
    """Windows relative to their last value, and (one column) the network on what exponential
    smoothing leaves; each on the log too when the data are positive. Measured on
    bench/accuracy.py's tuning series (holdout MSE over the best statistical model's, geometric
    mean, an ensemble of the best five by validation): 1.23 from these four, against 1.35 with
    differences and seasonal differences among the candidates too. Networks on differences
    validate well on the short horizons and then extrapolate a trend they learnt from noise
    (co2: 8x the best statistical model's holdout MSE); a smoothing prior carries level, trend
    and season for them."""
    log = Transform(type="log")
    options: list[dict[str, object]] = [{"transforms": [], "window_normalization": "last"}]
    if spec.window_normalization is not None:  # the spec's own, as well
        options.insert(0, {"transforms": [], "window_normalization": spec.window_normalization})
    if positive:  # a multiplicative season or growth made additive
        options.append({"transforms": [log], "window_normalization": "last"})
    if columns == 1:  # the network learns what exponential smoothing leaves
        smooth = Transform(type="smoothing", season_length=spec.season_length)
        options.append({"transforms": [smooth], "window_normalization": "none"})
        if positive:
            options.append({"transforms": [log, smooth], "window_normalization": "none"})
    return options


def _with_windows(candidates: list[TrainSpec], spec: TrainSpec, rows: int) -> list[TrainSpec]:
    """The spec's window when it gives one. Else 20 steps, fewer when the `rows` a candidate
    trains on leave less than three windows' worth after the transforms' lag: one length for
    the candidates with a smoothing prior and one for the others (whose windows must see the
    season themselves), so that candidates share compiled training steps."""
    if "window" in spec.model_fields_set:
        return candidates
    families: dict[bool, int] = {}
    for candidate in candidates:
        smooth = _smoothed(candidate)
        lag = transforms.lag(candidate.chain, rows=rows)
        families[smooth] = max(families.get(smooth, 0), lag)
    lengths = {
        smooth: int(np.clip((rows - lag) // 3, MIN_WINDOW, DEFAULT_WINDOW))
        for smooth, lag in families.items()
    }
    return [
        c.model_copy(update={"window": WindowSpec(length=lengths[_smoothed(c)])})
        for c in candidates
    ]


def _smoothed(spec: TrainSpec) -> bool:
    return any(step.type == "smoothing" for step in spec.chain)


def padding(candidate: TrainSpec, rows: int) -> tuple[int, int]:
    """The training and validation windows the candidate has when retrained on all `rows`: its
    validation training is padded to them, so that both share one compiled step."""
    window = candidate.window
    windows = window_count(
        rows - transforms.lag(candidate.chain, rows=rows), length=window.length,
        stride=window.stride,
    )  # fmt: skip
    held = min(round(windows * (candidate.validation_fraction or 0.0)), windows - 1)
    return windows - max(held, 0), max(held, 0)


def validates(candidate: TrainSpec, *, rows: int, tail: int) -> bool:
    """Whether a series of `rows` leaves the candidate enough to train on before the tail."""
    train_rows = rows - tail
    needed = transforms.lag(candidate.chain, rows=train_rows) + candidate.window.length + 1
    return train_rows >= needed + min(MIN_WINDOWS, max(4, train_rows // 4))


def choose(
    spec: TrainSpec,
    series: np.ndarray,
    *,
    train: Callable[[TrainSpec, np.ndarray, TrainingContext, tuple[int, int]], Trained],
    context: TrainingContext = UNWATCHED,
    test_series: np.ndarray | None = None,
) -> tuple[list[Trained], list[Candidate], list[Statistical]]:
    """The best ENSEMBLE_SIZE candidates by rolling-origin validation MSE, best first, as
    trained for validation (on the series less its last `excluded_rows`; their smoothing priors
    then fitted again to every row: `trained.with_priors_refitted`), the leaderboard, and
    the statistical forecasts' scores on the same origins.

    `train(spec, series, context, pad_rows)` trains a candidate: passed in, so that this
    module needs nothing from pipeline.py (which calls it) and tests can count the calls."""
    data = as_2d(series)
    validation = plan(spec, len(data))
    tail = validation.tail
    specs = candidate_specs(spec, data, also=test_series)
    forms = smoothing_forms(spec, data, validation)
    # `max_seconds` is shared by every training: these and (`refit_full`) the retrainings after
    # them.
    retrainings = ENSEMBLE_SIZE if spec.refit_full else 0
    share = len(specs) / (len(specs) + retrainings)
    budget = spec.max_seconds / (len(specs) + retrainings) if spec.max_seconds else None
    started = time.monotonic()
    board: list[Candidate] = []
    scored: list[tuple[float, int, Trained]] = []  # (validation MSE, index into specs, network)
    diverged: list[str] = []
    for index, candidate in enumerate(specs):
        architecture, chain, normalization = described(candidate)
        entry = Candidate(
            architecture=architecture,
            transforms=chain,
            window_normalization=normalization,
            window=candidate.window.length,
            validation_mse=None,
            seconds=0.0,
        )
        board.append(entry)
        if not validates(candidate, rows=len(data), tail=tail):
            entry.note = "series too short for this candidate"
            continue
        if context.cancelled():
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
                context.tagged(
                    network=index + 1, networks=len(specs), stage="comparing candidates"
                ),
                # Padded to its retraining's rows, to share its compiled step; with nothing to
                # retrain, no rows of padding to train over.
                padding(candidate, len(data)) if spec.refit_full else (0, 0),
            )
        except TrainingDiverged as error:
            entry.note, entry.seconds = "training diverged", round(time.monotonic() - t0, 3)
            diverged.append(str(error))
            continue
        entry.fitting = trained.fit.seconds
        trained, entry.validation_mse = _shrink_by_validation(
            replace(trained, excluded_rows=tail), data, validation
        )
        if corrects_a_prior(trained.preprocessing):
            entry.network_share = trained.network_share
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
    starts = [int(o) for o in rolling_origins(len(data), validation, first=1)]
    statistical = _baselines(data, starts, validation, spec.season_length) + [
        Statistical(name=form.name, validation_mse=form.validation_mse) for form in forms
    ]
    return (
        # Scored with their priors fitted without the tail; kept with them fitted to every row.
        [with_priors_refitted(trained, data) for _, _, trained in best],
        sorted(board, key=lambda c: (c.validation_mse is None, c.validation_mse)),
        sorted(statistical, key=lambda s: s.validation_mse),
    )


def _shrink_by_validation(
    trained: Trained, data: np.ndarray, validation: Plan
) -> tuple[Trained, float]:
    """The candidate with the share of its network's correction to the prior (NETWORK_SHARES)
    that forecasts the validation origins best, and that validation MSE. A network that adds
    nothing but noise to a smoothing filter (or to the last value) on a short or smooth series
    is shrunk towards it, as far as the origins show it should be."""
    shares = NETWORK_SHARES if corrects_a_prior(trained.preprocessing) else (1.0,)
    best: tuple[float, Trained] | None = None
    for share in shares:
        candidate = shrunk(trained, share)
        rolled = rolling_forecasts(
            candidate.forecaster(), data, horizon=validation.horizon, count=validation.origins
        )
        error = float(np.mean((rolled.actuals - rolled.forecasts) ** 2))
        if best is None or error < best[0] or not np.isfinite(best[0]):
            best = (error, candidate)
    assert best is not None
    return best[1], best[0]


def rolling_origins(rows: int, validation: Plan, *, first: int) -> list[int]:
    return origins(rows, horizon=validation.horizon, count=validation.origins, first=first)


@dataclass(frozen=True)
class Form:
    """An exponential smoothing prior: its transforms (a log, or not, and the smoothing step's
    trend form and season) and how it forecasts the validation origins alone."""

    chain: list[Transform]
    validation_mse: float

    @property
    def name(self) -> str:
        step = self.chain[-1]
        trend = {"none": "N", "additive": "A", "damped": "Ad"}[step.trend]
        season = "A" if step.season_length else "N"
        kind = "ETS" if len(self.chain) == 1 else "ETS on the log"
        return f"{kind} (trend {trend}, season {season})"


def smoothing_forms(spec: TrainSpec, data: np.ndarray, validation: Plan) -> list[Form]:
    """The statistical models the leaderboard is set beside: exponential smoothing with every
    trend form (none, additive, damped), with the spec's season and without it, on the series
    and (positive data) on its log, each fitted on the rows before the validation tail and
    scored on the validation origins, as the candidates are. Tens of milliseconds each.

    (Choosing the candidates' priors by these scores instead of by AICc was tried and measured
    worse on bench/accuracy.py's tuning series: 1.60 against 1.35, holdout MSE over the best
    statistical model's, geometric mean; the short validation tail ranks forms noisily.)"""
    if spec.transforms != "auto" or data.shape[1] != 1:
        return []
    train = data[: -validation.tail]
    logs = [False, True] if bool((data > 0).all()) else [False]
    seasons = [spec.season_length, None] if spec.season_length else [None]
    starts = np.asarray(rolling_origins(len(data), validation, first=1))
    actuals = np.stack([data[o : o + validation.horizon] for o in starts])
    tried: list[Form] = []
    for log in logs:
        for season in seasons:
            for trend in ("none", "additive", "damped"):
                step = Transform(type="smoothing", trend=trend, season_length=season)
                chain = [Transform(type="log"), step] if log else [step]
                if len(train) < transforms.lag(chain, rows=len(train)) + 2:
                    continue
                fitted = transforms.fit(chain, train)
                if starts.min() < transforms.lag(fitted):
                    continue
                forecasts = transforms.recurse(
                    fitted, data, starts, horizon=validation.horizon, back=1, step=_nothing,
                )  # fmt: skip
                error = float(np.mean((actuals - forecasts) ** 2))
                if np.isfinite(error):
                    tried.append(Form(chain, error))
    return tried


def _nothing(top: np.ndarray, t: int) -> np.ndarray:
    """No innovation: the smoothing filter's own forecast."""
    return np.zeros(top.shape[1:])


def _baselines(
    data: np.ndarray, starts: list[int], validation: Plan, season_length: int | None
) -> list[Statistical]:
    actuals = np.stack([data[o : o + validation.horizon] for o in starts])
    forecasts = baseline_forecasts(
        data, starts, horizon=validation.horizon, season_length=season_length
    )
    names = {"naive": "naive", "drift": "drift", "seasonal_naive": "seasonal naive"}
    return [
        Statistical(name=names[k], validation_mse=float(np.mean((actuals - v) ** 2)))
        for k, v in forecasts.items()
    ]
