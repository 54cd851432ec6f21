"""All settings in one place, read from the environment with the prefix FORECAST_.

One `Settings` is made where a process starts (create_app, the worker command) and handed to
what needs it: routes take `SettingsDep`, the rest take it as an argument. There is no global.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Old names, accepted for one release with a warning: {old field: new field}.
RENAMED = {"store_dir": "store_root", "workers": "training_workers"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORECAST_", env_file=".env", extra="ignore")

    store_root: Path = Field(default=Path("models_store"), description="Root of the model store.")
    jobs_backend: Literal["local", "celery"] = Field(
        default="local",
        description="local: a pool of training workers in each API process; celery: "
        "`forecast-service worker` processes over Redis.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Celery backend: the Redis that is broker and job state.",
    )
    redis_prefix: str = Field(
        default="forecast:",
        pattern=r"^[A-Za-z0-9:_.-]{1,64}$",
        description="Celery backend: prefix of the job-state keys, and the queue's name.",
    )
    training_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Training worker processes (per API process, or per `forecast-service "
        "worker`); API processes are `forecast-service --api-processes`.",
    )
    worker_threads: int = Field(
        default=1, ge=1, le=64, description="TensorFlow threads per training worker."
    )
    max_queued_jobs: int = Field(default=16, ge=1, description="Jobs waiting beyond the workers.")
    job_timeout_seconds: float = Field(default=3600, gt=0)
    worker_retire_at: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Replace a training worker between jobs past this fraction of the "
        "kernel's memory-map limit (XLA never unmaps what it compiled).",
    )
    worker_max_memory_mb: int = Field(
        default=2048,
        ge=256,
        description="Replace a training worker between jobs past this RSS (its compiled "
        "training steps and XLA's executables stay for its life; bench/worker_memory.py).",
    )
    worker_max_trainings: int = Field(
        default=50, ge=1, description="Replace a training worker after this many jobs."
    )
    xla_cache: bool = Field(
        default=True, description="Cache compiled training loops under <store_root>/.cache/xla."
    )
    cache_models: int = Field(default=32, ge=1, description="Model versions kept loaded.")
    cache_bytes: int = Field(
        default=512 * 2**20, ge=1, description="Bytes of model files kept loaded."
    )
    otel_telemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs, for an "
        "OpenTelemetry provider set up around the service. Off, FastAPI skips its check for one "
        "on every request (5% of a one-window forecast's samples under py-spy); the service's "
        "own Prometheus metrics and access log stay either way.",
    )
    combine_requests: bool = Field(
        default=True,
        description="Run concurrent forecasts of one version in one runtime call "
        "(serving/batching.py); false runs each request's call on its own.",
    )

    # Limits on requests, enforced before any work is done.
    max_body_bytes: int = Field(default=64 * 2**20, ge=1024, description="Request body size.")
    max_upload_bytes: int = Field(
        default=32 * 2**20, ge=1024, description="Size of an uploaded .keras file."
    )
    max_series_length: int = Field(default=1_000_000, ge=1)
    max_windows: int = Field(default=200_000, ge=1)
    max_features: int = Field(default=256, ge=1)
    max_horizon: int = Field(default=10_000, ge=1)
    max_layers: int = Field(default=8, ge=1)
    max_units: int = Field(default=1024, ge=1)
    max_epochs: int = Field(default=20_000, ge=1)
    max_training_work: float = Field(
        default=1e11, gt=0, description="Windows x epochs x total units of one training."
    )
    max_versions: int = Field(default=1000, ge=1, description="Stored versions per model name.")
    max_refit_origins: int = Field(
        default=50, ge=1, description="Origins of a refit backtest: one training each."
    )
    # A worker is replaced between jobs once it has used half the kernel's memory maps (about
    # 190 trainings; one worker died at ~380): one job must stay well inside that.
    max_refit_trainings: int = Field(
        default=100, ge=1, description="Trainings of one refit backtest: origins x networks."
    )

    api_key: SecretStr | None = Field(
        default=None, description="Needed for training, cancelling and deleting when set."
    )
    api_key_read: SecretStr | None = Field(
        default=None, description="Needed for reads and forecasts too when set."
    )
    log_json: bool = False

    # Deprecated spellings (FORECAST_STORE_DIR, FORECAST_WORKERS); see RENAMED.
    store_dir: Path | None = Field(default=None, exclude=True, description="Use store_root.")
    workers: int | None = Field(
        default=None, ge=1, le=64, exclude=True, description="Use training_workers."
    )

    @model_validator(mode="after")
    def _old_names(self) -> Settings:
        for old, new in RENAMED.items():
            value = getattr(self, old)
            if value is None:
                continue
            warnings.warn(
                f"FORECAST_{old.upper()} ({old}) is deprecated and will be removed in the next "
                f"release: use FORECAST_{new.upper()} ({new})",
                FutureWarning,
                stacklevel=2,
            )
            if new not in self.model_fields_set:
                setattr(self, new, value)
            setattr(self, old, None)
        return self

    def key(self, kind: str) -> str | None:
        """The configured key for "write" or "read"; an empty value means no key."""
        secret = self.api_key if kind == "write" else self.api_key_read
        return secret.get_secret_value() or None if secret is not None else None
