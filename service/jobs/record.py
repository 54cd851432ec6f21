"""The job record: what every API process and worker knows of one job, as the shared job state
holds it (SQLite for the local backend, Redis for Celery)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from service.errors import ERRORS_BY_CODE, TrainingFailed
from service.jobs.status import JobStatus

Kind = Literal["train", "backtest", "upload"]
# Upper bounds (seconds) of the training-duration histogram that /metrics exposes.
DURATION_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


@dataclass
class Job:
    id: str
    model_name: str
    kind: Kind = "train"
    status: JobStatus = JobStatus.queued
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: dict[str, Any] | None = None
    card: dict[str, Any] | None = None  # the stored version's card, once succeeded
    backtest: dict[str, Any] | None = None  # a backtest job's result, once succeeded
    error: dict[str, Any] | None = None  # {code, message, field}, once failed or cancelled
    cancel_requested: bool = False
    attempts: int = 0  # runs started; a run whose worker died may be retried once (Celery)
    worker: str | None = None  # "host:pid" of the process running it
    owner: str | None = None  # "host:pid" of the API process whose pool runs it (local backend)

    def __post_init__(self) -> None:
        self.created_at = self.created_at or datetime.now(UTC)

    @property
    def created(self) -> datetime:
        assert self.created_at is not None, "set on creation"
        return self.created_at

    @property
    def duration(self) -> float | None:
        """Seconds from start (or creation, if it never ran) to finish."""
        if self.finished_at is None:
            return None
        return (self.finished_at - (self.started_at or self.created)).total_seconds()

    @property
    def worker_pid(self) -> int | None:
        return _pid(self.worker)

    def raise_error(self) -> None:
        """Re-raise a failed job's error as the domain error it was in the worker."""
        if self.error is not None:
            cls = ERRORS_BY_CODE.get(self.error["code"], TrainingFailed)
            raise cls(self.error["message"], field=self.error.get("field"))


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field}


NOT_RUN = error("job_cancelled", "cancelled before it ran")


def bucket_of(seconds: float) -> str:
    """The histogram bucket a duration falls in: its upper bound, or +Inf."""
    return next((f"{b:g}" for b in DURATION_BUCKETS if seconds <= b), "+Inf")


def _pid(worker: str | None) -> int | None:
    if not worker:
        return None
    tail = worker.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None
