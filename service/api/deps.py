"""Dependencies shared by the routers: the store, the model cache, the jobs, a model's version.

The ones that only read app.state are `async`: FastAPI runs a plain `def` dependency in its
thread pool, and each such hop cost a forecast about as much as its inference."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import AfterValidator

from service.config import get_settings
from service.errors import InvalidInput
from service.jobs.backend import JobBackend
from service.schemas import MODEL_NAME_PATTERN, check_model_name
from service.serving import ModelCache
from service.store import ModelStore


async def get_store(request: Request) -> ModelStore:
    store: ModelStore = request.app.state.store
    return store


async def get_cache(request: Request) -> ModelCache:
    cache: ModelCache = request.app.state.cache
    return cache


async def get_jobs(request: Request) -> JobBackend:
    jobs: JobBackend = request.app.state.jobs
    return jobs


StoreDep = Annotated[ModelStore, Depends(get_store)]
CacheDep = Annotated[ModelCache, Depends(get_cache)]
JobsDep = Annotated[JobBackend, Depends(get_jobs)]
NamePath = Annotated[
    str,
    AfterValidator(check_model_name),
    Path(pattern=MODEL_NAME_PATTERN, description="The model's name."),
]


def existing_model(name: NamePath, store: StoreDep) -> str:
    """The model name from the path, once it is known to have at least one version."""
    store.latest(name)
    return name


def existing_version(
    name: NamePath, version: Annotated[int, Path(ge=1)], store: StoreDep
) -> tuple[str, int]:
    return name, store.resolve(name, version)


def check_room(store: ModelStore, name: str) -> None:
    """A new version of `name` is within FORECAST_MAX_VERSIONS."""
    limit = get_settings().max_versions
    if len(store.versions(name)) >= limit:
        raise InvalidInput(
            f"model {name!r} has {limit} versions, the limit (FORECAST_MAX_VERSIONS); delete "
            "old versions first",
            field="model_name",
        )


ModelDep = Annotated[str, Depends(existing_model)]
VersionDep = Annotated[tuple[str, int], Depends(existing_version)]
