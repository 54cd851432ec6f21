"""`forecast-service` / `python -m service`: run the API with uvicorn, or, with `worker`, a
Celery training worker (FORECAST_JOBS_BACKEND=celery)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["worker"]:
        from service.jobs.worker import main as worker_main

        worker_main(args[1:])
        return
    serve(args)


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="forecast-service",
        description="Serve the RNN forecasting API. `forecast-service worker [options]` starts "
        "a Celery training worker instead (options go to `celery worker`).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="API processes (uvicorn workers)")
    parser.add_argument("--store", help="model store root (FORECAST_STORE_DIR)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    if args.store:
        os.environ["FORECAST_STORE_DIR"] = args.store
    metrics = None
    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each API process counts its own requests; prometheus_client's multiprocess mode
        # keeps the counts in files there, and /metrics adds up every process's.
        metrics = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="forecast-metrics-"
        )

    import uvicorn

    try:
        uvicorn.run(
            "service.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=False,  # the service logs each request itself, with its request id
        )
    finally:
        if metrics is not None:
            shutil.rmtree(metrics, ignore_errors=True)


if __name__ == "__main__":
    main()
