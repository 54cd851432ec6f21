"""POST /backtest: the request (its shape rules) and the scores."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.forecasting.spec import JsonBool, JsonInt
from service.schemas.common import EXAMPLE_TEST_SERIES, BodyVersionRef, ModelName, Series
from service.schemas.dates import Dated


class BacktestRequest(Dated):
    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"model_name": "sine", "series": EXAMPLE_TEST_SERIES, "horizon": 10, "origins": 20}
            ],
            # `async` is for refit backtests only.
            "anyOf": [
                {"properties": {"async": {"const": False}}},
                {"required": ["refit"], "properties": {"refit": {"const": True}}},
            ],
        },
    )

    model_name: ModelName
    version: BodyVersionRef | None = Field(
        default=None, description="A version number or an alias. Default: the latest version."
    )
    series: Series = Field(description="The series to backtest on, history and all.")
    horizon: JsonInt = Field(ge=1, le=1000, description="Steps forecast from each origin.")
    origins: JsonInt = Field(default=10, ge=1, le=500, description="How many of the last origins.")
    season_length: JsonInt | None = Field(
        default=None, ge=2, description="For seasonal naive and MASE. Default: the model's."
    )
    refit: JsonBool = Field(
        default=False,
        description="Train the version's spec afresh on the history before each origin (same "
        "seed), instead of forecasting with the stored model: one training per origin, run as "
        "a job in a training worker. At most FORECAST_MAX_REFIT_ORIGINS origins.",
    )
    run_async: JsonBool = Field(
        default=False,
        alias="async",
        description="With `refit`: return 202 with a job id at once instead of waiting.",
    )

    @model_validator(mode="after")
    def _refit_only(self) -> BacktestRequest:
        if self.run_async and not self.refit:
            raise ValueError("`async` applies to refit backtests only (the others are quick)")
        return self


class StepScores(BaseModel):
    mse: list[float]
    mae: list[float]
    smape: list[float]
    mase: list[float] | None


class Scores(BaseModel):
    """Per horizon step (index 0 is one step ahead) and overall."""

    per_step: StepScores
    mse: float
    mae: float
    smape: float
    mase: float | None


class BacktestResult(BaseModel):
    model_name: str
    version: int
    horizon: int
    origins: list[int] = Field(description="Origin indices: forecasts start at series[origin].")
    origin_timestamps: list[str] | None = Field(
        default=None, description="With a dated series: the timestamp of each origin."
    )
    refit: bool = Field(default=False, description="Whether the model was retrained per origin.")
    model: Scores
    baselines: dict[str, Scores] = Field(description="naive, drift, and seasonal_naive if known.")
    skill: float | None = Field(description="Model MSE over the best baseline's.")
