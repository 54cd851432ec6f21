"""Real processes: concurrent writers on one store root, a writer killed mid-save, shutdown."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from service.jobs import JobStatus
from service.jobs.local import LocalJobs
from service.schemas.train import TrainRequest
from service.store.local import CARD_FILE, MODEL_FILE, ModelStore
from tests.utils import tiny_spec, train_body, wait_for

ROOT = Path(__file__).resolve().parents[1]


def _save_many(root: str, count: int) -> list[int]:
    store = ModelStore(Path(root))

    def write(folder: Path, version: int) -> None:
        (folder / MODEL_FILE).write_bytes(os.urandom(64))
        (folder / CARD_FILE).write_text(f'{{"version": {version}}}')

    return [store.save("contended", write) for _ in range(count)]


def test_processes_sharing_a_root_never_get_the_same_version(tmp_path: Path) -> None:
    ModelStore(tmp_path).open()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_save_many, [(str(tmp_path), 10)] * 4)
    versions = sorted(v for result in results for v in result)
    assert versions == list(range(1, 41))
    assert ModelStore(tmp_path).versions("contended") == versions


def test_writer_killed_mid_save_leaves_no_version(tmp_path: Path) -> None:
    """A process dies with its version half written: nothing is published, and opening the store
    again clears the leftovers."""
    started = tmp_path / "started"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from service.store.local import ModelStore

        def write(folder, version):
            (folder / "model.keras").write_bytes(b"half a model")
            Path({str(started)!r}).touch()
            time.sleep(60)

        store = ModelStore(Path({str(tmp_path / "store")!r}))
        store.open()
        store.save("victim", write)
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", script])

    def writing() -> bool:
        assert writer.poll() is None, "the writer exited early"
        return started.exists()

    wait_for(writing, timeout=60, what="the writer to start saving")
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    store = ModelStore(tmp_path / "store")
    assert store.versions("victim") == []
    assert list((tmp_path / "store" / ".tmp").iterdir())  # the half-written folder is there
    store.open()
    assert list((tmp_path / "store" / ".tmp").iterdir()) == []


@pytest.mark.slow
def test_shutdown_cancels_running_jobs_and_stores_nothing(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.open()
    manager = LocalJobs(tmp_path)
    manager.start()
    request = TrainRequest.model_validate(
        train_body("interrupted", spec=tiny_spec(epochs=20_000, batch_size=4))
    )
    job = manager.submit(request)
    queued = manager.submit(request)
    wait_for(lambda: manager.get(job.id).progress, timeout=120, what="training progress")
    manager.shutdown()
    assert manager.get(job.id).status is JobStatus.cancelled
    assert manager.get(queued.id).status is JobStatus.cancelled
    assert store.versions("interrupted") == []
    assert list((tmp_path / ".tmp").iterdir()) == []
