"""API keys: `X-API-Key`, shown in /docs with its Authorize button.

With FORECAST_API_KEY set, training, cancelling and deleting need it; with FORECAST_API_KEY_READ
set, reads and forecasts need that key (or the write key). Keys are compared in constant time.
The two are two security schemes on one header, so that the OpenAPI document can declare each
only where and when it is in force (api/openapi.py).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader

from service.api.deps import SettingsDep
from service.errors import Unauthorized

WRITE_SCHEME, READ_SCHEME, REFIT_SCHEME = "WriteKey", "ReadKey", "WriteKeyForRefit"
write_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name=WRITE_SCHEME,
    auto_error=False,
    description="FORECAST_API_KEY: training, cancelling, deleting (and everything else).",
)
read_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name=READ_SCHEME,
    auto_error=False,
    description="FORECAST_API_KEY_READ: reads and forecasts (the write key does as well).",
)
# A route that checks the write key itself for some requests only (a refit backtest).
refit_key_header = APIKeyHeader(name="X-API-Key", scheme_name=REFIT_SCHEME, auto_error=False)
WriteKeyHeader = Annotated[str | None, Security(write_key_header)]
ReadKeyHeader = Annotated[str | None, Security(read_key_header)]
RefitKeyHeader = Annotated[str | None, Security(refit_key_header)]


def _matches(provided: str | None, expected: str | None) -> bool:
    if provided is None or expected is None:
        return False
    return secrets.compare_digest(provided.encode(), expected.encode())


async def require_write(settings: SettingsDep, provided: WriteKeyHeader) -> None:
    expected = settings.key("write")
    if expected is not None and not _matches(provided, expected):
        raise Unauthorized("this needs the API key (X-API-Key header): missing or wrong")


async def require_read(settings: SettingsDep, provided: ReadKeyHeader) -> None:
    expected = settings.key("read")
    if (
        expected is None
        or _matches(provided, expected)
        or _matches(provided, settings.key("write"))
    ):
        return
    raise Unauthorized("reading needs the read API key (X-API-Key header): missing or wrong")


Write = Depends(require_write)
Read = Depends(require_read)
