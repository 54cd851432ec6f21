"""Answer sizes a user downloads: the README's first POST /train, and GET /jobs after ten jobs.

In-process (TestClient, a fresh store, the embedded job backend). `before` is what the service
answered before summaries: the whole loss history in a training's answer (`history: "full"`),
and a list of jobs that carried each job whole (the sum of GET /jobs/{id}?history=full over
the listed jobs, which is what each entry of the old list was). `after` is the default now.

    .venv/bin/python bench/answer_sizes.py [--jobs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"


def first_train_body() -> dict[str, Any]:
    """The body of the README's first `curl ... /train` example, read from the README."""
    text = README.read_text()
    start = text.index("curl -s -X POST http://127.0.0.1:8000/train")
    body = text[text.index("-d '", start) + 4 : text.index("}'", start) + 1]
    found: dict[str, Any] = json.loads(body)
    return found


def kb(answer: Any) -> str:
    return f"{len(answer.content) / 1024:.1f} KB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from fastapi.testclient import TestClient

    from service.config import Settings
    from service.main import create_app

    app = create_app(Settings(store_root=Path(tempfile.mkdtemp()) / "store"))
    body = first_train_body()
    with TestClient(app) as client:
        summary = client.post("/train", json=body)
        assert summary.status_code == 201, summary.text
        full = client.post("/train", json={**body, "history": "full"})
        epochs = full.json()["epochs_run"]
        print(f"README's first /train ({epochs} epochs): before {kb(full)}, after {kb(summary)}")
        ids = []
        for _ in range(args.jobs):
            accepted = client.post("/train", json={**body, "async": True})
            ids.append(accepted.json()["job_id"])
        while any(client.get(f"/jobs/{i}").json()["status"] in ("queued", "running") for i in ids):
            time.sleep(0.5)
        listing = client.get("/jobs", params={"limit": args.jobs})
        whole = sum(len(client.get(f"/jobs/{i}?history=full").content) for i in ids)
        print(
            f"GET /jobs after {args.jobs} jobs: before {whole / 1024:.1f} KB, "
            f"after {kb(listing)} (each job whole at GET /jobs/{{id}}: "
            f"{kb(client.get(f'/jobs/{ids[0]}'))} with the history summary)"
        )


if __name__ == "__main__":
    main()
