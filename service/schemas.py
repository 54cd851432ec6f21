"""Request and response models, named by role. Shape rules live here, checked before any work."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from service.arrays import ArrayField
from service.config import get_settings
from service.forecasting.auto import Candidate, Statistical, candidate_specs, plan, validates
from service.forecasting.data import Preprocessing
from service.forecasting.evaluation import Calibration, Scores
from service.forecasting.pipeline import DEFAULT_EPOCHS
from service.forecasting.spec import TrainSpec
from service.forecasting.training import StopReason
from service.forecasting.transforms import Transform, lag
from service.forecasting.windowing import as_2d, window_count
from service.jobs.status import JobStatus

MODEL_NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$"
# Device names some filesystems reserve, whatever the extension: refused so a store can move.
_RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?")


def check_model_name(name: str) -> str:
    """The pattern (ASCII letters, digits, `_.-`, not starting with `.`) and no reserved name."""
    if not re.fullmatch(MODEL_NAME_PATTERN, name) or _RESERVED.fullmatch(name):
        raise ValueError(
            f"model name {name!r} is not allowed: use 1-64 letters, digits, `_`, "
            "`.` or `-`, not starting with `.`, and not a reserved device name"
        )
    return name


ModelName = Annotated[
    str,
    AfterValidator(check_model_name),
    Field(
        pattern=MODEL_NAME_PATTERN,
        description="Letters, digits, `_`, `.` and `-`, 1-64 characters, not starting with `.`.",
        examples=["sine"],
    ),
]

Series = Annotated[np.ndarray, ArrayField(1, 2, field="series")]
TestSeries = Annotated[np.ndarray, ArrayField(1, 2, field="test_series")]
Inputs = Annotated[np.ndarray, ArrayField(3, field="inputs")]
TestInputs = Annotated[np.ndarray, ArrayField(3, field="test_inputs")]
Targets = Annotated[np.ndarray, ArrayField(1, 2, field="targets")]
TestTargets = Annotated[np.ndarray, ArrayField(1, 2, field="test_targets")]

# The lecture's data: sin(x) on [0, 100) for training and [90, 200) for testing, step 0.5.
_TRAIN_X = np.arange(0, 100, 0.5)
_TEST_X = np.arange(90, 200, 0.5)
EXAMPLE_SERIES: list[Any] = [round(float(v), 6) for v in np.sin(_TRAIN_X)]
EXAMPLE_TEST_SERIES: list[Any] = [round(float(v), 6) for v in np.sin(_TEST_X)]

_ARRAYS = ConfigDict(arbitrary_types_allowed=True, extra="forbid")


def _check_limits(array: np.ndarray, field: str) -> None:
    settings = get_settings()
    if len(array) > settings.max_series_length:
        raise ValueError(
            f"{field} has {len(array)} rows, the limit is {settings.max_series_length}"
        )
    features = array.shape[-1] if array.ndim > 1 else 1
    if features > settings.max_features:
        raise ValueError(f"{field} has {features} features, the limit is {settings.max_features}")


def _one_form(data: dict[str, Any], *, targets_required: bool) -> None:
    """Data comes as `series`, or as `inputs` (with `targets` where they are required)."""
    has_series, has_inputs = data.get("series") is not None, data.get("inputs") is not None
    if has_series and has_inputs:
        raise ValueError("give either `series` or `inputs`, not both")
    if not (has_series or has_inputs):
        raise ValueError("give the data as `series`, or as `inputs` with `targets`")
    if data.get("targets") is not None and not has_inputs:
        raise ValueError("`targets` go with `inputs`; a series carries its own next values")
    if targets_required and has_inputs and data.get("targets") is None:
        raise ValueError("`inputs` need `targets` to train on")


def _check_targets(inputs: np.ndarray, targets: np.ndarray, *, names: tuple[str, str]) -> None:
    if len(targets) != len(inputs):
        raise ValueError(
            f"{names[1]} has {len(targets)} rows but {names[0]} has {len(inputs)} windows"
        )


def _check_spec_limits(spec: TrainSpec, *, windows: int) -> None:
    """The network's size and the training's work against the limits in settings."""
    settings, layers = get_settings(), spec.resolved_layers()
    if len(layers) > settings.max_layers:
        raise ValueError(
            f"spec.layers has {len(layers)} layers, the limit is {settings.max_layers} "
            "(FORECAST_MAX_LAYERS)"
        )
    for i, layer in enumerate(layers):
        if layer.units > settings.max_units:
            field = "spec.units" if spec.layers is None else f"spec.layers[{i}].units"
            raise ValueError(
                f"{field} is {layer.units}, the limit is {settings.max_units} (FORECAST_MAX_UNITS)"
            )
    epochs = spec.epochs or DEFAULT_EPOCHS
    if epochs > settings.max_epochs:
        raise ValueError(
            f"spec.epochs is {epochs}, the limit is {settings.max_epochs} (FORECAST_MAX_EPOCHS)"
        )
    units = sum(layer.units for layer in layers)
    work = windows * epochs * units
    if work > settings.max_training_work:
        raise ValueError(
            f"this training is {windows} windows x {epochs} epochs x {units} units = {work:.3g}, "
            f"the limit is {settings.max_training_work:.3g} (FORECAST_MAX_TRAINING_WORK); "
            "use fewer epochs, a larger window stride or smaller layers"
        )


def check_transformable(series: np.ndarray, chain: list[Transform], field: str) -> None:
    """The log transform needs positive data."""
    if any(step.type == "log" for step in chain) and (series <= 0).any():
        index = np.argwhere(series <= 0)[0]
        value = series[tuple(index)]
        raise ValueError(f"{field}[{index[0]}] is {value:g}: the log transform needs positive data")


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


def _after_lag(spec: TrainSpec) -> str:
    extra = lag(spec.chain)
    return f", after the {extra} rows the transforms use up" if extra else ""


class TrainRequest(BaseModel):
    """Train one model on a series (windowed) or on ready-made windows, and store it."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "model_name": "sine",
                    "series": EXAMPLE_SERIES,
                    "test_series": EXAMPLE_TEST_SERIES,
                    "spec": {"architecture": "lstm", "window": {"length": 20}},
                }
            ]
        },
    )

    model_name: ModelName
    series: Series | None = Field(
        default=None, description="(time,) or (time, features); windowed with `spec.window`."
    )
    inputs: Inputs | None = Field(
        default=None, description="Ready-made windows (batch, timesteps, features)."
    )
    targets: Targets | None = Field(default=None, description="(batch,) or (batch, outputs).")
    test_series: TestSeries | None = Field(
        default=None, description="Held-out series on which test_mse is measured."
    )
    test_inputs: TestInputs | None = None
    test_targets: TestTargets | None = None
    spec: TrainSpec = Field(default_factory=TrainSpec)
    run_async: bool = Field(
        default=False,
        alias="async",
        description="Return 202 with a job id at once instead of waiting for the model.",
    )

    @model_validator(mode="before")
    @classmethod
    def _data_forms(cls, data: Any) -> Any:
        if isinstance(data, dict):
            _one_form(data, targets_required=True)
            if (data.get("test_inputs") is None) != (data.get("test_targets") is None):
                raise ValueError("`test_targets` goes with `test_inputs`: give both or neither")
        return data

    @model_validator(mode="after")
    def _shapes(self) -> TrainRequest:
        if self.series is not None:
            windows = self._check_series()
        else:
            assert self.inputs is not None and self.targets is not None
            self._check_inputs()
            windows = len(self.inputs)
        _check_spec_limits(self.spec, windows=windows)
        return self

    def _check_series(self) -> int:
        """Shape, length and limits of a series request; returns its number of windows."""
        assert self.series is not None
        window, series = self.spec.window, as_2d(self.series)
        _check_limits(series, "series")
        if self.test_inputs is not None:
            raise ValueError("a model trained on `series` is tested on `test_series`")
        check_transformable(series, self.spec.chain, "series")
        needed = lag(self.spec.chain) + window.length + 1
        count = window_count(
            len(series) - lag(self.spec.chain), length=window.length, stride=window.stride
        )
        if count < 1:
            raise ValueError(
                f"series has {len(series)} rows; spec.window.length {window.length} needs at "
                f"least {needed} (one window and its next value{_after_lag(self.spec)})"
            )
        if count > get_settings().max_windows:
            raise ValueError(
                f"series gives {count} windows, the limit is {get_settings().max_windows}"
            )
        columns = self.spec.target_columns or []
        if columns != sorted(set(columns)):
            raise ValueError(
                f"spec.target_columns is {columns}: give each column once, in increasing order"
            )
        if self.spec.auto and columns and len(columns) < series.shape[1]:
            raise ValueError(
                "`auto` compares multi-step forecasts, which need a model predicting every "
                "column: drop spec.target_columns or choose the architecture and transforms"
            )
        for column in columns:
            if not 0 <= column < series.shape[1]:
                raise ValueError(
                    f"spec.target_columns has {column}, series has columns 0..{series.shape[1] - 1}"
                )
        if self.test_series is not None:
            test = as_2d(self.test_series)
            _check_limits(test, "test_series")
            if test.shape[1] != series.shape[1]:
                raise ValueError(
                    f"test_series has {test.shape[1]} features, series has {series.shape[1]}"
                )
            # With `auto`, a kept network may difference more than the spec says: the test
            # series must give it a window too, or the ensemble is scored on nothing.
            used = _largest_lag(self.spec, series)
            if len(test) < used + window.length + 1:
                after = f", after the {used} rows the transforms use up" if used else ""
                candidates = " (of the largest `auto` candidate)" if self.spec.auto else ""
                raise ValueError(
                    f"test_series has {len(test)} rows; spec.window.length {window.length} "
                    f"needs at least {used + window.length + 1}{after}{candidates}"
                )
            check_transformable(test, self.spec.chain, "test_series")
        return count

    def _check_inputs(self) -> None:
        assert self.inputs is not None and self.targets is not None
        if self.test_series is not None:
            raise ValueError("a model trained on `inputs` is tested on `test_inputs`")
        if self.spec.target_columns is not None:
            raise ValueError("spec.target_columns applies to `series`; `targets` are given as is")
        normalized = self.spec.window_normalization not in (None, "none")
        if self.spec.transforms or self.spec.auto or normalized:
            raise ValueError(
                "spec.transforms, `auto` and spec.window_normalization apply to `series`; "
                "ready-made `inputs` are used as given"
            )
        if len(self.inputs) > get_settings().max_windows:
            raise ValueError(
                f"inputs has {len(self.inputs)} windows, the limit is {get_settings().max_windows}"
            )
        _check_limits(self.inputs.reshape(-1, self.inputs.shape[-1]), "inputs")
        _check_targets(self.inputs, self.targets, names=("inputs", "targets"))
        if self.test_inputs is not None and self.test_targets is not None:
            _check_targets(
                self.test_inputs, self.test_targets, names=("test_inputs", "test_targets")
            )
            if self.test_inputs.shape[1:] != self.inputs.shape[1:]:
                raise ValueError(
                    f"test_inputs windows are {list(self.test_inputs.shape[1:])} "
                    f"(timesteps, features), inputs windows are {list(self.inputs.shape[1:])}"
                )
            if as_2d(self.test_targets).shape[1] != as_2d(self.targets).shape[1]:
                raise ValueError("test_targets and targets have different numbers of outputs")


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
        default=0, ge=0, description="Trained on the series less its last rows (auto's tail)."
    )


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
        description="Seconds spent fitting networks: with `auto`, every candidate's and "
        "retraining's (the parts of the whole are in `timings`)."
    )
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="Seconds by part: `fitting` (or, with `auto`, `comparing` candidates and "
        "`retraining` the best), `measuring` (metrics and interval calibration), `saving` "
        "(the files and exports), and `total`, from the start of training to the version "
        "stored.",
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

    @property
    def preprocessings(self) -> list[Preprocessing]:
        """The version's own preprocessing and its ensemble members', in member order."""
        return [self.preprocessing, *(m.preprocessing for m in self.ensemble)]


class TrainResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_name": "sine",
                    "version": 1,
                    "input_shape": [20, 1],
                    "metrics": {
                        "train_mse": 4.2e-07,
                        "train_naive_mse": 0.1217,
                        "test_mse": 4.1e-07,
                        "naive_mse": 0.123,
                    },
                    "history": {"loss": [0.52, 0.31, 0.12]},
                    "epochs_run": 3,
                    "stop_reason": "epochs",
                    "train_seconds": 2.1,
                    "created_at": "2026-11-28T12:00:00Z",
                }
            ]
        }
    )

    model_name: str
    version: int
    input_shape: tuple[int, int]
    metrics: Metrics
    history: History
    epochs_run: int
    stop_reason: CardStopReason
    train_seconds: float
    timings: dict[str, float] = Field(default_factory=dict)
    created_at: datetime
    spec: TrainSpec | None = Field(
        default=None, description="The spec trained: with `auto`, the winning choices."
    )
    leaderboard: list[Candidate] | None = None
    statistical: list[Statistical] | None = None

    @classmethod
    def from_card(cls, card: ModelCard) -> TrainResult:
        return cls.model_validate(card.model_dump(include=set(cls.model_fields)))


class ForecastRequest(BaseModel):
    """One-step forecasts for every window of a series (or for given windows), and optionally
    `horizon` steps past the end of the series."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="forbid",
        json_schema_extra={
            "examples": [{"model_name": "sine", "series": EXAMPLE_TEST_SERIES, "horizon": 20}]
        },
    )

    model_name: ModelName
    version: int | None = Field(default=None, ge=1, description="Default: the latest version.")
    series: Series | None = Field(
        default=None, description="History, at least one window long; windowed like training."
    )
    inputs: Inputs | None = Field(default=None, description="(batch, timesteps, features).")
    targets: Targets | None = Field(
        default=None, description="Actuals for `inputs`; with them the response has `mse`."
    )
    horizon: int = Field(
        default=0, ge=0, description="Steps to forecast past the end of `series`, recursively."
    )
    stride: int = Field(default=1, ge=1, description="Step between the windows cut from `series`.")
    levels: list[Annotated[float, Field(gt=0, lt=100)]] | None = Field(
        default=None,
        max_length=10,
        description="Prediction interval levels in percent (e.g. [80, 95]) for the horizon "
        "forecast: split-conformal, from the errors stored with the model at training time.",
    )

    @model_validator(mode="before")
    @classmethod
    def _data_forms(cls, data: Any) -> Any:
        if isinstance(data, dict):
            _one_form(data, targets_required=False)
        return data

    @model_validator(mode="after")
    def _shapes(self) -> ForecastRequest:
        settings = get_settings()
        if self.horizon > settings.max_horizon:
            raise ValueError(f"horizon is {self.horizon}, the limit is {settings.max_horizon}")
        if self.levels and not self.horizon:
            raise ValueError("levels are for the horizon forecast: give a horizon too")
        if self.inputs is not None:
            if self.horizon:
                raise ValueError("horizon needs `series`: there is no end to forecast past")
            if len(self.inputs) > settings.max_windows:
                raise ValueError(
                    f"inputs has {len(self.inputs)} windows, the limit is {settings.max_windows}"
                )
            if self.targets is not None:
                _check_targets(self.inputs, self.targets, names=("inputs", "targets"))
        if self.series is not None:
            _check_limits(as_2d(self.series), "series")
        return self


Values = list[float] | list[list[float]]


class Interval(BaseModel):
    level: float
    lower: Values
    upper: Values


class ForecastResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_name": "sine",
                    "version": 1,
                    "predictions": [0.894, 0.688, 0.393],
                    "mse": 4.1e-07,
                    "naive_mse": 0.123,
                    "forecast": [-0.873, -0.533],
                }
            ]
        }
    )

    model_name: str
    version: int
    predictions: Values = Field(
        description="One-step predictions, one per window: a number per window for a model with "
        "one target, else a list per window."
    )
    mse: float | None = Field(description="Against the actuals, when there were any.")
    naive_mse: float | None = Field(
        default=None, description="The last-value baseline on the same points (series only)."
    )
    seasonal_naive_mse: float | None = Field(
        default=None, description="The value one season back, when the model knows its season."
    )
    drift_mse: float | None = Field(
        default=None, description="The line through the first and the last value before each."
    )
    skill: float | None = Field(
        default=None, description="mse over the best baseline's: below 1, the model helps."
    )
    forecast: Values | None = Field(
        default=None, description="`horizon` steps past the end of the series."
    )
    intervals: list[Interval] | None = Field(
        default=None, description="Lower and upper bounds per horizon step, per level asked."
    )


class VersionStatus(StrEnum):
    ok = "ok"
    broken = "broken"


class VersionPublic(BaseModel):
    model_name: str
    version: int
    status: VersionStatus
    error: str | None = None
    card: ModelCard | None = None


class ModelPublic(BaseModel):
    model_name: str
    latest_version: int | None
    created_at: datetime | None = Field(description="When the latest version was trained.")
    versions: int


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int


class ModelDetail(BaseModel):
    model_name: str
    versions: list[VersionPublic]


class Deleted(BaseModel):
    model_name: str
    versions: list[int]


class JobAccepted(BaseModel):
    job_id: str
    status_url: str


class JobProgress(BaseModel):
    epoch: int
    total: int
    loss: float
    val_loss: float | None = None
    elapsed: float
    origin: int | None = Field(
        default=None, description="Refit backtests: the origin being trained (from 1)."
    )
    origins: int | None = Field(default=None, description="Refit backtests: how many origins.")
    network: int | None = Field(
        default=None,
        description="Several trainings in one job (`auto`'s candidates, then its retrainings; "
        "an ensemble's networks at each refit origin): the one running (from 1).",
    )
    networks: int | None = Field(default=None, description="How many trainings `stage` has.")
    stage: str | None = Field(
        default=None,
        description="What they are: `comparing candidates`, `retraining the best`, "
        "`retraining the ensemble`.",
    )


class JobError(BaseModel):
    code: str
    message: str
    field: str | None = None


class JobPublic(BaseModel):
    job_id: str
    model_name: str
    status: JobStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    kind: Literal["train", "backtest", "upload"] = "train"
    progress: JobProgress | None = None
    result: TrainResult | None = Field(default=None, description="A finished training job's.")
    backtest: BacktestResult | None = Field(
        default=None, description="A finished backtest job's (`refit`)."
    )
    error: JobError | None = None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class BacktestRequest(BaseModel):
    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"model_name": "sine", "series": EXAMPLE_TEST_SERIES, "horizon": 10, "origins": 20}
            ]
        },
    )

    model_name: ModelName
    version: int | None = Field(default=None, ge=1, description="Default: the latest version.")
    series: Series = Field(description="The series to backtest on, history and all.")
    horizon: int = Field(ge=1, le=1000, description="Steps forecast from each origin.")
    origins: int = Field(default=10, ge=1, le=500, description="How many of the last origins.")
    season_length: int | None = Field(
        default=None, ge=2, description="For seasonal naive and MASE. Default: the model's."
    )
    refit: bool = Field(
        default=False,
        description="Train the version's spec afresh on the history before each origin (same "
        "seed), instead of forecasting with the stored model: one training per origin, run as "
        "a job in a training worker. At most FORECAST_MAX_REFIT_ORIGINS origins.",
    )
    run_async: bool = Field(
        default=False,
        alias="async",
        description="With `refit`: return 202 with a job id at once instead of waiting.",
    )

    @model_validator(mode="after")
    def _limits(self) -> BacktestRequest:
        _check_limits(as_2d(self.series), "series")
        settings = get_settings()
        if self.origins * self.horizon > settings.max_horizon:
            raise ValueError(
                f"origins x horizon is {self.origins * self.horizon}, the limit is "
                f"{settings.max_horizon} (FORECAST_MAX_HORIZON)"
            )
        if self.refit and self.origins > settings.max_refit_origins:
            raise ValueError(
                f"origins is {self.origins}; a refit backtest trains once per origin, the limit "
                f"is {settings.max_refit_origins} (FORECAST_MAX_REFIT_ORIGINS)"
            )
        if self.run_async and not self.refit:
            raise ValueError("`async` applies to refit backtests only (the others are quick)")
        return self


class BacktestResult(BaseModel):
    model_name: str
    version: int
    horizon: int
    origins: list[int] = Field(description="Origin indices: forecasts start at series[origin].")
    refit: bool = Field(default=False, description="Whether the model was retrained per origin.")
    model: Scores
    baselines: dict[str, Scores] = Field(description="naive, drift, and seasonal_naive if known.")
    skill: float | None = Field(description="Model MSE over the best baseline's.")
