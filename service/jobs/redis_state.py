"""Job state in Redis, for the Celery backend: every API replica and worker, on any machine,
reads and writes the same hashes.

    <prefix>job:<id>     a hash per job (the fields of `Job`, as strings)
    <prefix>jobs         every kept job, scored by creation time (GET /jobs, newest first)
    <prefix>unfinished   the ids of queued and running jobs
    <prefix>finished     finished jobs, scored by finish time, trimmed to KEEP_FINISHED
    <prefix>outcomes     the training-duration histogram (/metrics), never decremented
    <prefix>workers      Celery worker nodes, scored by their last heartbeat (/ready)

Transitions are Lua scripts, which Redis runs atomically: compare-and-set without a lock.
Any Redis error becomes BrokerUnavailable (503), so a route never answers 500 for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.errors import BrokerUnavailable, JobNotFound, TrainingFailed
from service.jobs.record import DURATION_BUCKETS, NOT_RUN, Job, error
from service.jobs.state import KEEP_FINISHED, Outcomes, Start, from_fields, to_fields
from service.jobs.status import JobStatus

P = ParamSpec("P")
R = TypeVar("R")

# Shared by the scripts that finish a job: one histogram observation, then the finished set
# trimmed (a job past KEEP_FINISHED is forgotten, its hash deleted).
_FINISHED_LUA = """
local function finished(job, id, status, now, keep, prefix, buckets)
  local started = tonumber(redis.call('HGET', job, 't_started') or
                           redis.call('HGET', job, 't_created') or now)
  local seconds = math.max(0, now - started)
  local bucket = '+Inf'
  for i = 1, #buckets, 2 do
    if seconds <= tonumber(buckets[i + 1]) then bucket = buckets[i]; break end
  end
  local outcomes = prefix .. 'outcomes'
  redis.call('HINCRBYFLOAT', outcomes, status .. '|count', 1)
  redis.call('HINCRBYFLOAT', outcomes, status .. '|sum', seconds)
  redis.call('HINCRBYFLOAT', outcomes, status .. '|' .. bucket, 1)
  redis.call('SREM', prefix .. 'unfinished', id)
  redis.call('ZADD', prefix .. 'finished', now, id)
  local excess = redis.call('ZCARD', prefix .. 'finished') - keep
  if excess > 0 then
    for _, old in ipairs(redis.call('ZPOPMIN', prefix .. 'finished', excess)) do
      if _ % 2 == 1 then
        redis.call('DEL', prefix .. 'job:' .. old)
        redis.call('ZREM', prefix .. 'jobs', old)
      end
    end
  end
end
"""

# KEYS: job hash. ARGV: worker, started_at, now, max_attempts, node.
_START = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 'skip' end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if status == 'running' and attempts >= tonumber(ARGV[4]) then return 'exhausted' end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[1], 'started_at', ARGV[2],
           't_started', ARGV[3], 'attempts', attempts + 1, 'node', ARGV[5])
return 'run'
"""

# KEYS: job hash. ARGV: progress. Only while it runs: a late write must not recreate a job
# that was finished and forgotten.
_PROGRESS = """
if redis.call('HGET', KEYS[1], 'status') == 'running' then
  redis.call('HSET', KEYS[1], 'progress', ARGV[1])
end
"""

# KEYS: job hash. ARGV: id, status, finished_at, now, keep, prefix, card, backtest, error,
# then bucket label/bound pairs.
_FINISH = (
    _FINISHED_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'finished_at', ARGV[3])
for i, name in ipairs({'card', 'backtest', 'error'}) do
  if ARGV[6 + i] ~= '' then redis.call('HSET', KEYS[1], name, ARGV[6 + i]) end
end
finished(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6],
         {unpack(ARGV, 10)})
return 1
"""
)

# KEYS: job hash. ARGV: id, finished_at, now, keep, prefix, error, then bucket pairs.
_CANCEL = (
    _FINISHED_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancel_requested', 1,
             'finished_at', ARGV[2], 'error', ARGV[6])
  finished(KEYS[1], ARGV[1], 'cancelled', tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5],
           {unpack(ARGV, 7)})
elseif status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', 1)
end
return status
"""
)

_BUCKETS = [x for b in DURATION_BUCKETS for x in (f"{b:g}", str(b))]


