"""/jobs: a job's status, progress, result or error."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.jobs.status import JobStatus
from service.schemas.backtest import BacktestResult
from service.schemas.train import TrainResult


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


class JobSummary(BaseModel):
    """A job as GET /jobs lists it: its state, not its result (that is at `url`)."""

    job_id: str
    model_name: str
    kind: Literal["train", "backtest", "upload"] = "train"
    status: JobStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    version: int | None = Field(
        default=None, description="The version a finished training or upload stored."
    )
    progress: JobProgress | None = None
    error: JobError | None = None
    url: str = Field(description="The whole job, with its result: GET it.")


class JobsPublic(BaseModel):
    data: list[JobSummary]
    count: int = Field(description="Jobs that match in all, beyond this page.")
    limit: int
    offset: int
