from __future__ import annotations

import json

import pytest

from service.errors import VersionNotFound
from service.serving.cache import ModelCache
from service.store.local import BATCHED_FILE, ModelStore
from tests.utils import train_body


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """Three tiny versions, trained in this process (no worker needed)."""
    from service.schemas.train import TrainRequest
    from service.usecases.training import train_and_store

    store = ModelStore(tmp_path_factory.mktemp("serving"))
    store.open()
    for _ in range(3):
        train_and_store(TrainRequest.model_validate(train_body("m")), store)
    return store


def test_each_version_is_loaded_once(trained_store: ModelStore) -> None:
    cache = ModelCache(trained_store, capacity=8, max_bytes=2**30)
    first = cache.get("m", 1)
    assert cache.get("m", 1) is first
    assert (cache.hits, cache.misses) == (1, 1)
    assert first.runtime.startswith("onnx")


def test_least_recently_used_is_evicted_past_the_count(trained_store: ModelStore) -> None:
    cache = ModelCache(trained_store, capacity=2, max_bytes=2**30)
    cache.get("m", 1)
    cache.get("m", 2)
    cache.get("m", 1)
    cache.get("m", 3)  # evicts 2, the least recently used
    assert len(cache) == 2
    cache.get("m", 1)
    assert cache.misses == 3
    cache.get("m", 2)
    assert cache.misses == 4


def test_byte_limit_evicts_but_keeps_the_newest(trained_store: ModelStore) -> None:
    cache = ModelCache(trained_store, capacity=8, max_bytes=1)
    cache.get("m", 1)
    cache.get("m", 2)
    assert len(cache) == 1
    assert cache.bytes > 1  # one model is always kept, however large


def test_evict_drops_a_version_or_a_model(trained_store: ModelStore) -> None:
    cache = ModelCache(trained_store, capacity=8, max_bytes=2**30)
    for version in (1, 2, 3):
        cache.get("m", version)
    cache.evict("m", 2)
    assert len(cache) == 2
    cache.evict("m")
    assert len(cache) == 0


def test_a_version_deleted_elsewhere_is_not_served_from_memory(
    trained_store: ModelStore,
) -> None:
    """Another replica deletes a version this one has loaded: the next request is a 404."""
    cache = ModelCache(trained_store, capacity=8, max_bytes=2**30)
    cache.get("m", 2)
    folder = trained_store.version_dir("m", 2)
    hidden = folder.with_name("hidden")
    folder.rename(hidden)  # as another process's delete does, first thing
    try:
        with pytest.raises(VersionNotFound):
            cache.get("m", 2)
        assert len(cache) == 0
    finally:
        hidden.rename(folder)
    assert cache.get("m", 2).card.version == 2


def test_card_lists_its_files(trained_store: ModelStore) -> None:
    folder = trained_store.version_dir("m", 1)
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["card.json", "model.keras", "model.npz", "model.onnx", "tail.npy"]
    assert json.loads((folder / "card.json").read_text())["version"] == 1


def test_an_export_that_disagrees_with_keras_is_not_kept(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The numpy export is checked against Keras before it is stored: one with its weights
    scaled by 1.001 is dropped (the version is then served through ONNX Runtime alone)."""
    import numpy as np

    from service.forecasting import batched
    from service.schemas.train import TrainRequest
    from service.usecases.training import train_and_store

    real = batched.export_batched

    def slightly_off(network, path):  # type: ignore[no-untyped-def]
        real(network, path)
        with np.load(path) as data:
            arrays = {k: data[k] * 1.001 if k != "layers" else data[k] for k in data.files}
        with path.open("wb") as file:
            np.savez(file, **arrays)

    monkeypatch.setattr(batched, "export_batched", slightly_off)
    store = ModelStore(tmp_path_factory.mktemp("off"))
    store.open()
    train_and_store(TrainRequest.model_validate(train_body("m")), store)
    files = sorted(p.name for p in store.version_dir("m", 1).iterdir())
    assert files == ["card.json", "model.keras", "model.onnx", "tail.npy"]
    assert ModelCache(store, capacity=2, max_bytes=2**30).get("m", 1).runtime == "onnx"


def test_an_unreadable_numpy_export_leaves_onnx_serving(trained_store: ModelStore) -> None:
    path = trained_store.version_dir("m", 3) / BATCHED_FILE
    original = path.read_bytes()
    try:
        path.write_bytes(b"not an npz")
        loaded = ModelCache(trained_store, capacity=2, max_bytes=2**30).get("m", 3)
        assert loaded.runtime == "onnx"
    finally:
        path.write_bytes(original)
