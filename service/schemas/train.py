"""POST /train: the request (its shape rules) and the result."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.forecasting.spec import JsonBool, TrainSpec
from service.schemas.common import (
    EXAMPLE_SERIES,
    EXAMPLE_TEST_SERIES,
    Inputs,
    ModelName,
    Series,
    Targets,
    TestInputs,
    TestSeries,
    TestTargets,
    as_rows,
    check_targets,
    data_forms,
    form,
    one_form,
)
from service.schemas.dates import Dated, Gaps, SeasonSource
from service.store.card import Candidate, CardStopReason, History, Metrics, ModelCard, Statistical

Tag = Annotated[str, Field(min_length=1, max_length=64)]
# How much of the loss history an answer carries; the version's card keeps all of it.
HistoryDetail = Literal["full", "summary", "none"]
HISTORY_DETAIL = (
    "The loss history in the answer: `summary` (default) at most 100 epochs, evenly spaced "
    "with the best one, each value's epoch in `history.epochs`; `full` every epoch; `none` "
    "left out. The version's card keeps the whole (GET /models/{name}/versions/{version})."
)


class TrainRequest(Gaps, Dated):
    """Train one model on a series (windowed) or on ready-made windows, and store it.

    Only shapes are checked here; the limits in settings and the rows the transforms use up are
    checked by the training use case (usecases/checks.py) before any work."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="forbid",
        populate_by_name=True,
        json_schema_extra=data_forms(
            form("series", absent=("inputs", "targets", "test_inputs", "test_targets")),
            form(
                "inputs", "targets", absent=("series", "test_series", "test_inputs", "test_targets")
            ),
            form(
                "inputs", "targets", "test_inputs", "test_targets", absent=("series", "test_series")
            ),
            examples=[
                {
                    "model_name": "sine",
                    "series": EXAMPLE_SERIES,
                    "test_series": EXAMPLE_TEST_SERIES,
                    "spec": {"architecture": "lstm", "window": {"length": 20}},
                }
            ],
        ),
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
    run_async: JsonBool = Field(
        default=False,
        alias="async",
        description="Return 202 with a job id at once instead of waiting for the model.",
    )
    description: str | None = Field(
        default=None, max_length=2000, description="A note kept with the version."
    )
    tags: list[Tag] | None = Field(
        default=None, max_length=32, description="Labels kept with the version."
    )
    history: HistoryDetail = Field(default="summary", description=HISTORY_DETAIL)

    @model_validator(mode="before")
    @classmethod
    def _data_forms(cls, data: Any) -> Any:
        if isinstance(data, dict):
            one_form(data, targets_required=True)
            if (data.get("test_inputs") is None) != (data.get("test_targets") is None):
                raise ValueError("`test_targets` goes with `test_inputs`: give both or neither")
        return data

    @model_validator(mode="after")
    def _shapes(self) -> TrainRequest:
        if self.series is not None:
            self._check_series()
        else:
            self._check_inputs()
        return self

    def _check_series(self) -> None:
        assert self.series is not None
        series = as_rows(self.series)
        if self.test_inputs is not None:
            raise ValueError("a model trained on `series` is tested on `test_series`")
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
            test = as_rows(self.test_series)
            if test.shape[1] != series.shape[1]:
                raise ValueError(
                    f"test_series has {test.shape[1]} features, series has {series.shape[1]}"
                )

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
        check_targets(self.inputs, self.targets, names=("inputs", "targets"))
        if self.test_inputs is not None and self.test_targets is not None:
            check_targets(
                self.test_inputs, self.test_targets, names=("test_inputs", "test_targets")
            )
            if self.test_inputs.shape[1:] != self.inputs.shape[1:]:
                raise ValueError(
                    f"test_inputs windows are {list(self.test_inputs.shape[1:])} "
                    f"(timesteps, features), inputs windows are {list(self.inputs.shape[1:])}"
                )
            if as_rows(self.test_targets).shape[1] != as_rows(self.targets).shape[1]:
                raise ValueError("test_targets and targets have different numbers of outputs")


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
    history: History | None
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
    freq: str | None = None
    season_source: SeasonSource | None = None
    missing_filled: int = 0

    @classmethod
    def from_card(cls, card: ModelCard, *, history: HistoryDetail = "summary") -> TrainResult:
        result = cls.model_validate(card.model_dump(include=set(cls.model_fields)))
        if history == "none":
            result.history = None
        elif history == "summary" and result.history is not None:
            result.history = result.history.summary()
        return result
