from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import AliasPath, CacheDep, ModelDep, StoreDep, VersionDep
from service.api.responses import errors
from service.api.security import Read, Write
from service.schemas.models import (
    AliasPublic,
    AliasUpdate,
    Deleted,
    ModelDetail,
    ModelPublic,
    ModelsPublic,
    NotesUpdate,
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
    versions = [_public(v, store) for v in store.stored(name)]
    return ModelDetail(model_name=name, versions=versions, aliases=store.aliases(name))


@router.get("/{name}/versions/{version}", response_model=VersionPublic, dependencies=[Read])
def get_version(model: VersionDep, store: StoreDep) -> VersionPublic:
    name, version = model
    return _public(store.stored_version(name, version), store)


@router.patch(
    "/{name}/versions/{version}",
    response_model=VersionPublic,
    dependencies=[Write],
    responses=errors(400),
)
def update_notes(model: VersionDep, notes: NotesUpdate, store: StoreDep) -> VersionPublic:
    """Change a version's description or tags (the fields given; the others stay)."""
    name, version = model
    current = store.notes(name, version)
    store.set_notes(name, version, current.model_copy(update=notes.model_dump(exclude_none=True)))
    return _public(store.stored_version(name, version), store)


@router.get(
    "/{name}/versions/{version}/archive",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "A zip archive."}},
    dependencies=[Read],
)
def download_version(model: VersionDep, store: StoreDep) -> Response:
    """The version's folder as a zip (card, notes, `model.keras`, `model.onnx`, ensemble
    members): the `.keras` file loads in Keras 3 anywhere."""
    name, version = model
    headers = {"Content-Disposition": f'attachment; filename="{name}-{version}.zip"'}
    return Response(store.archive(name, version), media_type="application/zip", headers=headers)


@router.put(
    "/{name}/aliases/{alias}",
    response_model=AliasPublic,
    dependencies=[Write],
    responses=errors(400),
)
def set_alias(
    name: ModelDep, alias: AliasPath, target: AliasUpdate, store: StoreDep
) -> AliasPublic:
    """Point an alias at a version (moving it if it is set): atomic, also across API processes
    sharing the store. The alias is then accepted wherever a version is."""
    version = store.set_alias(name, alias, target.version)
    return AliasPublic(model_name=name, alias=alias, version=version)


@router.delete("/{name}/aliases/{alias}", response_model=AliasPublic, dependencies=[Write])
def delete_alias(name: ModelDep, alias: AliasPath, store: StoreDep) -> AliasPublic:
    """Remove an alias; answers the version it pointed at (which stays)."""
    return AliasPublic(model_name=name, alias=alias, version=store.delete_alias(name, alias))


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


def _public(stored: StoredVersion, store: ModelStore) -> VersionPublic:
    status = VersionStatus.ok if stored.card is not None else VersionStatus.broken
    return VersionPublic(
        model_name=stored.name,
        version=stored.version,
        status=status,
        error=stored.error,
        card=stored.card,
        notes=store.notes(stored.name, stored.version),
    )
