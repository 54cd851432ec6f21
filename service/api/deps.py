"""Dependencies shared by the routers: the settings, the store, the model cache, the jobs, a
model's version.

The ones that only read app.state are `async`: FastAPI runs a plain `def` dependency in its
thread pool, and each such hop cost a forecast about as much as its inference."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import AfterValidator

from service.config import Settings
from service.jobs.backend import JobBackend
from service.schemas.common import VersionRef
from service.serving.cache import ModelCache
from service.store.local import ModelStore
from service.store.names import ALIAS_PATTERN, MODEL_NAME_PATTERN, check_model_name


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> ModelStore:
    store: ModelStore = request.app.state.store
    return store


async def get_cache(request: Request) -> ModelCache:
    cache: ModelCache = request.app.state.cache
    return cache


async def get_jobs(request: Request) -> JobBackend:
    jobs: JobBackend = request.app.state.jobs
    return jobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ModelStore, Depends(get_store)]
CacheDep = Annotated[ModelCache, Depends(get_cache)]
JobsDep = Annotated[JobBackend, Depends(get_jobs)]
NamePath = Annotated[
    str,
    AfterValidator(check_model_name),
    Path(
        description="The model's name.",
        openapi_examples={
            "sine": {"summary": "the model POST /train's example trains", "value": "sine"}
        },
        json_schema_extra={"pattern": MODEL_NAME_PATTERN},
    ),
]


def existing_model(name: NamePath, store: StoreDep) -> str:
    """The model name from the path, once it is known to have at least one version."""
    store.latest(name)
    return name


VersionPath = Annotated[
    VersionRef,
    Path(
        description="The version number (1 is the first trained), or an alias of it.",
        openapi_examples={"first": {"summary": "the first version", "value": 1}},
    ),
]
AliasPath = Annotated[
    str,
    Path(
        pattern=ALIAS_PATTERN,
        description="An alias: a letter, then letters, digits, `_` and `-`, 1-64 characters.",
        openapi_examples={
            "production": {"summary": "the version in production", "value": "production"}
        },
    ),
]


def existing_version(name: NamePath, version: VersionPath, store: StoreDep) -> tuple[str, int]:
    return name, store.resolve(name, version)


ModelDep = Annotated[str, Depends(existing_model)]
VersionDep = Annotated[tuple[str, int], Depends(existing_version)]
