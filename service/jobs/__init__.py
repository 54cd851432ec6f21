"""Training jobs, off the API process: the record and statuses every process shares, one
interface for the routers (`JobBackend`), and two backends behind it.

    local   the embedded default: a pool of spawned workers beside each API process, job state
            in SQLite under the store root (shared by every API process on the machine)
    celery  Celery workers (`forecast-service worker`) on any machine, over Redis: broker and
            job state; any number of API replicas

The interface and the choice between them are in backend.py; this module stays light (the
client imports the statuses from it).
"""

from __future__ import annotations

from service.jobs.record import Job
from service.jobs.status import JobStatus

__all__ = ["Job", "JobStatus"]
