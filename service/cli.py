"""`forecast-service` / `python -m service`: run the API with uvicorn, or, with `worker`, a
Celery training worker (FORECAST_JOBS_BACKEND=celery)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings


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
    parser.add_argument(
        "--api-processes",
        type=int,
        default=1,
        help="API processes (uvicorn workers); training workers are FORECAST_TRAINING_WORKERS",
    )
    parser.add_argument("--store-root", help="model store root (FORECAST_STORE_ROOT)")
    # The old spellings, accepted for one release.
    parser.add_argument("--workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    _old_options(args)
    if args.store_root:
        os.environ["FORECAST_STORE_ROOT"] = args.store_root
    metrics = None
    if args.api_processes > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
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
            workers=args.api_processes,
            log_level=args.log_level,
            access_log=False,  # the service logs each request itself, with its request id
        )
    finally:
        if metrics is not None:
            shutil.rmtree(metrics, ignore_errors=True)


def _old_options(args: argparse.Namespace) -> None:
    for old, new in (("workers", "api_processes"), ("store", "store_root")):
        value = getattr(args, old)
        if value is None:
            continue
        flag, replacement = f"--{old}", f"--{new.replace('_', '-')}"
        warnings.warn(
            f"{flag} is deprecated and will be removed in the next release: use {replacement}",
            FutureWarning,
            stacklevel=2,
        )
        setattr(args, new, value)


if __name__ == "__main__":
    main()
