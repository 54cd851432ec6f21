"""The model card: what is stored beside the weights of every version, validated on load.

It belongs to the store; the HTTP responses that show a card import it from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.forecasting.data import Preprocessing
from service.forecasting.evaluation import Calibration
from service.forecasting.spec import TrainSpec
from service.forecasting.trained import Candidate, Statistical
from service.forecasting.training import StopReason

# Epochs a history summary keeps (GET /jobs/{id}, POST /train by default).
HISTORY_POINTS = 100

__all__ = [
    "Candidate",
    "CardStopReason",
    "EnsembleMember",
    "History",
    "Metrics",
    "ModelCard",
    "Notes",
    "Statistical",
    "StopReason",
    "UploadInfo",
]


class Metrics(BaseModel):
    """MSE in the data's original units, each beside baselines on exactly the same points: naive
    (last value), seasonal naive (the value one season back, when the season is known) and drift
    (the line through the first and the last value). `skill` is the model's MSE over the best
    baseline's: below 1, the network helps. Unprefixed names are for the test points. Baselines
    exist for series models only."""

    train_mse: float | None = None
    train_naive_mse: float | None = None
    train_seasonal_naive_mse: float | None = None
    train_drift_mse: float | None = None
    train_skill: float | None = None
    validation_mse: float | None = None
    validation_naive_mse: float | None = None
    validation_seasonal_naive_mse: float | None = None
    validation_drift_mse: float | None = None
    validation_skill: float | None = None
    test_mse: float | None = None
    naive_mse: float | None = None
    seasonal_naive_mse: float | None = None
    drift_mse: float | None = None
    skill: float | None = None


class History(BaseModel):
    loss: list[float]
    val_loss: list[float] | None = None
    epochs: list[int] | None = Field(
        default=None,
        description="The epoch (from 1) of each value, when the history is a summary; absent: "
        "one value per epoch.",
    )

    def summary(self, points: int = HISTORY_POINTS) -> History:
        """At most `points` epochs (and the best), evenly spaced from the first to the last:
        the curve's shape at a fraction of its size."""
        if len(self.loss) <= points:
            return self
        watched = self.val_loss or self.loss
        best = min(range(len(watched)), key=watched.__getitem__)
        step = (len(self.loss) - 1) / (points - 2)
        kept = sorted({round(i * step) for i in range(points - 1)} | {best})
        return History(
            loss=[self.loss[i] for i in kept],
            val_loss=[self.val_loss[i] for i in kept] if self.val_loss else self.val_loss,
            epochs=[i + 1 for i in kept],
        )


SHARE = (
    "auto: the share of the network's correction to its prior kept (written into its weights; "
    "a refit backtest shrinks its retraining as much)."
)


class EnsembleMember(BaseModel):
    """A network whose forecasts are averaged with the version's own; its files are in the
    version's folder under `members/<index>/`, named as the version's."""

    model_config = ConfigDict(extra="forbid")

    spec: TrainSpec
    preprocessing: Preprocessing
    input_shape: tuple[int, int]
    epochs_run: int
    stop_reason: StopReason
    excluded_rows: int = Field(
        default=0,
        ge=0,
        description="Trained on the series less its last rows (auto's tail); its smoothing "
        "prior, if it has one, is fitted to every row.",
    )
    network_share: float = Field(default=1.0, ge=0, le=1, description=SHARE)


class UploadInfo(BaseModel):
    """Where an uploaded version came from (POST /models/{name}/versions)."""

    sha256: str = Field(description="Of the .keras file as uploaded (stored as model.keras).")
    filename: str | None = None
    size: int = Field(description="Bytes of the .keras file.")
    keras_version: str = Field(description="The Keras version that saved it.")
    uploaded_by: str | None = Field(
        default=None,
        description="With FORECAST_API_KEY set: which key uploaded it (its sha256, first 16 hex).",
    )


# An uploaded version was never trained here: no epochs, no history.
CardStopReason = StopReason | Literal["uploaded"]


class Notes(BaseModel):
    """A version's description and tags: set at training, changed with PATCH; kept beside the
    card (`notes.json`), which stays as it was written."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=2000)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32
    )


class ModelCard(BaseModel):
    """What is stored beside the weights of every version: enough to reproduce and to serve it."""

    model_config = ConfigDict(extra="forbid")

    card_version: Literal[1] = 1
    model_name: str
    version: int
    created_at: datetime
    spec: TrainSpec
    preprocessing: Preprocessing
    input_shape: tuple[int, int] = Field(description="[timesteps, features] of one window.")
    metrics: Metrics
    history: History
    epochs_run: int
    stop_reason: CardStopReason
    train_seconds: float = Field(
        description="Seconds spent fitting networks: with `auto`, every candidate's (and, with "
        "`refit_full`, every retraining's; the parts of the whole are in `timings`)."
    )
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="Seconds by part: `fitting` (or, with `auto`, `comparing` candidates and, "
        "with `refit_full`, `retraining` the best), `measuring` (metrics and interval "
        "calibration), `saving` (the files and exports), and `total`, from the start of "
        "training to the version stored.",
    )
    train_examples: int
    data_fingerprint: str
    library_versions: dict[str, str]
    calibration: Calibration | None = Field(
        default=None, description="Errors of forecasts from held-out origins, for intervals."
    )
    leaderboard: list[Candidate] | None = Field(
        default=None, description="With `auto`: the candidates compared, best first."
    )
    statistical: list[Statistical] | None = Field(
        default=None,
        description="With `auto`: statistical forecasts scored on the candidates' validation "
        "origins (the exponential smoothing priors alone, seasonal naive, naive, drift), to set "
        "the leaderboard's validation MSE beside.",
    )
    excluded_rows: int = Field(
        default=0,
        ge=0,
        description="This network was trained on the series less its last rows (auto's "
        "validation tail); its smoothing prior, if it has one, is fitted to every row.",
    )
    network_share: float = Field(default=1.0, ge=0, le=1, description=SHARE)
    ensemble: list[EnsembleMember] = Field(
        default_factory=list,
        description="With `auto`: the other networks kept, whose forecasts are averaged with "
        "this one's (the spec and preprocessing above are the best candidate's).",
    )
    upload: UploadInfo | None = Field(
        default=None,
        description="Set when the version was uploaded, not trained: its spec then describes "
        "the uploaded network, and it has no training history.",
    )
    freq: str | None = Field(
        default=None, description="The training series' frequency (a pandas offset alias)."
    )
    last_timestamp: str | None = Field(
        default=None, description="The training series' last timestamp (ISO 8601)."
    )
    season_source: Literal["season_length", "transform", "freq"] | None = Field(
        default=None,
        description="Where the season came from: spec.season_length, a seasonal transform, or "
        "the frequency's usual season (monthly 12, quarterly 4, weekly 52, daily 7, hourly 24).",
    )
    missing: Literal["error", "interpolate"] = "error"
    missing_filled: int = Field(default=0, ge=0, description="Nulls filled by interpolation.")
    history_rows: int = Field(
        default=0,
        ge=0,
        description="Rows of the training series kept with the version (`tail.npy`): enough for "
        "POST /forecast to forecast past its end without a series.",
    )

    @property
    def preprocessings(self) -> list[Preprocessing]:
        """The version's own preprocessing and its ensemble members', in member order."""
        return [self.preprocessing, *(m.preprocessing for m in self.ensemble)]
