"""Numbers and booleans as JSON writes them, one rule for every field of a request: a number is
never read from a string (`"2"` is refused, as `"0.02"` in a series always was), an integer
may be written `2` or `2.0` (JSON has one number type) but not `2.5`, and a boolean is `true`
or `false`, never `1` or `"yes"`. Pydantic's lax mode would read `"2"` as 2; its strict mode
would refuse `2.0`: hence these types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _number(kind: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, str | bytes | bool):
            raise PydanticCustomError(
                "int_type" if kind == "an integer" else "float_type",
                "Input should be {kind} written as a JSON number, not {given}",
                {"kind": kind, "given": _given(value)},
            )
        return value

    return check


def _given(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return f"the string {_shown(value)} (send it without quotes)"


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise PydanticCustomError(
            "bool_type",
            "Input should be true or false, not {given}",
            {"given": _shown(value)},
        )
    return value


JsonInt = Annotated[int, BeforeValidator(_number("an integer"))]
JsonFloat = Annotated[float, BeforeValidator(_number("a number"))]
JsonBool = Annotated[bool, BeforeValidator(_boolean)]
