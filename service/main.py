"""The application: wires the store, the model cache and the training jobs to the routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from service.api.errors import explain
from service.api.middleware import BodySizeLimit, DocsPolicy
from service.api.openapi import install_allow_header, openapi_document
from service.api.routes import backtest, forecast, jobs, models, plots, system, train, upload
from service.config import Settings
from service.errors import BrokerUnavailable, QueueFull, ServiceError, Unauthorized
from service.jobs.backend import open_backend
from service.observability import RequestLog, setup_logging, setup_metrics
from service.serving.cache import ModelCache
from service.store.local import ModelStore

log = logging.getLogger("service")

DESCRIPTION = """
Train Keras recurrent networks (SimpleRNN, LSTM, GRU, Dense stacks) on time series, store every
model as a new version, and serve windowed one-step and recursive multi-step forecasts.

Try it: **POST /train** with the example trains the lecture's LSTM on a sine wave;
**POST /forecast** with its example forecasts the held-out part and 20 steps past it.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    setup_logging(json_format=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = ModelStore(settings.store_root)
        store.open()
        job_manager = open_backend(settings)
        job_manager.start()
        app.state.store = store
        app.state.jobs = job_manager
        app.state.cache = ModelCache(
            store,
            capacity=settings.cache_models,
            max_bytes=settings.cache_bytes,
            combine=settings.combine_requests,
        )
        log.info("serving models from %s", settings.store_root.resolve())
        if settings.key("write") is None:
            log.warning(
                "FORECAST_API_KEY is not set: anyone who can reach this port may train and "
                "delete models"
            )
        try:
            yield
        finally:
            job_manager.shutdown()

    # FastAPIOffline serves the Swagger UI and ReDoc assets from the installed package: the docs
    # page works with no internet access.
    app = FastAPIOffline(
        title="RNN forecasting service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry={key: settings.otel_telemetry for key in ("tracing", "metrics", "logs")},
    )
    app.state.settings = settings
    for module in (train, upload, forecast, backtest, models, plots, jobs, system):
        app.include_router(module.router)
    app.openapi = lambda: openapi_document(app, settings)  # type: ignore[method-assign]
    install_allow_header(app)
    request_metrics = setup_metrics(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(DocsPolicy, paths=("/docs", "/redoc"))
    # Outermost: logs and counts every answer, 413s included.
    app.add_middleware(RequestLog, metrics=request_metrics)
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    return app


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, without echoing the input back: it can be a million numbers, and NaN in it
    cannot even be written as JSON."""
    errors = error.errors()
    # The body itself (its location ends at a character position), not a form field's JSON.
    broken = next(
        (e for e in errors if e.get("type") == "json_invalid" and isinstance(e["loc"][-1], int)),
        None,
    )
    if broken is not None:  # not JSON at all: a bad request, as a body that is not UTF-8 is
        where = broken.get("ctx", {}).get("error", broken.get("msg"))
        message = f"the body is not JSON ({where}, at {broken['loc'][-1]})"
        return JSONResponse({"detail": message, "code": "invalid_json"}, status_code=400)
    detail = explain(errors, request.headers.get("content-type"))
    return JSONResponse({"detail": detail}, status_code=422)


async def _service_error(request: Request, error: ServiceError) -> JSONResponse:
    """One handler for every domain error; 422s look like FastAPI's own validation errors."""
    headers = {"Retry-After": "5"} if isinstance(error, QueueFull | BrokerUnavailable) else None
    if isinstance(error, Unauthorized):
        headers = {"WWW-Authenticate": "X-API-Key"}
    if error.status_code == 422:
        loc = ["body", error.field] if error.field else ["body"]
        detail: object = [{"loc": loc, "msg": error.message, "type": error.code}]
    else:
        detail = error.message
    return JSONResponse(
        {"detail": detail, "code": error.code}, status_code=error.status_code, headers=headers
    )
