"""The OpenAPI document as this service, with these settings, behaves: security declared only
where a key is in force, and the `Allow` header of a 405 read from the same document."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from service.api.security import READ_SCHEME, REFIT_SCHEME, WRITE_SCHEME
from service.config import Settings


def openapi_document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's document, with each operation's security cut down to the keys that are set."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        in_force = {
            WRITE_SCHEME: settings.key("write") is not None,
            READ_SCHEME: settings.key("read") is not None,
        }
        for operation in _operations(document):
            _restrict_security(operation, in_force)
        _drop_unused_schemes(document)
        _json_bounds(document)
        _write_limits(document.get("components", {}).get("schemas", {}), settings)
        app.openapi_schema = document
    return app.openapi_schema


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in document.get("paths", {}).values() for op in path.values()]


def _restrict_security(operation: dict[str, Any], in_force: dict[str, bool]) -> None:
    """Keep the requirements whose key is set. A route that needs the write key for some of its
    requests (a refit backtest) has it as an option, beside no key at all, unless reading
    needs a key anyway (which the write key then also is)."""
    schemes = {name for requirement in operation.pop("security", []) for name in requirement}
    security: list[dict[str, list[str]]] = [
        {name: []} for name in (WRITE_SCHEME, READ_SCHEME) if name in schemes
    ]
    security = [r for r in security if all(in_force[name] for name in r)]
    if REFIT_SCHEME in schemes and in_force[WRITE_SCHEME] and not security:
        security = [{}, {WRITE_SCHEME: []}]
    if security:
        operation["security"] = security
    else:
        operation.get("responses", {}).pop("401", None)


def _drop_unused_schemes(document: dict[str, Any]) -> None:
    used = {name for op in _operations(document) for r in op.get("security", []) for name in r}
    schemes = document.get("components", {}).get("securitySchemes", {})
    for name in list(schemes):
        if name not in used:
            del schemes[name]
    if not schemes:
        document.get("components", {}).pop("securitySchemes", None)


# Pydantic writes a bound it cannot fold into the type's own schema (one inside `X | None`
# behind a validator, as service/forecasting/jsontypes.py's numbers are) by its Python name.
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _json_bounds(schema: Any) -> None:
    """Bounds on numbers by their JSON Schema names, in place and at any depth."""
    if isinstance(schema, dict):
        if schema.get("type") in ("integer", "number"):
            for python, keyword in _BOUNDS.items():
                if python in schema:
                    schema[keyword] = schema.pop(python)
        for value in schema.values():
            _json_bounds(value)
    elif isinstance(schema, list):
        for item in schema:
            _json_bounds(item)


def _write_limits(schemas: dict[str, Any], settings: Settings) -> None:
    """The per-field limits of these settings, as maxima: a client sees them before it sends.
    The cross-field one (windows x epochs x units) is in the route's description."""
    limits = {
        ("TrainSpec", "epochs"): settings.max_epochs,
        ("TrainSpec", "units"): settings.max_units,
        ("LayerSpec", "units"): settings.max_units,
        ("ForecastRequest", "horizon"): settings.max_horizon,
    }
    for (schema, field), limit in limits.items():
        _set_maximum(schemas[schema]["properties"][field], "maximum", limit)
    _set_maximum(schemas["TrainSpec"]["properties"]["layers"], "maxItems", settings.max_layers)


def _set_maximum(field: dict[str, Any], keyword: str, limit: int) -> None:
    """On the field's schema, or on the non-null alternative of an optional field."""
    for alternative in field.get("anyOf", [field]):
        if alternative.get("type") != "null":
            alternative[keyword] = min(limit, alternative.get(keyword, limit))


def allowed_methods(document: dict[str, Any], path: str) -> list[str]:
    """The methods the document lists for the operations whose path template matches `path`."""
    methods: set[str] = set()
    for template, operations in document.get("paths", {}).items():
        pattern: re.Pattern[str] = compile_path(template)[0]
        if pattern.match(path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def install_allow_header(app: FastAPI) -> None:
    """Starlette answers a 405 with the methods of the first route that matched the path, but
    GET and DELETE on one path are two routes: the `Allow` header is taken from the document."""

    async def method_not_allowed(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == 405:
            methods = allowed_methods(app.openapi(), request.url.path)
            if methods:
                error.headers = {**(error.headers or {}), "Allow": ", ".join(methods)}
        return await http_exception_handler(request, error)

    app.add_exception_handler(HTTPException, method_not_allowed)
