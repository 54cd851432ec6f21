"""Backtests of a stored model: rolling-origin forecasts scored beside the baselines.

With the model fixed, the forecasts come from the served version (in the API process). With
`refit`, the version's spec is trained afresh on the history before each origin: that needs
TensorFlow and takes one training per origin, so it runs as a job in a training worker.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from service.config import Settings
from service.errors import InvalidInput, NotTrained, TrainingRejected
from service.forecasting import transforms
from service.forecasting.ensemble import SeriesForecaster
from service.forecasting.evaluation import (
    RollingForecasts,
    baseline_forecasts,
    mase_scale,
    refit_forecasts,
    rolling_forecasts,
    scores,
)
from service.forecasting.training import UNWATCHED, TrainingContext
from service.schemas.backtest import BacktestRequest, BacktestResult
from service.serving.cache import ModelCache
from service.store.card import ModelCard
from service.store.local import ModelStore
from service.usecases.checks import check_backtest_limits, check_refit_trainings, check_series


def backtest_stored(
    request: BacktestRequest, *, store: ModelStore, cache: ModelCache, settings: Settings
) -> BacktestResult:
    """Rolling-origin forecasts of the version as stored, scored beside the baselines."""
    check_backtest_limits(request, settings)
    version = store.resolve(request.model_name, request.version)
    loaded = cache.get(request.model_name, version)
    check_series(request.series, loaded.card, settings, horizon=request.horizon, backtest=True)
    rolled = rolling_forecasts(
        loaded.forecaster, request.series, horizon=request.horizon, count=request.origins
    )
    return summarize(request, version, rolled, season_of(request, loaded.card))


def refit_request(
    request: BacktestRequest, *, store: ModelStore, settings: Settings
) -> BacktestRequest:
    """The request with its version resolved, once the series is known to fit it and to leave
    enough history before the first origin to train on: what a training worker runs."""
    check_backtest_limits(request, settings)
    version = store.resolve(request.model_name, request.version)
    card = store.card(request.model_name, version)
    if card.upload is not None:
        raise NotTrained(
            f"model {request.model_name}@{version} was uploaded, not trained here: a refit "
            "backtest needs its training recipe; backtest it with refit=false"
        )
    check_series(request.series, card, settings, horizon=request.horizon, backtest=True)
    check_refit_trainings(request, card, settings)
    first = len(request.series) - request.horizon - request.origins + 1
    if first < min_refit_history(card):
        raise InvalidInput(
            f"the first of {request.origins} origins leaves {max(first, 0)} rows of history to "
            f"train on; model {request.model_name}@{version} needs {min_refit_history(card)}: "
            "give fewer origins or a longer series",
            field="origins",
        )
    return request.model_copy(update={"version": version})


def summarize(
    request: BacktestRequest, version: int, rolled: RollingForecasts, season: int | None
) -> BacktestResult:
    """Scores of the forecasts, and of the baselines from the same origins. MASE scales by the
    in-sample (seasonal) naive error before the first origin."""
    scale = mase_scale(request.series, rolled.origins[0], season)
    baselines = {
        name: scores(rolled.actuals, forecast, scale=scale)
        for name, forecast in baseline_forecasts(
            request.series, rolled.origins, horizon=request.horizon, season_length=season
        ).items()
    }
    model = scores(rolled.actuals, rolled.forecasts, scale=scale)
    best = min(b["mse"] for b in baselines.values())
    return BacktestResult.model_validate(
        {
            "model_name": request.model_name,
            "version": version,
            "horizon": request.horizon,
            "origins": rolled.origins,
            "origin_timestamps": request.calendar.iso(rolled.origins) if request.calendar else None,
            "refit": request.refit,
            "model": model,
            "baselines": baselines,
            "skill": model["mse"] / best if best > 0 else None,
        }
    )


def season_of(request: BacktestRequest, card: ModelCard) -> int | None:
    return request.season_length or card.preprocessing.season_length or request.season_from_freq()


def min_refit_history(card: ModelCard) -> int:
    """Rows the history before an origin needs for one training of every network: a window
    and its target after the transforms' lag, plus one more window to validate on if the spec
    holds some out; an ensemble's validation networks also leave out the rows they left out."""
    assert card.preprocessing.window is not None, "check_series refuses models of windows"
    excluded = [card.excluded_rows, *(member.excluded_rows for member in card.ensemble)]
    used = max(
        transforms.lag(prep.transforms) + rows
        for prep, rows in zip(card.preprocessings, excluded, strict=True)
    )
    return used + card.preprocessing.window.length + 2


def refit_backtest(
    request: BacktestRequest,
    store: ModelStore,
    *,
    context: TrainingContext = UNWATCHED,
    on_origin: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Train the stored version's spec (each ensemble member's, for an ensemble) on the
    history before each origin (same seed, no intervals) and forecast from there. Runs in a
    training worker."""
    from service.forecasting.pipeline import train_series
    from service.forecasting.trained import shrunk, with_priors_refitted
    from service.forecasting.training import TrainingDiverged

    assert isinstance(request.version, int), "the API resolves the version before submitting"
    version = request.version
    card = store.card(request.model_name, version)
    # Each network as it was trained: an ensemble's validation networks without the last rows
    # (their priors then fitted to every row), shrunk towards their priors as stored.
    networks = [
        (spec.model_copy(update={"interval_horizon": 0}), excluded, share)
        for spec, excluded, share in [
            (card.spec, card.excluded_rows, card.network_share),
            *((m.spec, m.excluded_rows, m.network_share) for m in card.ensemble),
        ]
    ]

    def fit(history: np.ndarray) -> SeriesForecaster:
        trained = []
        for index, (spec, excluded, share) in enumerate(networks, start=1):
            if context.cancelled():
                raise TrainingRejected("backtest was cancelled")
            try:
                network = train_series(
                    spec,
                    history[: len(history) - excluded],
                    context=context.tagged(
                        network=index, networks=len(networks), stage="retraining the ensemble"
                    ),
                )
            except TrainingDiverged as error:  # as /train answers it: the spec's fault, a 422
                raise TrainingRejected(f"at origin {len(history)}: {error}", field="spec") from None
            network = shrunk(network, share)
            trained.append(with_priors_refitted(network, history) if excluded else network)
        trained[0].ensemble = trained[1:]
        return trained[0].forecaster()

    rolled = refit_forecasts(
        fit,
        request.series,
        horizon=request.horizon,
        count=request.origins,
        first=min_refit_history(card),
        on_origin=on_origin,
    )
    return summarize(request, version, rolled, season_of(request, card))
