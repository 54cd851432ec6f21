"""What an upload declares beside its .keras file, and the job that loads it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.forecasting.spec import JsonInt, Scaler, Transform, WindowSpec
from service.schemas.common import ModelName, TestSeries


class UploadSpec(BaseModel):
    """How series become the uploaded model's inputs, as a trained version's card says it: the
    window, the fitted scaling, transforms and window normalisation, the target columns. The
    model must take windows of (`window.timesteps`, features) and give one value per target."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="forbid",
        json_schema_extra={"examples": [{"window": {"length": 20}, "scaling": "none"}]},
    )

    window: WindowSpec = Field(description="How the model's windows were cut from the series.")
    scaling: Scaler | Literal["none"] = Field(
        default="none",
        description="The inputs' fitted scaling, x_scaled = (x - offset) / scale per feature, "
        "or none (the model takes the series as it is).",
    )
    target_scaling: Scaler | None = Field(
        default=None,
        description="The outputs' scaling. Default: `scaling` restricted to the target columns "
        "(the targets are columns of the series).",
    )
    transforms: list[Transform] = Field(
        default_factory=list,
        max_length=4,
        description="Applied to the series before windowing, inverted on every prediction; a "
        "smoothing step needs its `fitted` parameters.",
    )
    window_normalization: Literal["none", "last", "mean"] = Field(
        default="none",
        description="Windows relative to their own last value or mean (per feature); the "
        "prediction is mapped back.",
    )
    target_columns: list[JsonInt] | None = Field(
        default=None,
        min_length=1,
        description="The columns of a 2-D series the model predicts (default: all of them).",
    )
    season_length: JsonInt | None = Field(
        default=None, ge=2, le=10_000, description="For the seasonal naive baseline."
    )
    interval_horizon: JsonInt = Field(
        default=12,
        ge=0,
        le=1000,
        description="Steps ahead for which intervals are calibrated on `test_series` (0: none).",
    )
    calibration_origins: JsonInt = Field(default=30, ge=5, le=1000)
    test_series: TestSeries | None = Field(
        default=None,
        description="A series the model did not train on: metrics and baselines are measured "
        "on it and intervals calibrated from it, as for a trained model.",
    )

    @property
    def x_scaler(self) -> Scaler | None:
        return None if self.scaling == "none" else self.scaling


class UploadRequest(BaseModel):
    """An upload as a job runs it: the archive itself travels with the job (base64 in JSON, for
    Celery), so a worker on another machine needs nothing the API process wrote."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="forbid",
        ser_json_bytes="base64",
        val_json_bytes="base64",
    )

    model_name: ModelName
    archive: bytes
    filename: str | None = None
    spec: UploadSpec
    uploaded_by: str | None = None
