"""Job state in SQLite under the store root, for the local backend: every API process on the
machine (uvicorn --workers N) and its training workers read and write the one file.

WAL mode lets readers go on while a writer commits; each transition is one UPDATE guarded by
the current status, so SQLite's write lock makes it compare-and-set. Measured in bench/scale.py
(sub-millisecond per operation); a job writes a few rows plus one per chunk of epochs.
SQLite's locking needs a local filesystem: several machines share job state through Redis.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.errors import JobNotFound
from service.jobs.record import NOT_RUN, Job, bucket_of
from service.jobs.state import KEEP_FINISHED, Outcomes, Start, from_fields, to_fields
from service.jobs.status import FINISHED, UNFINISHED, JobStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL, model_name TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT, started_at TEXT, finished_at TEXT,
    progress TEXT, card TEXT, backtest TEXT, error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT, owner TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE TABLE IF NOT EXISTS outcomes (
    status TEXT NOT NULL, key TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (status, key)
);
"""
_FINISHED = tuple(s.value for s in FINISHED)
_UNFINISHED = tuple(s.value for s in UNFINISHED)


class SqliteJobState:
    def __init__(self, path: Path, *, keep_finished: int = KEEP_FINISHED) -> None:
        self.path = path
        self.keep_finished = keep_finished
        self._local = threading.local()  # a connection per thread: sqlite3 wants that
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db().executescript(_SCHEMA)  # IF NOT EXISTS: any process may be first

    def add(self, job: Job) -> None:
        fields = to_fields(job)
        names = ", ".join(fields)
        marks = ", ".join("?" * len(fields))
        with self._transaction() as db:
            db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", list(fields.values()))

    def get(self, job_id: str) -> Job:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"job {job_id!r} does not exist", field="job_id")
        return _job(row)

    def recent(self) -> list[Job]:
        rows = self._db().execute("SELECT * FROM jobs ORDER BY seq DESC").fetchall()
        return [_job(row) for row in rows]

    def page(self, *, status: JobStatus | None, limit: int, offset: int) -> tuple[list[Job], int]:
        where, args = ("WHERE status = ?", [status.value]) if status else ("", [])
        db = self._db()
        total = int(db.execute(f"SELECT count(*) FROM jobs {where}", args).fetchone()[0])
        query = f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ? OFFSET ?"
        rows = db.execute(query, [*args, limit, offset]).fetchall()
        return [_job(row) for row in rows], total

    def unfinished(self) -> list[Job]:
        query = f"SELECT * FROM jobs WHERE status IN {_UNFINISHED} ORDER BY seq"
        return [_job(row) for row in self._db().execute(query).fetchall()]

    def counts(self) -> dict[JobStatus, int]:
        rows = self._db().execute("SELECT status, count(*) FROM jobs GROUP BY status")
        found = {JobStatus(status): count for status, count in rows}
        return {status: found.get(status, 0) for status in JobStatus}

    def outcomes(self) -> Outcomes:
        result: Outcomes = {}
        for status, key, value in self._db().execute("SELECT * FROM outcomes"):
            result.setdefault(status, {})[key] = value
        return result

    def start(
        self, job_id: str, *, worker: str, max_attempts: int, node: str | None = None
    ) -> Start:
        """`node` is Celery's; here the jobs of a dead API process are failed by its owner's
        survivors (local.py), which know its pid."""
        now = _now()
        with self._transaction() as db:
            row = db.execute("SELECT status, attempts FROM jobs WHERE id = ?", (job_id,))
            found = row.fetchone()
            if found is None or found["status"] in _FINISHED:
                return Start.skip
            if found["status"] == "running" and found["attempts"] >= max_attempts:
                return Start.exhausted
            db.execute(
                "UPDATE jobs SET status = 'running', worker = ?, started_at = ?, "
                "attempts = attempts + 1 WHERE id = ?",
                (worker, now, job_id),
            )
        return Start.run

    def progress(self, job_id: str, progress: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'",
                (json.dumps(progress), job_id),
            )

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        card: dict[str, Any] | None = None,
        backtest: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        done = Job(job_id, "", status=status, card=card, backtest=backtest, error=error)
        fields = {k: v for k, v in to_fields(done).items() if k in ("card", "backtest", "error")}
        sets = "".join(f", {name} = ?" for name in fields)
        with self._transaction() as db:
            changed = db.execute(
                f"UPDATE jobs SET status = ?, finished_at = ?{sets} "
                f"WHERE id = ? AND status IN {_UNFINISHED}",
                (status.value, _now(), *fields.values(), job_id),
            ).rowcount
            if changed:
                self._observe(db, _job(self._row(db, job_id)))
                self._forget_old(db)
        return bool(changed)

    def cancel(self, job_id: str) -> Job:
        with self._transaction() as db:
            job = _job(self._row(db, job_id))
            if job.status is JobStatus.queued:
                # Still queued, so no worker has it: it is cancelled here and now. The worker
                # that later takes it off the queue finds it finished and skips it.
                self._cancel_queued(db, job_id, NOT_RUN)
            elif job.status is JobStatus.running:
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            return _job(self._row(db, job_id))

    def forget(self, job_id: str) -> None:
        with self._transaction() as db:
            db.execute(f"DELETE FROM jobs WHERE id = ? AND status NOT IN {_UNFINISHED}", (job_id,))

    def cancel_requested(self, job_id: str) -> bool:
        row = self._db().execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
        found = row.fetchone()
        return found is None or bool(found[0])

    # Internals

    def _cancel_queued(self, db: sqlite3.Connection, job_id: str, error: dict[str, Any]) -> None:
        db.execute(
            "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = ?, "
            "error = ? WHERE id = ?",
            (_now(), json.dumps(error), job_id),
        )
        self._observe(db, _job(self._row(db, job_id)))

    def _row(self, db: sqlite3.Connection, job_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None:
            raise JobNotFound(f"job {job_id!r} does not exist", field="job_id")
        return row

    def _observe(self, db: sqlite3.Connection, job: Job) -> None:
        seconds = job.duration or 0.0
        for key, value in (("count", 1.0), ("sum", seconds), (bucket_of(seconds), 1.0)):
            db.execute(
                "INSERT INTO outcomes VALUES (?, ?, ?) "
                "ON CONFLICT (status, key) DO UPDATE SET value = value + excluded.value",
                (job.status.value, key, value),
            )

    def _forget_old(self, db: sqlite3.Connection) -> None:
        db.execute(
            f"DELETE FROM jobs WHERE status IN {_FINISHED} AND seq <= (SELECT seq FROM jobs "
            f"WHERE status IN {_FINISHED} ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (self.keep_finished,),
        )

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # Autocommit; transitions open their own write transaction (BEGIN IMMEDIATE).
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across a process crash
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _job(row: sqlite3.Row) -> Job:
    return from_fields(dict(row))


def _now() -> str:
    return datetime.now(UTC).isoformat()
