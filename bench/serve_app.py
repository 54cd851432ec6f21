"""The service plus two routes that exist only for bench/serve_latency.py:

- `POST /bench/noop` takes the /forecast body (the same parsing and validation) and does nothing:
  the floor FastAPI itself costs for that payload;
- `POST /bench/predict` is /forecast with Keras' `model.predict` as the forward pass: the naive
  path the service avoids.

    uvicorn bench.serve_app:create_bench_app --factory
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import numpy as np
from fastapi import FastAPI, Response

from service.api.deps import CacheDep, SettingsDep, StoreDep
from service.api.routes.forecast import forecast
from service.forecasting.inference import Forecaster
from service.main import create_app
from service.schemas.forecast import ForecastRequest, ForecastResult
from service.serving.cache import LoadedModel
from service.store.local import MODEL_FILE


def create_bench_app() -> FastAPI:
    app = create_app()

    @app.post("/bench/noop", response_model=ForecastResult)
    def noop(request: ForecastRequest) -> ForecastResult:
        return ForecastResult(model_name=request.model_name, version=0, predictions=[], mse=None)

    @app.post("/bench/predict", response_model=ForecastResult)
    def predict(
        request: ForecastRequest, store: StoreDep, cache: CacheDep, settings: SettingsDep
    ) -> Response:
        predicting = _PredictCache(cache, store)
        return forecast(request, store, predicting, settings)  # type: ignore[arg-type]

    return app


class _PredictCache:
    """Looks like the model cache, but serves each version through `keras.Model.predict`."""

    def __init__(self, cache: Any, store: Any) -> None:
        self.cache, self.store = cache, store

    def get(self, name: str, version: int) -> LoadedModel:
        loaded = self.cache.get(name, version)
        model = _keras_model(str(self.store.version_dir(name, version) / MODEL_FILE))

        def forward(x: np.ndarray) -> np.ndarray:
            # One call at a time: concurrent `predict` calls on one model crashed the server
            # (TensorFlow aborted on a corrupt mutex), as a naive server would learn.
            with _PREDICT_LOCK:
                return np.asarray(model.predict(x, verbose=0))

        return LoadedModel(
            loaded.card, Forecaster(forward, loaded.card.preprocessing), "keras-predict", 0
        )


_PREDICT_LOCK = threading.Lock()


@cache
def _keras_model(path: str) -> Any:
    import keras

    return keras.saving.load_model(path, compile=False)
