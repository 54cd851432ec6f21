"""The shared job state: one record per job, read and written by every API process and worker.

Transitions are compare-and-set, so that whoever gets there first decides a job's outcome and
everyone else's write is a no-op: a cancel racing a start, two runs of one Celery message, a
watchdog and a worker both failing a job. Two implementations: SQLite under the store root
(the local backend, one machine) and Redis (the Celery backend, any number of machines).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from service.jobs.record import Job
from service.jobs.status import JobStatus

JSON_FIELDS = ("progress", "card", "backtest", "error")
TIME_FIELDS = ("created_at", "started_at", "finished_at")
# Finished jobs kept for GET /jobs; older ones are forgotten (the store keeps their versions).
KEEP_FINISHED = 200


class Start(Enum):
    """What a worker about to run a job is told."""

    run = "run"
    skip = "skip"  # cancelled while queued, or finished by an earlier run
    exhausted = "exhausted"  # earlier runs died as many times as allowed: fail it


# Per status: "count", "sum" (seconds) and one key per histogram bucket (non-cumulative).
Outcomes = dict[str, dict[str, float]]


class JobState(Protocol):
    def add(self, job: Job) -> None: ...
    def get(self, job_id: str) -> Job: ...
    def recent(self) -> list[Job]: ...  # newest first
    def page(
        self, *, status: JobStatus | None, limit: int, offset: int
    ) -> tuple[list[Job], int]: ...  # newest first, and how many match in all
    def unfinished(self) -> list[Job]: ...
    def counts(self) -> dict[JobStatus, int]: ...
    def outcomes(self) -> Outcomes: ...
    def start(
        self, job_id: str, *, worker: str, max_attempts: int, node: str | None = None
    ) -> Start: ...
    def progress(self, job_id: str, progress: dict[str, Any]) -> None: ...
    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        card: dict[str, Any] | None = None,
        backtest: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool: ...
    def cancel(self, job_id: str) -> Job: ...
    def forget(self, job_id: str) -> None: ...  # a finished job's record
    def cancel_requested(self, job_id: str) -> bool: ...


def to_fields(job: Job) -> dict[str, str]:
    """A job as flat strings (a Redis hash, SQLite columns); None fields are left out."""
    fields: dict[str, str] = {
        "id": job.id,
        "model_name": job.model_name,
        "kind": job.kind,
        "status": job.status.value,
        "cancel_requested": str(int(job.cancel_requested)),
        "attempts": str(job.attempts),
    }
    for name in ("worker", "owner"):
        if (value := getattr(job, name)) is not None:
            fields[name] = value
    for name in TIME_FIELDS:
        if (moment := getattr(job, name)) is not None:
            fields[name] = moment.isoformat()
    for name in JSON_FIELDS:
        if (data := getattr(job, name)) is not None:
            fields[name] = json.dumps(data)
    return fields


def from_fields(fields: Mapping[str, Any]) -> Job:
    present = {k: v for k, v in fields.items() if v not in (None, "")}
    return Job(
        id=str(present["id"]),
        model_name=str(present["model_name"]),
        kind=present.get("kind", "train"),
        status=JobStatus(present["status"]),
        cancel_requested=bool(int(present.get("cancel_requested", 0))),
        attempts=int(present.get("attempts", 0)),
        worker=present.get("worker"),
        owner=present.get("owner"),
        created_at=_moment(present, "created_at"),
        started_at=_moment(present, "started_at"),
        finished_at=_moment(present, "finished_at"),
        progress=_data(present, "progress"),
        card=_data(present, "card"),
        backtest=_data(present, "backtest"),
        error=_data(present, "error"),
    )


def _moment(fields: Mapping[str, Any], name: str) -> datetime | None:
    return datetime.fromisoformat(fields[name]) if name in fields else None


def _data(fields: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    return json.loads(fields[name]) if name in fields else None
