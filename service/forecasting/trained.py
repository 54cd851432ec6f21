"""What a training gives back: the trained network(s) with their preprocessing and metrics,
and, for `auto`, the leaderboard of candidates and the statistical forecasts beside them.

Its own module so that `auto` (which compares candidates) and `pipeline` (which trains one)
both use it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from pydantic import BaseModel, Field

from service.forecasting import transforms
from service.forecasting.batched import network_forward
from service.forecasting.data import Preprocessing
from service.forecasting.ensemble import Ensemble, SeriesForecaster
from service.forecasting.evaluation import Calibration
from service.forecasting.inference import Forecaster
from service.forecasting.network import Network
from service.forecasting.spec import TrainSpec
from service.forecasting.training import FitResult
from service.forecasting.windowing import as_2d


class Candidate(BaseModel):
    architecture: str
    transforms: list[str]
    window_normalization: str = "none"
    window: int | None = None  # the window length it was trained with
    validation_mse: float | None  # None: skipped (no budget left, or the data does not allow it)
    seconds: float  # training and validating it
    fitting: float = Field(default=0.0, exclude=True)  # of which fitting its network
    kept: bool = False  # in the stored ensemble: its validation network, and retrained
    network_share: float | None = Field(
        default=None,
        description="How much of the network's correction to its prior (the smoothing filter's "
        "forecast, or the window's last value) the candidate keeps, chosen on the validation "
        "origins: 1 keeps all of it, 0 forecasts with the prior alone.",
    )
    note: str | None = None

    def describes(self, spec: TrainSpec) -> bool:
        mine = (self.architecture, self.transforms, self.window_normalization, self.window)
        return mine == (*described(spec), spec.window.length)


class Statistical(BaseModel):
    """A statistical forecast scored on the same validation origins as the candidates: the
    smoothing priors alone (the candidates' filters with nothing added), and the baselines."""

    name: str
    validation_mse: float


def described(spec: TrainSpec) -> tuple[str, list[str], str]:
    architecture = spec.architecture or ("layers" if spec.layers else "lstm")
    return str(architecture), [t.type for t in spec.chain], spec.series_normalization


@dataclass
class Trained:
    network: Network
    preprocessing: Preprocessing
    metrics: dict[str, float | None]
    fit: FitResult
    examples: int  # windows trained on, validation excluded
    calibration: Calibration | None = None
    spec: TrainSpec | None = None  # the spec trained, once `auto` choices are made
    leaderboard: list[Candidate] | None = None  # the candidates `auto` compared
    statistical: list[Statistical] | None = None  # and the statistical forecasts beside them
    ensemble: list[Trained] = field(default_factory=list)  # networks averaged with this one
    held_out: int | None = None  # series models: the row of the first target held out
    excluded_rows: int = 0  # trained on the series less its last rows (auto's validation tail)
    timings: dict[str, float] = field(default_factory=dict)  # seconds, by part
    fitting_seconds: float | None = None  # every network's fit, candidates' too (auto)
    network_share: float = 1.0  # auto: the share of the network's correction kept (shrunk())

    @property
    def train_seconds(self) -> float:
        """Seconds spent fitting networks: this one's, or all that `auto` trained."""
        return self.fitting_seconds if self.fitting_seconds is not None else self.fit.seconds

    def forecaster(self) -> SeriesForecaster:
        """Served as the version will be: this network, averaged with its ensemble's."""
        networks = [self, *self.ensemble]
        members = [Forecaster(network_forward(n.network), n.preprocessing) for n in networks]
        return members[0] if len(members) == 1 else Ensemble(members)


def corrects_a_prior(prep: Preprocessing) -> bool:
    """Whether the network's output is a correction to a prior rather than the level itself:
    to the window's last (or mean) value, or to what the transforms forecast (the smoothing
    filter's forecast, the last difference's level). A log alone forecasts nothing: the network
    then gives the level itself."""
    if prep.window_normalization != "none":
        return True
    return any(step.type != "log" for step in prep.transforms)


def shrunk(trained: Trained, share: float) -> Trained:
    """The network with its correction to the prior scaled by `share` (0: the prior alone),
    written into its Dense head so that every serving path (Keras, ONNX, the card) serves it
    unchanged. A prediction is prior + out * scale + offset with out = W h + b (y_scaler's
    offset and scale); `share` times the correction is W' = share W, b' = share b + (share - 1)
    offset / scale."""
    if share == 1.0:
        return trained
    scaler = trained.preprocessing.y_scaler
    offset = np.asarray(scaler.offset, np.float64)
    scale = np.asarray(scaler.scale, np.float64)
    *body, kernel, bias = trained.network.weights
    head = (
        (kernel * share).astype(kernel.dtype),
        (bias * share + (share - 1.0) * offset / scale).astype(bias.dtype),
    )
    network = replace(trained.network, weights=(*body, *head))
    return replace(trained, network=network, network_share=share)


def with_priors_refitted(trained: Trained, series: np.ndarray) -> Trained:
    """The network with its smoothing prior's parameters fitted again to the whole `series`, in
    the form they were chosen in (trend, season kept or not), where the network was trained and
    validated on the series less its last rows (`excluded_rows`): the network stays as
    validated, and the prior it corrects has seen every row, as an ETS a user refits would.
    Validation scores stay those of the prior fitted without the tail (no leak). The network
    keeps its share of the correction (`shrunk`); the two commute.

    Measured on all 33 series of bench/accuracy.py, the same networks with and without it
    (`auto`'s best five, holdout MSE over the best statistical model's, geometric mean):
    validated a season ahead, 1.37 to 1.35 (better by more than 2% on 9 series, worse on 4);
    two seasons ahead (`auto.plan`), 1.30 to 1.26 (better on 8, worse on 5: austres 7.6 to 6.3,
    shampoo 1.38 to 1.17, uschange 1.48 to 1.12, wineind 2.43 to 2.09). The best-validating
    prior alone, fitted to every row rather than without the tail: 1.70 to 1.54.

    The networks themselves stay as validated. Training them on for a few epochs on every row
    from their weights (their refitted priors and scalers, their shares kept) measured worse:
    1.25 to 1.34 against 1.26 over four variants (50 epochs at the final learning rate, at a
    tenth of it, 20 at 0.3x; every network, or those with a smoothing prior only). Short
    seasonal series gained (quarterly_mult-s1 1.39e3 to 677, co2 0.22 to 0.15) what random
    walks and short trends lost (random_walk-s1 1.32 to 1.75-5.2, quarterly_trend-s0 6.6 to
    7.0-27.5), and with every row trained on, no validation is left to tell them apart."""
    chain = trained.preprocessing.transforms
    if not any(step.type == "smoothing" for step in chain):
        return trained
    refitted = transforms.fit(chain, as_2d(series), keep_form=True)
    spec = (
        None if trained.spec is None else trained.spec.model_copy(update={"transforms": refitted})
    )
    prep = trained.preprocessing.model_copy(update={"transforms": refitted})
    return replace(trained, preprocessing=prep, spec=spec)
