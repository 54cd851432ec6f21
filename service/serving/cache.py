"""Loaded models for serving: each version loaded once, warmed up, kept in a bounded LRU.

A version is served through ONNX Runtime from the `model.onnx` exported at training time, and,
from the batch size where it measures faster, through the numpy pass in `model.npz`
(forecasting/batched.py). A version without either (exports that failed) falls back to Keras,
importing TensorFlow on demand. An ensemble's members are each loaded so, and served averaged.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from service.errors import ModelBroken, VersionNotFound
from service.forecasting.batched import ByBatchSize
from service.forecasting.ensemble import Ensemble, SeriesForecaster
from service.forecasting.inference import Forecaster
from service.forecasting.network import Forward
from service.serving.batching import CombinedJoint
from service.store.card import ModelCard
from service.store.local import BATCHED_FILE, MODEL_FILE, ONNX_FILE, ModelStore

if TYPE_CHECKING:
    from service.forecasting.fused import Joint, JointCalls

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    card: ModelCard
    forecaster: SeriesForecaster
    runtime: str  # "onnx", "onnx, numpy from N windows", "numpy" or "keras"; "ensemble of N: "
    size: int  # bytes on disk, a proxy for memory held


class ModelCache:
    def __init__(
        self, store: ModelStore, *, capacity: int, max_bytes: int, combine: bool = True
    ) -> None:
        self.store = store
        self.combine = combine
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._models: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, int], threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get(self, name: str, version: int) -> LoadedModel:
        key = (name, version)
        if not self.store.has_version(name, version):
            # Deleted, perhaps by another replica sharing the store: never served from memory.
            self.evict(name, version)
            raise VersionNotFound(f"model {name!r} has no version {version}", field="version")
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                self.hits += 1
                return self._models[key]
            loading = self._loading.setdefault(key, threading.Lock())
        # One lock per version: concurrent first requests load it once, other models stay served.
        with loading:
            with self._lock:
                if key in self._models:
                    self.hits += 1
                    return self._models[key]
                self.misses += 1
            try:
                loaded = self._load(name, version)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            with self._lock:
                self._models[key] = loaded
                self._shrink()
            return loaded

    def holds(self, name: str, version: int) -> bool:
        """Whether the version is loaded (a `get` would not read its files)."""
        with self._lock:
            return (name, version) in self._models

    def evict(self, name: str, version: int | None = None) -> None:
        with self._lock:
            for key in [k for k in self._models if k[0] == name and version in (None, k[1])]:
                del self._models[key]

    def __len__(self) -> int:
        return len(self._models)

    @property
    def bytes(self) -> int:
        return sum(m.size for m in self._models.values())

    def _shrink(self) -> None:
        """Drop least recently used versions past the count or byte limit (keeping the newest)."""
        while len(self._models) > 1 and (
            len(self._models) > self.capacity or self.bytes > self.max_bytes
        ):
            self._models.popitem(last=False)

    def _load(self, name: str, version: int) -> LoadedModel:
        card = self.store.card(name, version)
        folders = self.store.network_dirs(name, version, len(card.ensemble))
        shapes = [card.input_shape, *(m.input_shape for m in card.ensemble)]
        try:
            networks = [
                _network(folder, shape) for folder, shape in zip(folders, shapes, strict=True)
            ]
        except Exception as error:  # any unreadable file is the same problem to a client
            raise ModelBroken(f"model {name}@{version} is broken: {error}") from None
        members = [
            Forecaster(forward, prep)
            for (_, forward, _), prep in zip(networks, card.preprocessings, strict=True)
        ]
        runtime, size = networks[0][0], sum(n[2] for n in networks)
        own = _joint(folders, card, name, version) if runtime.startswith("onnx") else None
        joint: JointCalls | None = CombinedJoint(own) if own is not None and self.combine else own
        # The joint graphs run ONNX Runtime's kernels: below the numpy pass's crossover only.
        below = min(
            (n[1].crossover for n in networks if isinstance(n[1], ByBatchSize)), default=None
        )
        if len(members) == 1:
            member = Forecaster(members[0].forward, members[0].prep, joint, joint_below=below)
            return LoadedModel(card, member, runtime, size)
        ensemble = Ensemble(members, joint, joint_below=below)
        return LoadedModel(card, ensemble, f"ensemble of {len(members)}: {runtime}", size)


def _joint(folders: list[Path], card: ModelCard, name: str, version: int) -> Joint | None:
    """Every network of the version, steps and horizons, in one ONNX Runtime session each; None
    (each network served alone, as exactly) when a network's graph cannot be wrapped."""
    import onnx

    from service.forecasting.fused import Joint

    try:
        networks = [onnx.load(folder / ONNX_FILE) for folder in folders]
        joint = Joint(networks, list(card.preprocessings))
        joint.step([np.zeros((1, p.timesteps, p.features)) for p in card.preprocessings])
    except Exception as error:  # an optimisation: the networks alone still serve
        log.warning("%s@%s served network by network: %r", name, version, error)
        return None
    return joint


def _network(folder: Path, input_shape: tuple[int, int]) -> tuple[str, Forward, int]:
    """One network's serving path, warmed up: (runtime, forward, bytes on disk)."""
    onnx_path, batched_path = folder / ONNX_FILE, folder / BATCHED_FILE
    exported = [p for p in (onnx_path, batched_path) if p.is_file()]
    if exported:
        size = sum(p.stat().st_size for p in exported)
        runtime, forward = _exported(onnx_path, batched_path, input_shape)
    else:
        keras_path = folder / MODEL_FILE
        runtime, forward, size = "keras", _keras(keras_path), keras_path.stat().st_size
    forward(np.zeros((1, *input_shape), np.float32))  # warm up, fail early
    return runtime, forward, size


def _exported(
    onnx_path: Path, batched_path: Path, input_shape: tuple[int, int]
) -> tuple[str, Forward]:
    """ONNX Runtime, with the numpy pass taking the batch sizes it is measured faster at."""
    from service.forecasting.batched import ByBatchSize, batched_forward, by_batch_size
    from service.forecasting.export import onnx_forward

    if not batched_path.is_file():
        return "onnx", onnx_forward(onnx_path)
    if not onnx_path.is_file():
        return "numpy", batched_forward(batched_path)
    onnx = onnx_forward(onnx_path)
    try:
        batched = batched_forward(batched_path)
    except Exception as error:  # an optimisation: ONNX Runtime alone still serves every size
        log.warning("%s unreadable, serving through ONNX Runtime alone: %r", batched_path, error)
        return "onnx", onnx
    forward = by_batch_size(onnx, batched, probe=input_shape)
    if isinstance(forward, ByBatchSize):
        return f"onnx, numpy from {forward.crossover} windows", forward
    return "onnx", forward


def _keras(path: Path) -> Forward:
    import keras

    from service.forecasting.inference import keras_forward

    return keras_forward(keras.saving.load_model(path, compile=False))
