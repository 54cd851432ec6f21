"""A bare FastAPI app: the floor that bench/serve_latency.py measures the service against.

No middleware, no logging, no metrics, no model: what FastAPI and uvicorn themselves cost for
the same requests, served by its own uvicorn process from the same venv.

- `GET /health`: a trivial route;
- `POST /parsed`: the /forecast body parsed into a pydantic model (`series` as a list of floats,
  `inputs` as nested lists of floats), nothing done with it;
- `POST /raw`: the body read with `json.loads` and its `inputs` (or `series`) made an array with
  `np.asarray`, no validation: the cheapest way to get the numbers.

    uvicorn bench.floor_app:app
"""

from __future__ import annotations

import json

import numpy as np
from fastapi import FastAPI, Request
from pydantic import BaseModel

app = FastAPI()


class Body(BaseModel):
    model_name: str
    version: int | None = None
    series: list[float] | list[list[float]] | None = None
    inputs: list[list[list[float]]] | None = None
    horizon: int = 0


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/parsed")
def parsed(body: Body) -> dict[str, object]:
    return {"model_name": body.model_name, "predictions": []}


@app.post("/raw")
async def raw(request: Request) -> dict[str, object]:
    data = json.loads(await request.body())
    array = np.asarray(data.get("inputs", data.get("series")), dtype=np.float64)
    return {"model_name": data["model_name"], "shape": list(array.shape)}
