"""Logs and metrics: one log line per request with a request id, JSON logs on demand, and
Prometheus metrics at /metrics (requests, latency, training jobs, model cache, stored models)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
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
    # No log line reads the thread or process fields: left out, every record (one per request,
    # the access log) costs less to make (the logging module's own advice).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
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
    it as a header, counts it and times it (Prometheus, by route template, method and status),
    and logs method, path, status and duration once the response is sent.

    One plain ASGI layer for all three: prometheus-fastapi-instrumentator, a second layer, cost
    about as much as the rest of the request log (bench/serve_latency.py's note)."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_ID_HEADER, request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe(scope, status, seconds)
            _log_access(scope, status, seconds, request_id.decode())


_ID_HEADER = REQUEST_ID.lower().encode()


def _request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    for key, value in headers:
        if key == _ID_HEADER and _SAFE_ID.fullmatch(value.decode("latin-1")):
            return value
    return b"%s%016x" % (_ID_PREFIX, next(_ID_COUNTER))


# Ids made here: 32 hex digits as uuid4's, a random prefix per process (drawn again in a forked
# child) and a counter, without uuid4's system call and object per request (4% of a one-window
# forecast's samples under py-spy).
def _new_id_source() -> None:
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX, _ID_COUNTER = secrets.token_hex(8).encode(), itertools.count(1)


_ID_PREFIX, _ID_COUNTER = b"", itertools.count(1)
_new_id_source()
os.register_at_fork(after_in_child=_new_id_source)


def _log_access(scope: Scope, status: int, seconds: float, request_id: str) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    method, path, duration_ms = scope["method"], scope["path"], round(seconds * 1000, 2)
    access_log.info(
        "%s %s %s %.2fms id=%s", method, path, status, duration_ms, request_id,
        extra={
            "method": method, "path": path, "status": status, "duration_ms": duration_ms,
            "request_id": request_id,
        },
    )  # fmt: skip


class RequestMetrics:
    """`http_requests_total` and `http_request_duration_seconds` by handler (the route's path
    template, "none" for paths no route matches), method and status: the series
    prometheus-fastapi-instrumentator exposed, under the same names and labels."""

    def __init__(self, registry: CollectorRegistry, *, excluded: tuple[str, ...]) -> None:
        labels = ["method", "status", "handler"]
        self.requests = Counter(
            "http_requests", "Total number of requests by method, status and handler.",
            labels, registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "http_request_duration_seconds", "Duration of HTTP requests in seconds",
            labels, registry=registry,
        )  # fmt: skip
        self.excluded = excluded
        # Children by label values: `labels()` takes a lock and builds a key on every call.
        self._children: dict[tuple[str, int, str], tuple[Counter, Histogram]] = {}

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        handler = getattr(route, "path", None) or "none"
        if handler in self.excluded:
            return
        key = (scope["method"], status, handler)
        children = self._children.get(key)
        if children is None:
            values = (key[0], str(status), handler)
            children = self.requests.labels(*values), self.latency.labels(*values)
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


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


def setup_metrics(app: FastAPI) -> RequestMetrics:
    """Expose /metrics; returns the request metrics for `RequestLog` to record. With several API
    processes (PROMETHEUS_MULTIPROC_DIR set, as `forecast-service --workers N` does) the request
    metrics are every process's, added up by prometheus_client's multiprocess collector; the job
    metrics come from the shared state."""
    registry = CollectorRegistry()  # per app: several apps may live in one process (tests)
    request_metrics = RequestMetrics(registry, excluded=("/metrics",))
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
    return request_metrics