def connect(url: str) -> redis.Redis:
    """A client that gives up fast: a request that needs Redis while it is down should be
    told so in a second, not hang (the connect timeout), nor retry for long."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=10,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def _answering(method: Callable[P, R]) -> Callable[P, R]:
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, RedisJobState)
        with self.answering():
            return method(*args, **kwargs)

    wrapped.__doc__, wrapped.__name__ = method.__doc__, method.__name__
    return wrapped


class RedisJobState:
    def __init__(self, url: str, *, prefix: str = "forecast:", keep_finished: int = KEEP_FINISHED):
        self.url = url
        self.prefix = prefix
        self.keep_finished = keep_finished
        self.redis: redis.Redis = connect(url)
        self._start = self.redis.register_script(_START)
        self._progress = self.redis.register_script(_PROGRESS)
        self._finish = self.redis.register_script(_FINISH)
        self._cancel = self.redis.register_script(_CANCEL)

    @contextmanager
    def answering(self) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise BrokerUnavailable(
                f"the job queue (Redis at {_where(self.url)}) does not answer ({error}); "
                "training and job state are unavailable until it returns, forecasts are "
                "still served"
            ) from None

    @_answering
    def add(self, job: Job) -> None:
        fields = {**to_fields(job), "t_created": str(time.time())}
        with self.redis.pipeline() as pipe:  # MULTI/EXEC: all or nothing
            pipe.hset(self._job(job.id), mapping=fields)  # type: ignore[arg-type]
            pipe.zadd(self.prefix + "jobs", {job.id: time.time()})
            pipe.sadd(self.prefix + "unfinished", job.id)
            pipe.execute()

    @_answering
    def get(self, job_id: str) -> Job:
        fields = cast(dict[str, str], self.redis.hgetall(self._job(job_id)))
        if "id" not in fields:
            raise JobNotFound(f"job {job_id!r} does not exist", field="job_id")
        return from_fields(fields)

    @_answering
    def recent(self) -> list[Job]:
        ids = cast(list[str], self.redis.zrevrange(self.prefix + "jobs", 0, -1))
        return self._jobs(ids)

    @_answering
    def page(self, *, status: JobStatus | None, limit: int, offset: int) -> tuple[list[Job], int]:
        ids = cast(list[str], self.redis.zrevrange(self.prefix + "jobs", 0, -1))
        if status is not None:  # at most KEEP_FINISHED and the unfinished: one round trip
            with self.redis.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hget(self._job(job_id), "status")
                statuses = pipe.execute()
            ids = [i for i, found in zip(ids, statuses, strict=True) if found == status.value]
        return self._jobs(ids[offset : offset + limit]), len(ids)

    @_answering
    def unfinished(self) -> list[Job]:
        ids = cast(set[str], self.redis.smembers(self.prefix + "unfinished"))
        return self._jobs(sorted(ids))

    @_answering
    def counts(self) -> dict[JobStatus, int]:
        ids = cast(list[str], self.redis.zrange(self.prefix + "jobs", 0, -1))
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(self._job(job_id), "status")
            statuses = pipe.execute()
        return {s: sum(found == s.value for found in statuses) for s in JobStatus}

    @_answering
    def outcomes(self) -> Outcomes:
        result: Outcomes = {}
        found = cast(dict[str, str], self.redis.hgetall(self.prefix + "outcomes"))
        for field, value in found.items():
            status, key = field.split("|", 1)
            result.setdefault(status, {})[key] = float(value)
        return result

    @_answering
    def start(
        self, job_id: str, *, worker: str, max_attempts: int, node: str | None = None
    ) -> Start:
        args: list[str | float] = [worker, _now(), time.time(), max_attempts, node or ""]
        return Start(self._start(keys=[self._job(job_id)], args=args))

    @_answering
    def progress(self, job_id: str, progress: dict[str, Any]) -> None:
        self._progress(keys=[self._job(job_id)], args=[json.dumps(progress)])

    @_answering
    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        card: dict[str, Any] | None = None,
        backtest: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        done = to_fields(Job(job_id, "", card=card, backtest=backtest, error=error))
        outcome = [done.get(name, "") for name in ("card", "backtest", "error")]
        args: list[str | float] = [
            job_id, status.value, _now(), time.time(), self.keep_finished, self.prefix
        ]  # fmt: skip
        return bool(self._finish(keys=[self._job(job_id)], args=[*args, *outcome, *_BUCKETS]))

    @_answering
    def cancel(self, job_id: str) -> Job:
        args: list[str | float] = [
            job_id, _now(), time.time(), self.keep_finished, self.prefix, json.dumps(NOT_RUN)
        ]  # fmt: skip
        self._cancel(keys=[self._job(job_id)], args=[*args, *_BUCKETS])
        return self.get(job_id)

    @_answering
    def forget(self, job_id: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(self._job(job_id))
            pipe.zrem(self.prefix + "jobs", job_id)
            pipe.execute()

    @_answering
    def cancel_requested(self, job_id: str) -> bool:
        return self.redis.hget(self._job(job_id), "cancel_requested") != "0"

    # Worker heartbeats (see worker.py) and readiness

    @_answering
    def beat(self, worker: str) -> None:
        self.redis.zadd(self.prefix + "workers", {worker: time.time()})

    @_answering
    def forget_worker(self, worker: str) -> None:
        self.redis.zrem(self.prefix + "workers", worker)

    @_answering
    def workers_alive(self, within: float) -> int:
        """Worker nodes that sent a heartbeat in the last `within` seconds: one command."""
        return int(self.redis.zcount(self.prefix + "workers", time.time() - within, "+inf"))

    @_answering
    def reap(self, silent_for: float) -> list[str]:
        """Fail the running jobs of worker nodes that sent no heartbeat for `silent_for`
        seconds: a node killed whole (its container, its machine) leaves no Celery parent to
        retry or fail them. Its message, redelivered later, finds the job finished."""
        ids = sorted(cast(set[str], self.redis.smembers(self.prefix + "unfinished")))
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(self._job(job_id), ["status", "node"])
            found = pipe.execute()
        raw = self.redis.zrange(self.prefix + "workers", 0, -1, withscores=True)
        beats = dict(cast(list[tuple[str, float]], raw))
        cutoff = time.time() - silent_for
        lost = [
            (job_id, node)
            for job_id, (status, node) in zip(ids, found, strict=True)
            if status == "running" and node and beats.get(node, 0.0) < cutoff
        ]
        for job_id, node in lost:
            message = f"its worker {node} stopped answering (killed, or its machine lost)"
            self.finish(job_id, JobStatus.failed, error=error(TrainingFailed.code, message))
        return [job_id for job_id, _ in lost]

    def _jobs(self, ids: list[str]) -> list[Job]:
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(self._job(job_id))
            found = pipe.execute()
        return [from_fields(fields) for fields in found if "id" in fields]

    def _job(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"


def _where(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path}"


def _now() -> str:
    return datetime.now(UTC).isoformat()
