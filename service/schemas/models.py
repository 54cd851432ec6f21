"""/models: models, their versions and cards, aliases and notes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import BodyVersionRef
from service.store.card import ModelCard, Notes


class VersionStatus(StrEnum):
    ok = "ok"
    broken = "broken"


class VersionPublic(BaseModel):
    model_name: str
    version: int
    status: VersionStatus
    error: str | None = None
    card: ModelCard | None = None
    notes: Notes = Field(default_factory=Notes)


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
    aliases: dict[str, int] = Field(
        default_factory=dict, description="Each alias and the version it points at."
    )


class AliasUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 2}]})

    version: BodyVersionRef = Field(description="A version number, or another alias.")


class AliasPublic(BaseModel):
    model_name: str
    alias: str
    version: int


class NotesUpdate(BaseModel):
    """What to change; a field left out stays as it is."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"description": "GRU, 2022-2024 sales", "tags": ["sales", "monthly"]}]
        },
    )

    description: str | None = Field(default=None, max_length=2000)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=32
    )


class Deleted(BaseModel):
    model_name: str
    versions: list[int]
