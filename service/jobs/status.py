"""The statuses of a job: one enum that the job layer, the schemas, the metrics and the client
all read. It imports nothing, so the client can use it without the service's dependencies."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled})
UNFINISHED = frozenset({JobStatus.queued, JobStatus.running})
