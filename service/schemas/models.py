"""GET and DELETE /models: models, their versions and cards."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from service.store.card import ModelCard


class VersionStatus(StrEnum):
    ok = "ok"
    broken = "broken"


class VersionPublic(BaseModel):
    model_name: str
    version: int
    status: VersionStatus
    error: str | None = None
    card: ModelCard | None = None


class ModelPublic(BaseModel):
    model_name: str
    latest_version: int | None
    created_at: datetime | None = Field(description="When the latest version was trained.")
    versions: int


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int


class ModelDetail(BaseModel):
    model_name: str
    versions: list[VersionPublic]


class Deleted(BaseModel):
    model_name: str
    versions: list[int]
