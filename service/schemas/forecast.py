"""POST /forecast (and /forecast/plot): the request (its shape rules) and the result."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.forecasting.spec import JsonFloat, JsonInt
from service.schemas.common import (
    EXAMPLE_TEST_SERIES,
    BodyVersionRef,
    Inputs,
    ModelName,
    Series,
    Targets,
    check_targets,
    data_forms,
    form,
    one_form,
)
from service.schemas.dates import Dated

_NO_HORIZON: dict[str, Any] = {
    "horizon": {"maximum": 0},
    "levels": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]},
}


class ForecastRequest(Dated):
    """One-step forecasts for every window of a series (or for given windows), and optionally
    `horizon` steps past the end of the series; with neither `series` nor `inputs`, `horizon`
    steps past the end of the version's training series (kept with it)."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="forbid",
        # The horizon and its levels need a series: with `inputs`, or with no horizon, `levels`
        # are missing, null or empty.
        json_schema_extra=data_forms(
            form(
                "series",
                absent=("inputs", "targets"),
                also={"horizon": {"minimum": 1}},
                needs=("horizon",),
            ),
            form("series", absent=("inputs", "targets"), also=_NO_HORIZON),
            form("inputs", absent=("series",), also=_NO_HORIZON),
            form(
                absent=("series", "inputs", "targets"),
                also={"horizon": {"minimum": 1}},
                needs=("horizon",),
            ),
            examples=[{"model_name": "sine", "series": EXAMPLE_TEST_SERIES, "horizon": 20}],
        ),
    )

    model_name: ModelName
    version: BodyVersionRef | None = Field(
        default=None, description="A version number or an alias. Default: the latest version."
    )
    series: Series | None = Field(
        default=None, description="History, at least one window long; windowed like training."
    )
    inputs: Inputs | None = Field(default=None, description="(batch, timesteps, features).")
    targets: Targets | None = Field(
        default=None, description="Actuals for `inputs`; with them the response has `mse`."
    )
    horizon: JsonInt = Field(
        default=0, ge=0, description="Steps to forecast past the end of `series`, recursively."
    )
    stride: JsonInt = Field(
        default=1, ge=1, description="Step between the windows cut from `series`."
    )
    levels: list[Annotated[JsonFloat, Field(ge=1, lt=100)]] | None = Field(
        default=None,
        max_length=10,
        description="Prediction interval levels in percent, 1 to 99.x (e.g. [80, 95]), for the "
        "horizon forecast: split-conformal, from the errors stored with the model at training "
        "time.",
    )

    @field_validator("levels", mode="before")
    @classmethod
    def _percentages(cls, levels: Any) -> Any:
        """0.9 is almost surely meant as 90: say so rather than answer a 0.9% interval."""
        if isinstance(levels, list):
            for level in levels:
                if type(level) in (int, float) and 0 < level < 1:
                    raise ValueError(
                        f"levels are percentages: {level} would be a {level}% interval; "
                        f"did you mean {level * 100:g}?"
                    )
        return levels

    @model_validator(mode="before")
    @classmethod
    def _data_forms(cls, data: Any) -> Any:
        if isinstance(data, dict):
            one_form(data, targets_required=False, stored=bool(data.get("horizon")))
        return data

    @model_validator(mode="after")
    def _shapes(self) -> ForecastRequest:
        if self.levels and not self.horizon:
            raise ValueError("levels are for the horizon forecast: give a horizon too")
        if self.inputs is not None:
            if self.horizon:
                raise ValueError("horizon needs `series`: there is no end to forecast past")
            if self.targets is not None:
                check_targets(self.inputs, self.targets, names=("inputs", "targets"))
        return self


Values = list[float] | list[list[float]]


class Interval(BaseModel):
    level: float
    lower: Values
    upper: Values
    timestamps: list[str] | None = Field(
        default=None, description="With a dated series: the timestamp of each step."
    )


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
    freq: str | None = Field(default=None, description="With a dated series: its frequency.")
    timestamps: list[str] | None = Field(
        default=None, description="With a dated series: the timestamp each prediction is for."
    )
    forecast_timestamps: list[str] | None = Field(
        default=None, description="With a dated series: the timestamp of each horizon step."
    )
