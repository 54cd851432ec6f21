"""`forecast-service` / `python -m service`: run the API with uvicorn."""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="forecast-service", description="Serve the RNN forecasting API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="API processes (uvicorn workers)")
    parser.add_argument("--store", help="model store root (FORECAST_STORE_DIR)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    if args.store:
        os.environ["FORECAST_STORE_DIR"] = args.store

    import uvicorn

    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,  # the service logs each request itself, with its request id
    )


if __name__ == "__main__":
    main()
