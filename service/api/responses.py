"""Documented error answers, so the OpenAPI schema lists every status a route can give."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorPublic(BaseModel):
    detail: str
    code: str | None = None


_DESCRIPTIONS = {
    400: "The body is not JSON (or not UTF-8 text).",
    401: "The API key (X-API-Key) is missing or wrong.",
    404: "No such model, version or job.",
    409: "A conflict with the state: a stored version that is broken (its files cannot be "
    "read) or uploaded with no training for what was asked (a loss plot, a refit), a job "
    "cancelled before it finished (`job_cancelled`), or one not finished yet "
    "(`job_unfinished`).",
    413: "The body is larger than FORECAST_MAX_BODY_BYTES.",
    429: "Too many training jobs queued; retry after Retry-After seconds.",
    503: "The job queue (Redis, FORECAST_JOBS_BACKEND=celery) does not answer; retry after "
    "Retry-After seconds. Forecasts are still served.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorPublic, "description": _DESCRIPTIONS[code]} for code in codes}
