"""What every resource's schemas share: model names, array fields, the lecture's example data
and the rule that data comes in one form."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, Field

from service.forecasting.spec import JsonInt
from service.schemas.arrays import ArrayField
from service.store.names import ALIAS_PATTERN, MODEL_NAME_PATTERN, check_model_name

ModelName = Annotated[
    str,
    AfterValidator(check_model_name),
    # The pattern is checked by `check_model_name` (Python's `re`: the lookahead that keeps out
    # reserved names is beyond pydantic's Rust regex) and documented as it is.
    Field(
        description="Letters, digits, `_`, `.` and `-`, 1-64 characters, not starting with `.`, "
        "not a reserved device name.",
        examples=["sine"],
        json_schema_extra={"pattern": MODEL_NAME_PATTERN},
    ),
]

AliasName = Annotated[
    str,
    Field(
        pattern=ALIAS_PATTERN,
        description="An alias of a version (`production`, `candidate`, ...): a letter, then "
        "letters, digits, `_` and `-`, 1-64 characters.",
        examples=["production"],
    ),
]
# A version by number or by alias, wherever a version is taken. Numbers first: "2" is version 2.
VersionRef = Annotated[Annotated[int, Field(ge=1)] | AliasName, Field(union_mode="left_to_right")]
# In a JSON body, a version number is a JSON number like every other (`"2"` is refused: see
# forecasting/jsontypes.py); a path holds text, so there "2" is version 2.
BodyVersionRef = Annotated[
    Annotated[JsonInt, Field(ge=1)] | AliasName, Field(union_mode="left_to_right")
]

Series = Annotated[np.ndarray, ArrayField(1, 2, field="series")]
TestSeries = Annotated[np.ndarray, ArrayField(1, 2, field="test_series")]
Inputs = Annotated[np.ndarray, ArrayField(3, field="inputs")]
TestInputs = Annotated[np.ndarray, ArrayField(3, field="test_inputs")]
Targets = Annotated[np.ndarray, ArrayField(1, 2, field="targets")]
TestTargets = Annotated[np.ndarray, ArrayField(1, 2, field="test_targets")]

# The lecture's data: sin(x) on [0, 100) for training and [90, 200) for testing, step 0.5.
_TRAIN_X = np.arange(0, 100, 0.5)
_TEST_X = np.arange(90, 200, 0.5)
EXAMPLE_SERIES: list[Any] = [round(float(v), 6) for v in np.sin(_TRAIN_X)]
EXAMPLE_TEST_SERIES: list[Any] = [round(float(v), 6) for v in np.sin(_TEST_X)]


def one_form(data: dict[str, Any], *, targets_required: bool, stored: bool = False) -> None:
    """Data comes as `series`, or as `inputs` (with `targets` where they are required); with
    `stored`, neither: the version's stored history is used."""
    has_series, has_inputs = data.get("series") is not None, data.get("inputs") is not None
    if has_series and has_inputs:
        raise ValueError("give either `series` or `inputs`, not both")
    if not (has_series or has_inputs or stored):
        raise ValueError("give the data as `series`, or as `inputs` with `targets`")
    if data.get("targets") is not None and not has_inputs:
        raise ValueError("`targets` go with `inputs`; a series carries its own next values")
    if targets_required and has_inputs and data.get("targets") is None:
        raise ValueError("`inputs` need `targets` to train on")


def check_targets(inputs: np.ndarray, targets: np.ndarray, *, names: tuple[str, str]) -> None:
    if len(targets) != len(inputs):
        raise ValueError(
            f"{names[1]} has {len(targets)} rows but {names[0]} has {len(inputs)} windows"
        )


def as_rows(array: np.ndarray) -> np.ndarray:
    """A 1-D series as one column, a 2-D one as it is."""
    return array.reshape(len(array), -1)


def data_forms(*forms: dict[str, Any], examples: list[dict[str, Any]]) -> dict[str, Any]:
    """`json_schema_extra` for a request whose data comes in exactly one of several forms: the
    document says so as `oneOf`, so that generated clients and fuzzers send one form only."""
    return {"examples": examples, "oneOf": list(forms)}


def form(
    *given: str,
    absent: tuple[str, ...],
    also: dict[str, Any] | None = None,
    needs: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One data form: the `given` fields are arrays, the `absent` ones missing or null; `also`
    narrows other fields' schemas and `needs` makes them required in this form."""
    properties: dict[str, Any] = {name: {"type": "array"} for name in given}
    properties |= {name: {"type": "null"} for name in absent}
    return {"required": [*given, *needs], "properties": properties | (also or {})}
