"""Aliases in the store: moved atomically under the model's file lock, across processes."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from service.errors import AliasNotFound
from service.store.local import ModelStore


def _fake_versions(store: ModelStore, name: str, count: int) -> None:
    for version in range(1, count + 1):
        (store.root / name / str(version)).mkdir(parents=True)


def _mover(root: str, version: int, moves: int) -> None:
    store = ModelStore(Path(root))
    for _ in range(moves):
        store.set_alias("m", "production", version)


def test_two_processes_moving_one_alias_never_leave_it_half_written(store: ModelStore) -> None:
    _fake_versions(store, "m", 2)
    store.set_alias("m", "production", 1)
    context = multiprocessing.get_context("spawn")
    movers = [context.Process(target=_mover, args=(str(store.root), v, 150)) for v in (1, 2)]
    for process in movers:
        process.start()
    seen = set()
    deadline = time.monotonic() + 60
    while any(p.is_alive() for p in movers) and time.monotonic() < deadline:
        seen.add(store.alias_target("m", "production"))  # never missing, never garbled
    for process in movers:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert seen <= {1, 2}
    assert store.aliases("m")["production"] in (1, 2)
    assert [p.name for p in (store.root / "m" / ".aliases").iterdir()] == ["production"]


def test_alias_to_a_deleted_version(store: ModelStore) -> None:
    _fake_versions(store, "m", 2)
    store.set_alias("m", "production", 2)
    store.delete("m", 2)
    with pytest.raises(AliasNotFound, match=r"production.*version 2.*deleted"):
        store.resolve("m", "production")
