"""FastAPI's validation errors as a user can act on them: the field's own location (not
pydantic's union branches), the likely intended name for a misspelt one, and a hint for a body
sent without its content type."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from service.forecasting.spec import LayerSpec, TrainSpec, WindowSpec
from service.schemas.backtest import BacktestRequest
from service.schemas.forecast import ForecastRequest
from service.schemas.train import TrainRequest

# The request models whose fields a misspelt name is compared with, by the name of the
# location's last model (the top level: the body's own fields).
_FIELDS: dict[str, set[str]] = {
    name: {f.alias or n for model in models for n, f in model.model_fields.items()}
    for name, models in {
        "body": (TrainRequest, ForecastRequest, BacktestRequest),
        "spec": (TrainSpec,),
        "window": (WindowSpec,),
        "layers": (LayerSpec,),
    }.items()
}


def explain(errors: Sequence[Any], content_type: str | None) -> list[dict[str, Any]]:
    """One entry per field: `loc`, `msg`, `type`."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    branches = [_branch(e.get("loc", ())) for e in errors]
    for error, branch in zip(errors, branches, strict=True):
        loc = _plain(error.get("loc", ()))
        entry = {"type": error.get("type"), "loc": list(loc), "msg": error.get("msg")}
        rivals = branch is not None and branches.count(branch) > 1
        if entry["type"] == "literal_error" and (tuple(loc) in seen or rivals):
            # Another alternative of the same union (`"auto"`, or a list that failed deeper):
            # the other error says what is wrong.
            if rivals and any(
                e.get("type") != "literal_error"
                for e, b in zip(errors, branches, strict=True)
                if b == branch
            ):
                continue
            if tuple(loc) in seen:
                continue
        if entry["type"] == "extra_forbidden":
            entry["msg"] = _did_you_mean(loc)
        if entry["type"] == "model_attributes_type" and list(loc) == ["body"]:
            entry["msg"] = _no_object(content_type, entry["msg"])
        seen.add(tuple(loc))
        out.append(entry)
    return out


def _branch(loc: Sequence[Any]) -> tuple[Any, ...] | None:
    """The location of the union whose alternative this error is from, if any."""
    tagged = [i for i, p in enumerate(loc) if isinstance(p, str) and ("[" in p or "(" in p)]
    return tuple(loc[: tagged[0]]) if tagged else None


def _plain(loc: Sequence[Any]) -> list[Any]:
    """Without pydantic's names for union alternatives (`literal['lstm',...]`, `list[...]`,
    `function-after[...]`): the location as the request spells it."""
    return [p for p in loc if not (isinstance(p, str) and ("[" in p or "(" in p))]


def _did_you_mean(loc: Sequence[Any]) -> str:
    name = str(loc[-1])
    parent = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), "body")
    close = difflib.get_close_matches(name, sorted(_FIELDS.get(parent, set())), n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"`{name}` is not a field here{hint}"


def _no_object(content_type: str | None, message: str) -> str:
    if not content_type or "json" not in content_type:
        return (
            "the body must be a JSON object, sent with the header "
            "`Content-Type: application/json` (it was "
            f"{content_type or 'missing'})"
        )
    return message
