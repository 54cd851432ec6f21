"""`text/csv` bodies for /train and /forecast: a header row, an optional timestamp column and
value columns, named by query parameters; the other request fields come as query parameters
too. The CSV is turned into the JSON body the route takes, so the same schema, limits and
errors apply; a cell that is not a number is a 422 naming its row and column.

    POST /forecast?model_name=sales&timestamp_column=month&horizon=12
    month,sales
    2024-01-01,112
    ...
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

import pydantic_core
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import QueryParams

from service.api.routing import JsonRoute

# Query parameters taken as they are; the others are read as JSON when they parse (numbers,
# booleans, `spec={"window": ...}`, `levels=[80,95]`).
_TEXT = frozenset({"model_name", "freq", "start", "missing", "description"})
_COLUMNS = frozenset({"timestamp_column", "value_columns"})
_RESERVED = frozenset({"series", "timestamps", "inputs", "targets", "test_series"})


def csv_body(*, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`openapi_extra` documenting the CSV body and the query parameters it comes with."""
    columns = {
        "timestamp_column": {
            "type": "string",
            "description": "CSV only: the column of ISO 8601 timestamps. Default: the first "
            "column when its first cell is not a number, else none (undated).",
        },
        "value_columns": {
            "type": "string",
            "description": "CSV only: the value columns, comma-separated, in order (default: "
            "every column but the timestamp column).",
        },
    }
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": schema.get("description", "CSV only: as the JSON body's field."),
        }
        for name, schema in {**columns, **fields}.items()
    ]
    text = {
        "schema": {"type": "string"},
        "example": "month,sales\n2024-01-01,112\n2024-02-01,118\n",
    }
    return {"requestBody": {"content": {"text/csv": text}}, "parameters": parameters}


def is_csv(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "text/csv"


def csv_to_json(body: bytes, query: QueryParams) -> dict[str, Any]:
    """The JSON body a CSV body and its query parameters stand for."""
    fields = {k: _query_value(k, v) for k, v in query.items() if k not in _COLUMNS and v}
    if "model_name" not in fields:
        _fail("a text/csv body needs the `model_name` query parameter")
    if reserved := _RESERVED & fields.keys():
        _fail(f"{sorted(reserved)[0]} comes in the CSV body, not as a query parameter")
    header, rows = _read(body)
    timestamp = query.get("timestamp_column") or _dates_first(header, rows)
    values = _value_columns(header, query.get("value_columns"), timestamp)
    if timestamp is not None:
        fields["timestamps"] = [row[header.index(timestamp)] for row in rows]
    positions = [header.index(name) for name in values]
    table = [[_cell(row, i, header[c], c) for c in positions] for i, row in enumerate(rows)]
    fields["series"] = [r[0] for r in table] if len(positions) == 1 else table
    return fields


def _query_value(name: str, value: str) -> Any:
    if name in _TEXT:
        return value
    if name == "levels":  # 80,95 or [80,95]
        try:
            return [float(v) for v in value.strip("[]").split(",")]
        except ValueError:
            _fail(f"levels {value!r}: give percentages separated by commas, e.g. 80,95")
    try:
        parsed = json.loads(value)
    except ValueError:
        if name == "spec":
            _fail(f"spec is not JSON: {value[:80]!r}")
        return value
    if name == "spec" and not isinstance(parsed, dict):
        _fail('spec is a JSON object, e.g. {"window": {"length": 12}}')
    return parsed


def _read(body: bytes) -> tuple[list[str], list[list[str]]]:
    try:
        lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as error:
        _fail(f"the CSV body cannot be read: {error}")
    lines = [line for line in lines if line]
    if len(lines) < 2:
        _fail("the CSV body needs a header row and at least one row of values")
    header = [name.strip() for name in lines[0]]
    for i, line in enumerate(lines[1:], start=1):
        if len(line) != len(header):
            _fail(f"row {i} has {len(line)} cells, the header has {len(header)} columns")
    return header, lines[1:]


def _dates_first(header: list[str], rows: list[list[str]]) -> str | None:
    """The first column, when its first cell is not a number: timestamps, as CSVs have them."""
    try:
        float(rows[0][0])
    except ValueError:
        return header[0] if rows[0][0].strip() and len(header) > 1 else None
    return None


def _value_columns(header: list[str], asked: str | None, timestamp: str | None) -> list[str]:
    if timestamp is not None and timestamp not in header:
        _fail(f"timestamp_column {timestamp!r} is not a column of the CSV (it has {header})")
    names = [n.strip() for n in asked.split(",")] if asked else None
    names = names or [n for n in header if n != timestamp]
    for name in names:
        if name not in header:
            _fail(f"value column {name!r} is not a column of the CSV (it has {header})")
    if not names:
        _fail("the CSV has no value column besides the timestamps")
    return names


def _cell(row: list[str], index: int, name: str, column: int) -> float | None:
    """A number, or None for an empty cell (a missing value: `missing=interpolate` fills it)."""
    text = row[column].strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        _fail(f"row {index + 1} (series[{index}]), column {name!r}: {text!r} is not a number")


def _fail(message: str) -> NoReturn:
    # A rule beyond the schema (which can only say "a string"), as a model validator's is.
    raise RequestValidationError([{"loc": ("body", "csv"), "msg": message, "type": "value_error"}])


class CsvRoute(JsonRoute):
    """A JSON route that also takes `text/csv` (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_csv(request: Request) -> Response:
            if is_csv(request.headers.get("content-type")):
                fields = csv_to_json(await request.body(), request.query_params)
                request = _as_json(request, pydantic_core.to_json(fields))
            return await handler(request)

        return with_csv


def _as_json(request: Request, body: bytes) -> Request:
    scope = dict(request.scope)
    kept = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
    scope["headers"] = [
        *kept,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)
