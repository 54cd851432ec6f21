from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.utils import tiny_spec, train_body, wait_for
from tests.utils.keras_files import lecture_model


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = wait_for(
        lambda: (answer := client.get("/ready/training")).status_code == 200 and answer,
        timeout=60,
        what="/ready",
    )
    assert ready.json() == {"store": True, "workers": True}


def test_full_queue_answers_429_with_retry_after(client: TestClient) -> None:
    jobs = client.app.state.jobs  # type: ignore[attr-defined]
    limit = jobs.max_queued
    jobs.max_queued = 0
    try:
        body = {**train_body("queued", spec=tiny_spec(epochs=20_000)), "async": True}
        first = client.post("/train", json=body)
        assert first.status_code == 202
        rejected = client.post("/train", json=body)
        assert rejected.status_code == 429
        assert rejected.headers["retry-after"]
        assert "limit is 1" in rejected.json()["detail"]
        client.post(f"/jobs/{first.json()['job_id']}/cancel")
    finally:
        jobs.max_queued = limit


@pytest.mark.slow
def test_api_process_never_imports_tensorflow(tmp_path: Path) -> None:
    """Training and loading uploads happen in workers, serving through ONNX Runtime: the API
    process stays free of TensorFlow and does not grow with each training."""
    (tmp_path / ".notebook").mkdir()  # beside the store's own folders, not a model name
    keras_file = tmp_path / ".notebook" / "uploaded.keras"
    lecture_model(keras_file, epochs=1)
    script = textwrap.dedent(
        f"""
        import json, resource, sys
        from pathlib import Path
        from fastapi.testclient import TestClient
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from service.config import Settings
        from service.main import create_app
        from tests.utils import sine, tiny_spec, train_body

        def rss_mb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        if __name__ == "__main__":
            with TestClient(create_app(Settings(store_root=Path({str(tmp_path)!r})))) as client:
                peaks = []
                for i in range(6):
                    assert client.post("/train", json=train_body("m")).status_code == 201
                    body = {{"model_name": "m", "series": sine(30), "horizon": 5}}
                    assert client.post("/forecast", json=body).status_code == 200
                    peaks.append(rss_mb())
                upload = client.post(
                    "/models/up/versions",
                    files={{"file": ("m.keras", Path({str(keras_file)!r}).read_bytes())}},
                    data={{"spec": json.dumps({{"window": {{"length": 20}}}})}},
                )
                assert upload.status_code == 201, upload.text
                body = {{"model_name": "up", "series": sine(30), "horizon": 5}}
                assert client.post("/forecast", json=body).status_code == 200
            print(json.dumps({{"tf": "tensorflow" in sys.modules, "peaks": peaks}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["tf"] is False
    peaks = report["peaks"]
    assert peaks[-1] - peaks[1] < 50, peaks  # MB; loading ONNX models, not TensorFlow
