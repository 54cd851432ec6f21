"""Logs and metrics: one log line per request with a request id, JSON logs on demand, and
Prometheus metrics at /metrics (requests, latency, training jobs, model cache, stored models)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator, metrics
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("service.access")
REQUEST_ID = "X-Request-ID"
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed with `extra=` become keys."""

    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._standard})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(*, json_format: bool, level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if json_format
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("service")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class RequestLog:
    """Gives every request an id (kept from the client's X-Request-ID when it is sane), returns
    it as a header, and logs method, path, status and duration once the response is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID.lower().encode(), b"").decode("latin-1")
        request_id = given if _SAFE_ID.fullmatch(given) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            access_log.info(
                "%s %s %s %.2fms id=%s",
                scope["method"],
                scope["path"],
                status,
                duration_ms,
                request_id,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                    "request_id": request_id,
                },
            )


class ServiceCollector(Collector):
    """Read at scrape time from the app's state: nothing to keep in sync."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        state = self.app.state
        jobs = GaugeMetricFamily(
            "forecast_training_jobs", "Training jobs known to this process, by state.",
            labels=["state"],
        )  # fmt: skip
        counts = {s: 0 for s in ("queued", "running", "succeeded", "failed", "cancelled")}
        for job in state.jobs.list():
            counts[job.status.value] += 1
        for status, count in counts.items():
            jobs.add_metric([status], count)
        yield jobs
        cache = state.cache
        yield CounterMetricFamily("forecast_model_cache_hits", "Model cache hits.", cache.hits)
        yield CounterMetricFamily(
            "forecast_model_cache_misses", "Model cache misses (loads).", cache.misses
        )
        yield GaugeMetricFamily("forecast_model_cache_models", "Models loaded.", len(cache))
        yield GaugeMetricFamily(
            "forecast_model_cache_bytes", "Bytes of loaded models.", cache.bytes
        )
        stored = sum(1 for name in state.store.names() if state.store.versions(name))
        yield GaugeMetricFamily("forecast_models_stored", "Model names with a version.", stored)


def setup_metrics(app: FastAPI) -> Histogram:
    """Expose /metrics; returns the training-duration histogram for the jobs layer to feed."""
    registry = CollectorRegistry()  # per app: several apps may live in one process (tests)
    instrumentator = Instrumentator(
        should_group_status_codes=False, excluded_handlers=["/metrics"], registry=registry
    )
    instrumentator.add(metrics.requests(registry=registry))
    instrumentator.add(metrics.latency(registry=registry, should_include_status=True))
    text = {200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}}
    instrumentator.instrument(app).expose(
        app, include_in_schema=True, tags=["system"], responses=text
    )
    registry.register(ServiceCollector(app))
    return Histogram(
        "forecast_training_seconds",
        "Wall time of finished training jobs, by outcome.",
        ["status"],
        buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
        registry=registry,
    )
