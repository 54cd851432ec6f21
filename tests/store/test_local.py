from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.errors import InvalidInput, ModelBroken, ModelNotFound, VersionNotFound
from service.store.local import CARD_FILE, MODEL_FILE, ModelStore


def fake_write(folder: Path, version: int) -> None:
    (folder / MODEL_FILE).write_bytes(b"weights")
    (folder / CARD_FILE).write_text(json.dumps({"version": version}))


def test_versions_count_up_from_one(store: ModelStore) -> None:
    assert [store.save("m", fake_write) for _ in range(3)] == [1, 2, 3]
    assert store.versions("m") == [1, 2, 3]
    assert store.latest("m") == 3
    assert store.names() == ["m"]


def test_failed_write_publishes_nothing(store: ModelStore) -> None:
    def explode(folder: Path, version: int) -> None:
        (folder / MODEL_FILE).write_bytes(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        store.save("m", explode)
    assert store.versions("m") == []
    assert list((store.root / ".tmp").iterdir()) == []


def test_concurrent_saves_get_distinct_versions(store: ModelStore) -> None:
    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(lambda _: store.save("busy", fake_write), range(24)))
    assert sorted(versions) == list(range(1, 25))


def test_open_cleans_leftover_temporary_folders(store: ModelStore) -> None:
    leftover = store.root / ".tmp" / "m-crashed"
    leftover.mkdir()
    (leftover / MODEL_FILE).write_bytes(b"partial")
    store.open()
    assert not leftover.exists()


def test_deleted_numbers_are_not_reused(store: ModelStore) -> None:
    store.save("m", fake_write)
    store.save("m", fake_write)
    assert store.delete("m", 2) == [2]
    assert store.save("m", fake_write) == 3
    assert store.delete("m") == [1, 3]
    assert store.save("m", fake_write) == 4


def test_missing_things_raise_typed_errors(store: ModelStore) -> None:
    with pytest.raises(ModelNotFound):
        store.latest("nothing")
    store.save("m", fake_write)
    with pytest.raises(VersionNotFound):
        store.resolve("m", 5)
    with pytest.raises(ModelBroken, match="m@1"):
        store.card("m", 1)  # the fake card is not a valid ModelCard


@pytest.mark.parametrize("name", ["..", ".", "../x", "/etc", "a/b", "", "x" * 65, "a\n", "é"])
def test_names_cannot_leave_the_root(store: ModelStore, name: str) -> None:
    with pytest.raises(InvalidInput):
        store.save(name, fake_write)
    with pytest.raises(InvalidInput):
        store.versions(name)


def test_listing_follows_changes_made_by_another_process(store: ModelStore) -> None:
    other = ModelStore(store.root)  # another API process or worker sharing the root
    store.save("shared", fake_write)
    assert other.versions("shared") == [1]
    store.save("shared", fake_write)
    assert other.versions("shared") == [1, 2]
    store.delete("shared", 1)
    assert other.versions("shared") == [2]
    assert other.latest("shared") == 2


def test_a_job_saved_twice_publishes_one_version(store: ModelStore) -> None:
    """A job run twice (its first worker died after publishing, or a message came twice)
    publishes once: the second save writes nothing and answers the same version."""
    assert store.save("m", fake_write, job_id="job1") == 1
    assert store.published_by("m", "job1") == 1

    def must_not_write(folder: Path, version: int) -> None:
        raise AssertionError("published already")

    assert store.save("m", must_not_write, job_id="job1") == 1
    assert store.save("m", fake_write, job_id="job2") == 2
    assert store.versions("m") == [1, 2]


def test_a_job_that_died_before_publishing_gets_its_version_again(store: ModelStore) -> None:
    def dies(folder: Path, version: int) -> None:
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        store.save("m", dies, job_id="job1")
    assert store.published_by("m", "job1") is None
    assert store.save("m", fake_write, job_id="other") == 2  # 1 stays the first job's
    assert store.save("m", fake_write, job_id="job1") == 1
    assert store.versions("m") == [1, 2]
    assert list((store.root / ".tmp").iterdir()) == []


def test_opening_leaves_other_machines_saves_alone(store: ModelStore) -> None:
    """A store shared by machines: pids on another machine cannot be checked from here."""
    theirs = store.root / ".tmp" / "999999-0badcafe-m-1234"
    dead_here = store.root / ".tmp" / "999999-m-1234"  # no machine in the name: this one's
    theirs.mkdir()
    dead_here.mkdir()
    store.open()
    assert [p.name for p in (store.root / ".tmp").iterdir()] == [theirs.name]
