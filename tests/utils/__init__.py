"""Helpers every kind of test shares: request bodies, a listing of the store, a free port, and
waiting for something (a job, a server) without writing the polling loop again."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

FINISHED = frozenset({"succeeded", "failed", "cancelled"})


def sine(n: int = 80, *, step: float = 0.5, start: float = 0.0) -> list[float]:
    return [float(v) for v in np.sin(start + step * np.arange(n))]


def tiny_spec(**overrides: Any) -> dict[str, Any]:
    """A spec that trains in well under a second."""
    spec: dict[str, Any] = {
        "architecture": "lstm",
        "units": 4,
        "window": {"length": 5},
        "epochs": 5,
        "batch_size": 16,
        "learning_rate": 0.01,
    }
    spec.update(overrides)
    return spec


def train_body(name: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_name": name,
        "series": sine(60),
        "test_series": sine(30, start=30.0),
        "spec": tiny_spec(),
    }
    body.update(overrides)
    return body


def store_listing(root: Path) -> list[str]:
    """Every path under the store except temporary and job-flag folders."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if not p.relative_to(root).parts[0].startswith(".")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05) -> Any:
    """Until `check()` is truthy (connection errors count as not yet); returns what it
    returned."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if found := check():
                return found
        except (httpx.TransportError, OSError):
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def wait_for_job(
    client: httpx.Client,
    job_id: str,
    *,
    until: frozenset[str] = FINISHED,
    timeout: float = 180,
    every: float = 0.05,
) -> dict[str, Any]:
    """GET /jobs/{id} until its status is one of `until` (by default: finished)."""

    def reached() -> dict[str, Any] | None:
        answer = client.get(f"/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        return job if job["status"] in until else None

    found: dict[str, Any] = wait_for(reached, timeout=timeout, what=f"job {job_id}", every=every)
    return found
