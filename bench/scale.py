"""The scaled topology measured, one run: training throughput and queueing overhead of the
local backend against Celery workers, /forecast latency while workers train, and the cost of
the per-request checks the shared store and job state add.

Starts real processes on 127.0.0.1 (the API server, `forecast-service worker`s) on a fresh
store, over the machine's Redis (a database and key prefix of its own, deleted after):

- trainings per minute: 12 lecture-sized jobs (the windowed LSTM(4) of the lecture, service
  defaults) queued at once, with the local backend (one training worker), Celery with one
  worker process and with two;
- queueing overhead: the median of sequential small synchronous /train calls (5 epochs),
  Celery against local (target: within 10%);
- /forecast p99 through `wrk` (Debian's `wrk`: `apt-get install -y wrk`) while both workers
  train, against idle (target: at most 2x);
- the per-operation cost of the job state (SQLite, Redis) and of the model cache's check that
  a version still exists.

    .venv/bin/python bench/scale.py [--jobs 12] [--small 7] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.jobs import Job, JobStatus  # noqa: E402
from service.jobs.redis_state import RedisJobState  # noqa: E402
from service.jobs.sqlite_state import SqliteJobState  # noqa: E402
from service.jobs.state import JobState, Start  # noqa: E402
from service.schemas.common import EXAMPLE_SERIES, EXAMPLE_TEST_SERIES  # noqa: E402
from service.store.local import ModelStore  # noqa: E402
from tests.cluster import (  # noqa: E402
    api_server,
    celery_env,
    celery_worker,
    redis_prefix,
    stop,
    wait_ready,
)
from tests.utils import wait_for  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/14"
LECTURE = {"series": EXAMPLE_SERIES, "test_series": EXAMPLE_TEST_SERIES,
           "spec": {"architecture": "lstm", "window": {"length": 20}}}  # fmt: skip
SMALL = {**LECTURE, "spec": {"architecture": "lstm", "units": 4, "window": {"length": 20},
                             "epochs": 5}}  # fmt: skip
LONG = {**LECTURE, "spec": {"architecture": "lstm", "window": {"length": 20}, "epochs": 20_000,
                            "batch_size": 10, "tolerance": None,
                            "early_stopping_patience": None}}  # fmt: skip


@contextmanager
def deployment(folder: Path, name: str, *, workers: int) -> Iterator[str]:
    """An API server on a fresh store: local backend (workers=0) or Celery with `workers`."""
    store = folder / name
    prefix = redis_prefix()
    if workers:
        env = celery_env(store, REDIS_URL, prefix)
    else:
        env = {**celery_env(store, REDIS_URL, prefix), "FORECAST_JOBS_BACKEND": "local"}
    processes = [celery_worker(env, folder / f"{name}-w{i}.log") for i in range(workers)]
    api, base = api_server(env, folder / f"{name}-api.log")
    processes.append(api)
    try:
        wait_ready(base, api, folder / f"{name}-api.log", workers=bool(workers))
        _train(base, "warm", SMALL)  # every worker process imports TensorFlow once
        if workers > 1:
            _all_at_once(base, "warm", SMALL, count=4 * workers)
        yield base
    finally:
        for process in processes:
            stop(process)
        _forget(prefix)


def _train(base: str, name: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    answer = httpx.post(base + "/train", json={"model_name": name, **body}, timeout=600)
    assert answer.status_code == 201, answer.text
    return time.perf_counter() - started


def _all_at_once(base: str, name: str, body: dict[str, Any], *, count: int) -> float:
    """Seconds until `count` jobs queued at once have all succeeded."""
    started = time.perf_counter()
    ids = [_queue(base, name, body) for _ in range(count)]

    def done() -> bool:
        jobs = {j["job_id"]: j["status"] for j in httpx.get(base + "/jobs").json()["data"]}
        assert not {jobs[i] for i in ids} & {"failed", "cancelled"}, jobs
        return all(jobs[i] == "succeeded" for i in ids)

    wait_for(done, timeout=1800, what="the jobs", every=0.2)
    return time.perf_counter() - started


def _queue(base: str, name: str, body: dict[str, Any]) -> str:
    answer = httpx.post(base + "/train", json={"model_name": name, **body, "async": True})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def throughput(base: str, jobs: int) -> float:
    return jobs / (_all_at_once(base, "lecture", LECTURE, count=jobs) / 60)


def small_sync(base: str, count: int) -> float:
    return statistics.median(_train(base, "small", SMALL) for _ in range(count))


def p99_ms(base: str, seconds: int, folder: Path) -> float:
    body = {"model_name": "warm", "series": EXAMPLE_TEST_SERIES[:21]}
    script = folder / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    done = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", str(script), base + "/forecast"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "Non-2xx" not in done.stdout, done.stdout
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", done.stdout).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def while_training(base: str, measure: Callable[[], float]) -> float:
    """`measure()` while both workers train (four long jobs queued), then cancel them."""
    ids = [_queue(base, "busy", LONG) for _ in range(4)]
    try:
        wait_for(lambda: sum(_status(base, i) == "running" for i in ids) == 2, timeout=300,
                 what="two jobs to run")  # fmt: skip
        time.sleep(2)  # into their training loops
        return measure()
    finally:
        for job_id in ids:
            httpx.post(f"{base}/jobs/{job_id}/cancel")


def _status(base: str, job_id: str) -> str:
    return str(httpx.get(f"{base}/jobs/{job_id}").json()["status"])


def _forget(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


# Per-operation costs, in this process


def per_call_us(call: Callable[[int], object], count: int = 2000) -> float:
    started = time.perf_counter()
    for index in range(count):
        call(index)
    return (time.perf_counter() - started) / count * 1e6


def state_costs(state: JobState) -> dict[str, float]:
    ids = [f"j{i}" for i in range(2000)]
    add = per_call_us(lambda i: state.add(Job(ids[i], "m")))
    start = per_call_us(lambda i: state.start(ids[i], worker="h:1", max_attempts=1) is Start.run)
    progress = per_call_us(lambda i: state.progress(ids[i], {"epoch": i, "loss": 0.1}))
    get = per_call_us(lambda i: state.get(ids[i]))
    cancel_check = per_call_us(lambda i: state.cancel_requested(ids[i]))
    finish = per_call_us(lambda i: state.finish(ids[i], JobStatus.succeeded, card={"v": i}))
    return {"add": add, "start": start, "progress": progress, "get": get,
            "cancel check": cancel_check, "finish": finish}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--small", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    results: dict[str, float] = {}
    with deployment(folder, "local", workers=0) as base:
        results["local"] = throughput(base, args.jobs)
        results["local small"] = small_sync(base, args.small)
    with deployment(folder, "celery1", workers=1) as base:
        results["celery 1"] = throughput(base, args.jobs)
        results["celery small"] = small_sync(base, args.small)
    with deployment(folder, "celery2", workers=2) as base:
        results["celery 2"] = throughput(base, args.jobs)
        results["idle p99"] = p99_ms(base, args.seconds, folder)
        results["busy p99"] = while_training(base, lambda: p99_ms(base, args.seconds, folder))
    print_tables(results, args, micro(folder))
    shutil.rmtree(folder, ignore_errors=True)
    redis.Redis.from_url(REDIS_URL).flushdb()  # Celery's own keys in the bench's database


def micro(folder: Path) -> dict[str, dict[str, float]]:
    costs = {"SQLite (local)": state_costs(SqliteJobState(folder / "micro" / "jobs.sqlite3",
                                                          keep_finished=10_000))}  # fmt: skip
    redis_state = RedisJobState(REDIS_URL, prefix=redis_prefix(), keep_finished=10_000)
    costs["Redis (celery)"] = state_costs(redis_state)
    _forget(redis_state.prefix)
    store = ModelStore(folder / "micro-store")
    (store.root / "m" / "1").mkdir(parents=True)
    costs["store"] = {
        "version still there (stat)": per_call_us(lambda i: store.has_version("m", 1))
    }
    return costs


def print_tables(results: dict[str, float], args: argparse.Namespace,
                 costs: dict[str, dict[str, float]]) -> None:  # fmt: skip
    local = results["local"]
    print(f"\n{args.jobs} lecture-sized trainings queued at once (LSTM(4), window 20, service "
          "defaults), one run on this machine:\n")  # fmt: skip
    print("| measure | value | ratio | target |\n| --- | --- | --- | --- |")
    print(f"| trainings/min, local backend (1 training worker) | {local:.1f} | 1.00 | |")
    for n in (1, 2):
        value = results[f"celery {n}"]
        print(f"| trainings/min, Celery, {n} worker process{'es' * (n > 1)} | {value:.1f} | "
              f"{value / local:.2f} | |")  # fmt: skip
    overhead = results["celery small"] / results["local small"]
    print(f"| small synchronous /train, median of {args.small}: local | "
          f"{results['local small'] * 1000:.0f} ms | 1.00 | |")  # fmt: skip
    print(f"| the same through Celery | {results['celery small'] * 1000:.0f} ms | "
          f"{overhead:.2f} | within 1.10 |")  # fmt: skip
    busy = results["busy p99"] / results["idle p99"]
    print(f"| /forecast p99 (wrk, 1 window, 8 connections, {args.seconds} s), idle | "
          f"{results['idle p99']:.2f} ms | 1.00 | |")  # fmt: skip
    print(f"| the same while two workers train | {results['busy p99']:.2f} ms | {busy:.2f} | "
          "at most 2 |")  # fmt: skip
    print("\nPer operation, microseconds (2000 calls each, in this process):\n")
    for name, ops in costs.items():
        print(f"| {name} | " + " | ".join(f"{op} {us:.0f}" for op, us in ops.items()) + " |")


if __name__ == "__main__":
    main()
