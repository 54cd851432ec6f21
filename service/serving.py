"""Loaded models for serving: each version loaded once, warmed up, kept in a bounded LRU."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from service.errors import ModelBroken
from service.forecasting.inference import Forecaster, keras_forward
from service.schemas import ModelCard
from service.store import ModelStore


@dataclass(frozen=True)
class LoadedModel:
    card: ModelCard
    forecaster: Forecaster


class ModelCache:
    def __init__(self, store: ModelStore, *, capacity: int) -> None:
        self.store = store
        self.capacity = capacity
        self._models: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, name: str, version: int) -> LoadedModel:
        key = (name, version)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                self.hits += 1
                return self._models[key]
            self.misses += 1
            # Loading under the lock: concurrent first requests load a version once, not N times.
            loaded = self._load(name, version)
            self._models[key] = loaded
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
            return loaded

    def evict(self, name: str, version: int | None = None) -> None:
        with self._lock:
            for key in [k for k in self._models if k[0] == name and version in (None, k[1])]:
                del self._models[key]

    def __len__(self) -> int:
        return len(self._models)

    def _load(self, name: str, version: int) -> LoadedModel:
        card = self.store.card(name, version)
        try:
            import keras

            model = keras.saving.load_model(self.store.model_path(name, version), compile=False)
        except Exception as error:  # any unreadable file is the same problem to a client
            raise ModelBroken(f"model {name}@{version} is broken: {error}") from None
        forecaster = Forecaster(keras_forward(model), card.preprocessing)
        timesteps, features = card.input_shape
        forecaster.forward(np.zeros((1, timesteps, features), np.float32))  # trace once, now
        return LoadedModel(card, forecaster)
