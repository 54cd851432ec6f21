"""API keys: `X-API-Key`, shown in /docs with its Authorize button.

With FORECAST_API_KEY set, training, cancelling and deleting need it; with FORECAST_API_KEY_READ
set, reads and forecasts need that key (or the write key). Keys are compared in constant time.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader

from service.api.deps import SettingsDep
from service.errors import Unauthorized

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="FORECAST_API_KEY for training and deleting; FORECAST_API_KEY_READ (when set) "
    "for reads and forecasts.",
)
KeyHeader = Annotated[str | None, Security(api_key_header)]


def _matches(provided: str | None, expected: str | None) -> bool:
    if provided is None or expected is None:
        return False
    return secrets.compare_digest(provided.encode(), expected.encode())


async def require_write(settings: SettingsDep, provided: KeyHeader) -> None:
    expected = settings.key("write")
    if expected is not None and not _matches(provided, expected):
        raise Unauthorized("this needs the API key (X-API-Key header): missing or wrong")


async def require_read(settings: SettingsDep, provided: KeyHeader) -> None:
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
