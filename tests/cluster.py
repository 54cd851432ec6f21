"""Real processes for the scaled topology's tests: API servers, Celery workers, a Redis of a
test's own. Each process logs to a file, shown when a test fails to start it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.utils import FINISHED, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
# The suite's own database on the machine's Redis (127.0.0.1:6379). Every key a session writes
# carries the session's mark (in its prefix, or in kombu's names for a prefixed queue), and the
# session deletes those at its end: suites run side by side (two checkouts) leave each other be.
REDIS_DB = 13
SESSION = f"test-{uuid.uuid4().hex[:8]}"


def redis_prefix() -> str:
    return f"{SESSION}-{uuid.uuid4().hex[:8]}:"


def celery_env(store: Path, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "FORECAST_STORE_ROOT": str(store),
        "FORECAST_JOBS_BACKEND": "celery",
        "FORECAST_REDIS_URL": redis_url,
        "FORECAST_REDIS_PREFIX": prefix,
        "FORECAST_MAX_QUEUED_JOBS": "64",
        **extra,
    }


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process in a session of its own, so that a kill reaches its children too."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def api_server(
    env: dict[str, str], log: Path, *, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "service", "--port", str(port)]
    command += ["--api-processes", str(workers)]
    return spawn(command, env, log), f"http://127.0.0.1:{port}"


def celery_worker(
    env: dict[str, str], log: Path, *, concurrency: int = 1
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "service", "worker", f"--concurrency={concurrency}"]
    return spawn(command, env, log)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_ready(
    base: str, process: subprocess.Popen[bytes], log: Path, *, workers: bool = False
) -> None:
    def ready() -> bool:
        assert process.poll() is None, f"{base} exited:\n{log.read_text()[-3000:]}"
        answer = httpx.get(base + "/ready", timeout=5)
        return answer.status_code == 200 and (not workers or answer.json().get("workers"))

    wait_for(ready, timeout=180, what=f"{base} to be ready", every=0.3)


def job(base: str, job_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{base}/jobs/{job_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def finished_job(base: str, job_id: str, *, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        found = job(base, job_id)
        return found if found["status"] in FINISHED else None

    return dict(wait_for(done, timeout=timeout, what=f"job {job_id} to finish", every=0.2))


def training(base: str, job_id: str, *, timeout: float = 180) -> dict[str, Any]:
    """The job, once it is running and has reported progress (past TensorFlow's import)."""

    def started() -> dict[str, Any] | None:
        found = job(base, job_id)
        return found if found["progress"] and found["status"] == "running" else None

    return dict(wait_for(started, timeout=timeout, what=f"job {job_id} to train"))


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def maps_mention(pid: int, word: str) -> bool:
    return word in Path(f"/proc/{pid}/maps").read_text()


@contextmanager
def redis_server(folder: Path) -> Iterator[RedisServer]:
    server = RedisServer(folder, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


class RedisServer:
    """A Redis of the test's own, on a free port, never the machine's. Its append-only file
    (in the test's temporary folder) lets it be stopped and started again with its data, as
    the compose file's Redis keeps its on a volume."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--dir", str(self.folder), "--daemonize", "no",
        ]  # fmt: skip
        self.process = spawn(command, dict(os.environ), self.folder / "redis.log")
        wait_for(self._answers, timeout=30, what="redis-server to answer")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGKILL)  # as a crash: only the append-only file is left
            self.process = None

    def _answers(self) -> bool:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        return done.stdout.strip() == "PONG"
