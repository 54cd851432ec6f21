"""A small typed Python client for the service, over httpx.

    from forecast_client import ForecastClient

    client = ForecastClient("http://127.0.0.1:8000")
    result = client.train("sine", series=[...], spec={"architecture": "gru"})
    uploaded = client.upload("notebook", "sine.keras", window=20)   # a model saved by Keras
    forecast = client.forecast("sine", series=[...], horizon=20)

With pandas (the `pandas` extra), data can be a Series or DataFrame with a DatetimeIndex:

    client.train("sales", series=monthly)             # timestamps and freq from the index
    frame = client.forecast_frame("sales", horizon=12, levels=(80, 95))  # from stored history

Errors raise `RequestFailed` (4xx: the request is wrong, `detail` says why) or `ServerFailed`
(5xx). Pass `transport=` (e.g. `httpx.ASGITransport`) or `http=` to use it in-process.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

JSON = dict[str, Any]
Values = Sequence[float] | Sequence[Sequence[float]]

# A job's `status` as GET /jobs/{id} spells it once the job is over. The client imports nothing
# from the service (tests/client checks these against the service's own statuses).
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
SUCCEEDED = "succeeded"
CANCELLED = "cancelled"


class ServiceResponseError(Exception):
    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class RequestFailed(ServiceResponseError):
    """A 4xx answer: the request was wrong (unknown model, bad shape, queue full...)."""


class JobCancelled(RequestFailed):
    """The job was cancelled before it finished (409, code `job_cancelled`)."""


class ServerFailed(ServiceResponseError):
    """A 5xx answer."""


class ForecastClient:
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = 600,
        http: httpx.Client | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout, headers=headers)

    def __enter__(self) -> ForecastClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    # Training

    def train(self, model_name: str, *, spec: JSON | None = None, **data: Any) -> JSON:
        """Train and wait; returns the TrainResult (version, metrics, history). `series` may
        be a pandas Series or DataFrame with a DatetimeIndex."""
        return self._call("POST", "/train", json=_train_body(model_name, spec, data))

    def train_async(self, model_name: str, *, spec: JSON | None = None, **data: Any) -> str:
        """Start a training job; returns its id (see `job`, `wait`, `cancel`)."""
        body = {**_train_body(model_name, spec, data), "async": True}
        return str(self._call("POST", "/train", json=body)["job_id"])

    def job(self, job_id: str, *, history: str = "summary") -> JSON:
        """The job with its result; `history`: `summary` (100 epochs), `full` or `none`."""
        return self._call("GET", f"/jobs/{job_id}", params={"history": history})

    def jobs(self, *, status: str | None = None, limit: int = 20, offset: int = 0) -> list[JSON]:
        """Recent jobs, newest first, as summaries (no results: see `job`)."""
        params: JSON = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status
        return list(self._call("GET", "/jobs", params=params)["data"])

    def cancel(self, job_id: str) -> JSON:
        return self._call("POST", f"/jobs/{job_id}/cancel")

    def delete_job(self, job_id: str) -> JSON:
        """Forget a finished job (its version, if it stored one, stays)."""
        return self._call("DELETE", f"/jobs/{job_id}")

    def wait(
        self, job_id: str, *, timeout: float = 3600, poll: float = 0.2, history: str = "summary"
    ) -> JSON:
        """Poll a job until it finishes; returns its result, or raises its error."""
        deadline = time.monotonic() + timeout
        while (job := self.job(job_id, history=history))["status"] not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(poll)
        if job["status"] == CANCELLED:
            raise JobCancelled(409, job["error"])
        if job["status"] != SUCCEEDED:
            server_side = job["error"] and job["error"]["code"] == "training_failed"
            raise (
                ServerFailed(500, job["error"]) if server_side else RequestFailed(422, job["error"])
            )
        return dict(job["result"])

    def upload(
        self,
        model_name: str,
        path: str | os.PathLike[str],
        *,
        window: int | JSON,
        test_series: Values | None = None,
        **spec: Any,
    ) -> JSON:
        """Upload a saved `.keras` model as the next version of `model_name` and wait for it to
        be checked and stored; returns the version with its card. `window`: the length of its
        windows, or {"length", "sampling_rate", "stride"}; `spec` takes the other fields of an
        UploadSpec (`scaling`, `target_scaling`, `transforms`, `window_normalization`,
        `target_columns`, `season_length`, `interval_horizon`)."""
        declared = {
            "window": {"length": window} if isinstance(window, int) else window,
            "test_series": test_series,
            **spec,
        }
        file = Path(path)
        return self._call(
            "POST",
            f"/models/{model_name}/versions",
            files={"file": (file.name, file.read_bytes(), "application/octet-stream")},
            data={"spec": json.dumps(_without_none(declared))},
        )

    # Forecasting

    def forecast(
        self,
        model_name: str,
        *,
        series: Values | Any | None = None,
        inputs: Sequence[Any] | None = None,
        targets: Values | None = None,
        horizon: int = 0,
        version: int | str | None = None,
        levels: Sequence[float] | None = None,
        **dates: Any,
    ) -> JSON:
        """`levels` in percent (e.g. [80, 95]) add prediction intervals to the horizon;
        `version` is a number or an alias; `dates` are `timestamps`, or `start` and `freq`.
        Without `series` or `inputs`, forecasts `horizon` steps past the training data."""
        body = {
            "model_name": model_name,
            "series": series,
            "inputs": inputs,
            "targets": targets,
            "horizon": horizon,
            "version": version,
            "levels": list(levels) if levels is not None else None,
            **dates,
        }
        return self._call("POST", "/forecast", json=_with_frames(body))

    def forecast_frame(
        self,
        model_name: str,
        series: Any = None,
        *,
        horizon: int,
        levels: Sequence[float] = (80, 95),
        version: int | str | None = None,
    ) -> Any:
        """The horizon forecast as a pandas DataFrame indexed by the future timestamps, with
        `lower_<level>` and `upper_<level>` columns; from the pandas `series` given, else from
        the version's stored history."""
        from forecast_client.frames import columns_of, forecast_frame

        result = self.forecast(
            model_name, series=series, horizon=horizon, levels=levels, version=version
        )
        columns = columns_of(series) if series is not None else _columns(result)
        return forecast_frame(result, columns)

    def backtest(
        self,
        model_name: str,
        *,
        series: Values,
        horizon: int,
        origins: int = 10,
        refit: bool = False,
        version: int | str | None = None,
    ) -> JSON:
        """Rolling-origin scores beside the baselines; `refit` retrains at every origin (a job
        the server waits for: allow for one training per origin in the client's timeout)."""
        body = {
            "model_name": model_name,
            "series": series,
            "horizon": horizon,
            "origins": origins,
            "refit": refit,
            "version": version,
        }
        return self._call("POST", "/backtest", json=_with_frames(body))

    # Models

    def models(self) -> list[JSON]:
        return list(self._call("GET", "/models")["data"])

    def model(self, model_name: str) -> JSON:
        return self._call("GET", f"/models/{model_name}")

    def delete(self, model_name: str, version: int | None = None) -> JSON:
        path = f"/models/{model_name}" + (f"/versions/{version}" if version else "")
        return self._call("DELETE", path)

    def set_alias(self, model_name: str, alias: str, version: int | str) -> JSON:
        """Point `alias` (e.g. `production`) at a version; accepted wherever a version is."""
        return self._call("PUT", f"/models/{model_name}/aliases/{alias}", json={"version": version})

    def delete_alias(self, model_name: str, alias: str) -> JSON:
        return self._call("DELETE", f"/models/{model_name}/aliases/{alias}")

    def update_notes(
        self,
        model_name: str,
        version: int | str,
        *,
        description: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> JSON:
        body = _without_none({"description": description, "tags": tags and list(tags)})
        return self._call("PATCH", f"/models/{model_name}/versions/{version}", json=body)

    def download(self, model_name: str, version: int | str, path: str | os.PathLike[str]) -> Path:
        """Save the version's folder (card, `.keras`, ONNX) as a zip at `path`."""
        response = self.http.get(f"/models/{model_name}/versions/{version}/archive")
        if response.status_code >= 400:
            self._raise(response)
        target = Path(path)
        target.write_bytes(response.content)
        return target

    def wait_ready(self, *, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.http.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"service not ready after {timeout} s")
            time.sleep(0.2)

    def _call(self, method: str, path: str, **kwargs: Any) -> JSON:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            self._raise(response)
        return dict(response.json())

    def _raise(self, response: httpx.Response) -> None:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        error = RequestFailed if response.status_code < 500 else ServerFailed
        raise error(response.status_code, detail)


def _train_body(model_name: str, spec: JSON | None, data: JSON) -> JSON:
    return _with_frames({"model_name": model_name, "spec": spec, **data})


def _with_frames(body: JSON) -> JSON:
    """The body without its unset fields, a pandas `series` turned into series and dates."""
    from forecast_client.frames import dated_body, is_frame

    series = body.get("series")
    if series is not None and is_frame(series):
        body = {**body, **dated_body(series)}
    return _without_none(body)


def _columns(result: JSON) -> list[str]:
    """Column names for a forecast from stored history: one, or one per forecast column."""
    first = (result.get("forecast") or [None])[0]
    return ["forecast"] if not isinstance(first, list) else [str(i) for i in range(len(first))]


def _without_none(body: JSON) -> JSON:
    return {k: v for k, v in body.items() if v is not None}
