"""All settings in one place, read from the environment with the prefix FORECAST_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORECAST_", env_file=".env", extra="ignore")

    store_dir: Path = Field(default=Path("models_store"), description="Root of the model store.")
    workers: int = Field(default=1, ge=1, le=64, description="Training worker processes.")
    worker_threads: int = Field(
        default=1, ge=1, le=64, description="TensorFlow threads per training worker."
    )
    max_queued_jobs: int = Field(default=16, ge=1, description="Jobs waiting beyond the workers.")
    job_timeout_seconds: float = Field(default=3600, gt=0)
    xla_cache: bool = Field(
        default=True, description="Cache compiled training loops under <store_dir>/.cache/xla."
    )
    cache_models: int = Field(default=32, ge=1, description="Model versions kept loaded.")
    cache_bytes: int = Field(
        default=512 * 2**20, ge=1, description="Bytes of model files kept loaded."
    )

    # Limits on requests, enforced before any work is done.
    max_series_length: int = Field(default=1_000_000, ge=1)
    max_windows: int = Field(default=200_000, ge=1)
    max_features: int = Field(default=256, ge=1)
    max_horizon: int = Field(default=10_000, ge=1)

    api_key: SecretStr | None = None
    log_json: bool = False


@lru_cache
def get_settings() -> Settings:
    return Settings()
