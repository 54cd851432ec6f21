from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CacheDep, ModelDep, StoreDep, VersionDep
from service.api.responses import errors
from service.api.security import Read, Write
from service.schemas.models import (
    Deleted,
    ModelDetail,
    ModelPublic,
    ModelsPublic,
    VersionPublic,
    VersionStatus,
)
from service.store.local import ModelStore, StoredVersion

router = APIRouter(prefix="/models", tags=["models"], responses=errors(401, 404))


@router.get("", response_model=ModelsPublic, dependencies=[Read])
def list_models(store: StoreDep) -> ModelsPublic:
    """Every model with at least one version: its latest version and when it was trained."""
    data = [_summary(store, name) for name in store.names()]
    models = [m for m in data if m.versions]
    return ModelsPublic(data=models, count=len(models))


@router.get("/{name}", response_model=ModelDetail, dependencies=[Read])
def get_model(name: ModelDep, store: StoreDep) -> ModelDetail:
    """A model's versions with their cards; a broken version is listed with its error."""
    return ModelDetail(model_name=name, versions=[_public(v) for v in store.stored(name)])


@router.get("/{name}/versions/{version}", response_model=VersionPublic, dependencies=[Read])
def get_version(model: VersionDep, store: StoreDep) -> VersionPublic:
    name, version = model
    return _public(store.stored_version(name, version))


@router.delete("/{name}", response_model=Deleted, dependencies=[Write])
def delete_model(name: ModelDep, store: StoreDep, cache: CacheDep) -> Deleted:
    """Delete every version. Version numbers are not reused if the name is trained again."""
    deleted = store.delete(name)
    cache.evict(name)
    return Deleted(model_name=name, versions=deleted)


@router.delete("/{name}/versions/{version}", response_model=Deleted, dependencies=[Write])
def delete_version(model: VersionDep, store: StoreDep, cache: CacheDep) -> Deleted:
    name, version = model
    deleted = store.delete(name, version)
    cache.evict(name, version)
    return Deleted(model_name=name, versions=deleted)


def _summary(store: ModelStore, name: str) -> ModelPublic:
    """Reads one card, the latest version's: a listing should not parse every model's history."""
    versions = store.versions(name)
    latest = store.stored_version(name, versions[-1]) if versions else None
    return ModelPublic(
        model_name=name,
        latest_version=latest.version if latest else None,
        created_at=latest.card.created_at if latest and latest.card else None,
        versions=len(versions),
    )


def _public(stored: StoredVersion) -> VersionPublic:
    status = VersionStatus.ok if stored.card is not None else VersionStatus.broken
    return VersionPublic(
        model_name=stored.name,
        version=stored.version,
        status=status,
        error=stored.error,
        card=stored.card,
    )
