"""Logs and metrics: one log line per request with a request id, JSON logs on demand, and
Prometheus metrics at /metrics (requests, latency, training jobs, model cache, stored models)."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator, metrics
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import BrokerUnavailable
from service.jobs.backend import JobBackend
from service.jobs.record import DURATION_BUCKETS

access_log = logging.getLogger("service.access")
log = logging.getLogger(__name__)
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
    """Read at scrape time: jobs from the shared job state (the same whichever API process
    answers), the model cache from this process, the store from disk."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        state = self.app.state
        try:
            yield from _job_metrics(state.jobs)
        except BrokerUnavailable:
            log.warning("/metrics without job metrics: the job state does not answer")
        cache = state.cache
        yield CounterMetricFamily(
            "forecast_model_cache_hits", "Model cache hits (this process).", cache.hits
        )
        yield CounterMetricFamily(
            "forecast_model_cache_misses", "Model cache misses, loads (this process).",
            cache.misses,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "forecast_model_cache_models", "Models loaded (this process).", len(cache)
        )
        yield GaugeMetricFamily(
            "forecast_model_cache_bytes", "Bytes of loaded models (this process).", cache.bytes
        )
        stored = sum(1 for name in state.store.names() if state.store.versions(name))
        yield GaugeMetricFamily("forecast_models_stored", "Model names with a version.", stored)


def _job_metrics(jobs: JobBackend) -> Iterator[Metric]:
    counts = GaugeMetricFamily(
        "forecast_training_jobs", "Training jobs kept in the job state, by state.",
        labels=["state"],
    )  # fmt: skip
    for status, count in jobs.counts().items():
        counts.add_metric([status.value], count)
    seconds = HistogramMetricFamily(
        "forecast_training_seconds", "Wall time of finished training jobs, by outcome.",
        labels=["status"],
    )  # fmt: skip
    for outcome_of, outcome in sorted(jobs.outcomes().items()):
        buckets, total = [], 0.0
        for bound in [*(f"{b:g}" for b in DURATION_BUCKETS), "+Inf"]:
            total += outcome.get(bound, 0.0)
            buckets.append((bound, total))
        seconds.add_metric([outcome_of], buckets, sum_value=outcome.get("sum", 0.0))
    yield counts
    yield seconds


def setup_metrics(app: FastAPI) -> None:
    """Expose /metrics. With several API processes (PROMETHEUS_MULTIPROC_DIR set, as
    `forecast-service --workers N` does) the request metrics are every process's, added up by
    prometheus_client's multiprocess collector; the job metrics come from the shared state."""
    registry = CollectorRegistry()  # per app: several apps may live in one process (tests)
    instrumentator = Instrumentator(
        should_group_status_codes=False, excluded_handlers=["/metrics"], registry=registry
    )
    instrumentator.add(metrics.requests(registry=registry))
    instrumentator.add(metrics.latency(registry=registry, should_include_status=True))
    instrumentator.instrument(app)
    exposed = registry
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        exposed = CollectorRegistry()
        multiprocess.MultiProcessCollector(exposed)  # type: ignore[no-untyped-call]
    exposed.register(ServiceCollector(app))

    def scrape() -> Response:
        return Response(generate_latest(exposed), media_type=CONTENT_TYPE_LATEST)

    text: dict[int | str, dict[str, Any]] = {
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}
    }
    app.add_api_route(
        "/metrics", scrape, methods=["GET"], tags=["system"], responses=text,
        summary="Metrics", response_class=Response,
    )  # fmt: skip
