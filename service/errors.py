"""Domain errors. Each carries its HTTP status; one handler in main.py turns them into JSON.

Nothing here imports FastAPI, so the store and the jobs layer can raise them too.
"""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ServiceError):
    """A request that is well-formed but does not fit the model or the data (422)."""

    status_code = 422
    code = "invalid_input"


class ModelNotFound(ServiceError):
    status_code = 404
    code = "model_not_found"


class VersionNotFound(ServiceError):
    status_code = 404
    code = "version_not_found"


class AliasNotFound(ServiceError):
    """An alias that is not set, or that points at a version deleted since."""

    status_code = 404
    code = "alias_not_found"


class ModelBroken(ServiceError):
    """A stored version whose files cannot be read; other versions keep serving."""

    status_code = 409
    code = "model_broken"


class JobNotFound(ServiceError):
    status_code = 404
    code = "job_not_found"


class JobCancelled(ServiceError):
    """The job was cancelled (POST /jobs/{id}/cancel) before it finished: not a bad request."""

    status_code = 409
    code = "job_cancelled"


class JobUnfinished(ServiceError):
    """Deleting a job's record while it may still run: it is cancelled first."""

    status_code = 409
    code = "job_unfinished"


class QueueFull(ServiceError):
    status_code = 429
    code = "queue_full"


class BrokerUnavailable(ServiceError):
    """The job queue (Redis) does not answer: training is unavailable, serving goes on."""

    status_code = 503
    code = "broker_unavailable"


class NotTrained(ServiceError):
    """An uploaded version has no training here: no history to plot, no recipe to refit."""

    status_code = 409
    code = "not_trained"


class UploadTooLarge(ServiceError):
    status_code = 413
    code = "upload_too_large"


class TrainingFailed(ServiceError):
    status_code = 500
    code = "training_failed"


class TrainingRejected(ServiceError):
    """Training ran but produced nothing worth storing (diverged, cancelled)."""

    status_code = 422
    code = "training_rejected"


ERRORS_BY_CODE: dict[str, type[ServiceError]] = {
    cls.code: cls
    for cls in (
        ServiceError,
        InvalidInput,
        ModelNotFound,
        VersionNotFound,
        ModelBroken,
        JobNotFound,
        QueueFull,
        BrokerUnavailable,
        TrainingFailed,
        TrainingRejected,
        UploadTooLarge,
        NotTrained,
        JobCancelled,
    )
}
ERRORS_BY_CODE["cancelled"] = JobCancelled  # how job records written before it said it


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"


ERRORS_BY_CODE[Unauthorized.code] = Unauthorized
