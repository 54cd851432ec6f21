"""Bring your own model: a `.keras` file uploaded as the next version of a model name.

The archive is read here without TensorFlow (usecases/archive.py) and refused at once when it
is not one the service takes; a training worker then loads it with Keras' `safe_mode`, checks
it against the declared window and stores it (usecases/uploading.py).
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from service.api.deps import JobsDep, NamePath, SettingsDep, StoreDep
from service.api.responses import errors
from service.api.security import Write, WriteKeyHeader
from service.config import Settings
from service.schemas.models import VersionPublic, VersionStatus
from service.schemas.upload import UploadRequest, UploadSpec
from service.store.card import ModelCard
from service.usecases.archive import ArchiveInfo, inspect_archive
from service.usecases.checks import check_timesteps, check_upload_spec, check_versions

router = APIRouter(tags=["models"])

SPEC_DESCRIPTION = (
    "JSON (an UploadSpec): `window` (length, sampling_rate, stride) as the model's windows were "
    'cut, `scaling` with its fitted `offset` and `scale` (or "none"), `target_scaling`, '
    "`transforms`, `window_normalization`, `target_columns`, and an optional `test_series` for "
    'metrics, baselines and intervals. Example: {"window": {"length": 20}}'
)


@router.post(
    "/models/{name}/versions",
    dependencies=[Write],
    status_code=status.HTTP_201_CREATED,
    response_model=VersionPublic,
    responses=errors(400, 401, 413, 429, 503),
)
async def upload_version(
    name: NamePath,
    file: Annotated[UploadFile, File(description="The .keras file: `model.save('x.keras')`.")],
    spec: Annotated[str, Form(min_length=1, description=SPEC_DESCRIPTION)],  # "" reads as missing
    jobs: JobsDep,
    store: StoreDep,
    response: Response,
    key: WriteKeyHeader,
    settings: SettingsDep,
) -> VersionPublic:
    """Store an uploaded Keras 3 model (Dense, SimpleRNN, LSTM, GRU layers) as the next version
    of `name`, served by /forecast, /backtest, intervals and plots like a trained one.

    Loaded in a training worker with Keras' `safe_mode`, within the job time limit; refused
    with nothing stored when it is not a Keras archive, holds other layers or code, or does not
    take the declared windows.
    """
    limit = settings.max_upload_bytes
    data = await file.read(limit + 1)
    info = inspect_archive(data, max_bytes=limit)
    upload = _parse_spec(spec)
    check_upload_spec(upload, settings)
    _check_window(info, upload)
    check_versions(name, store, settings)
    job = jobs.submit(
        UploadRequest(
            model_name=name,
            archive=data,
            filename=file.filename,
            spec=upload,
            uploaded_by=_uploader(key, settings),
        )
    )
    finished = await jobs.wait(job.id)
    finished.raise_error()
    assert finished.card is not None
    card = ModelCard.model_validate(finished.card)
    response.headers["Location"] = f"/models/{name}/versions/{card.version}"
    return VersionPublic(model_name=name, version=card.version, status=VersionStatus.ok, card=card)


def _parse_spec(spec: str) -> UploadSpec:
    try:
        return UploadSpec.model_validate_json(spec)
    except ValidationError as error:
        raise RequestValidationError(
            [
                {"loc": ("body", "spec", *e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in error.errors()
            ]
        ) from None


def _check_window(info: ArchiveInfo, spec: UploadSpec) -> None:
    """What config.json declares against the window, before a worker loads anything."""
    if info.input_shape is not None:
        check_timesteps(info.input_shape[1], spec.window)


def _uploader(key: str | None, settings: Settings) -> str | None:
    """Which key uploaded, when keys are set: a fingerprint, never the key itself."""
    if key is None or settings.key("write") is None:
        return None
    return "api key sha256:" + hashlib.sha256(key.encode()).hexdigest()[:16]
