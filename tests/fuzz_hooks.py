"""Schemathesis hooks for scripts/fuzz-api (loaded through SCHEMATHESIS_HOOKS).

The data routes (/train, /forecast, /forecast/plot, /backtest, an upload) have rules no JSON
Schema can state: a series at least one window long, targets with a row per window, windows x
epochs x units under FORECAST_MAX_TRAINING_WORK, a request that fits the stored model, an
archive that is a Keras model taking the declared windows. Their 422s are
allowed to schema-valid requests (scripts/fuzz-api.toml), and this check makes sure each such
422 is one of those rules and never a per-field one the document should have stated."""

from __future__ import annotations

from typing import Any

import schemathesis

# Errors of rules across fields or against the stored model: model validators, the use cases'
# checks (usecases/checks.py) and a training the worker refuses.
CROSS_FIELD = {"value_error", "invalid_input", "training_rejected"}


def _per_field(error: dict[str, Any]) -> bool:
    kind = error.get("type")
    if kind == "invalid_array":  # rows of different lengths: JSON Schema cannot say "rectangular"
        return "ragged" not in str(error.get("msg"))
    return kind not in CROSS_FIELD


def _union_parent(error: dict[str, Any]) -> tuple[Any, ...] | None:
    """Where pydantic tried the alternatives of a union (`literal['auto']`, `list[...]` in the
    location): each alternative reports its own error, and one cross-field error among them
    is the answer."""
    loc = error.get("loc", [])
    tagged = [i for i, part in enumerate(loc) if isinstance(part, str) and "[" in part]
    return tuple(loc[: tagged[0]]) if tagged else None


def _field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    explained = {_union_parent(e) for e in errors if not _per_field(e)} - {None}
    return [e for e in errors if _per_field(e) and _union_parent(e) not in explained]


@schemathesis.check
def rejections_are_cross_field(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    errors = response.json().get("detail")
    field_errors = _field_errors(errors) if isinstance(errors, list) else errors
    if field_errors:
        raise AssertionError(
            f"a schema-valid request got a per-field 422 the document does not state: "
            f"{field_errors}"
        )
    return None
