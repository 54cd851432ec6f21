"""One rule for every number of every request body: a number is never read from a string, an
integer may be written 2 or 2.0, a boolean is true or false. The fields are read from the
OpenAPI document, so a field added later is checked too."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.forecasting.spec import TrainSpec
from service.schemas.backtest import BacktestRequest
from service.schemas.forecast import ForecastRequest
from service.schemas.upload import UploadSpec

Loc = tuple[str | int, ...]


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def alternatives(doc: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null forms of a field: `anyOf`/`oneOf` members, or a list of types."""
    schema = resolve(doc, schema)
    members = schema.get("anyOf") or schema.get("oneOf")
    if members and "properties" not in schema:  # a body's `oneOf` data forms narrow it only
        return [a for m in members for a in alternatives(doc, m)]
    types = schema.get("type")
    if isinstance(types, list):
        return [{**schema, "type": t} for t in types if t != "null"]
    return [] if types == "null" else [schema]


def scalar_fields(doc: dict[str, Any], schema: dict[str, Any], loc: Loc = ()) -> Iterator[Any]:
    """(location, JSON type) of every number, integer and boolean under `schema`; an array's
    item is at index 0."""
    for form in alternatives(doc, schema):
        kind = form.get("type")
        if kind in ("integer", "number", "boolean"):
            yield loc, kind
        elif kind == "array" and "items" in form:
            yield from scalar_fields(doc, form["items"], (*loc, 0))
        elif "properties" in form:
            for name, field in form["properties"].items():
                yield from scalar_fields(doc, field, (*loc, name))


def put(body: Any, loc: Loc, value: Any) -> Any:
    """`body` with `value` at `loc`, making the objects and arrays on the way."""
    if not loc:
        return value
    head, rest = loc[0], loc[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) and body else [{}]
        if not isinstance(items[0], dict | list) and rest:
            items = [{}]
        items[0] = put(items[0], rest, value)
        return items
    out = dict(body) if isinstance(body, dict) else {}
    out[head] = put(out.get(head), rest, value)
    return out


def json_routes(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(method, url with its path parameters' examples, body schema, example body)."""
    for template, operations in doc["paths"].items():
        for method, op in operations.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            url = template
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    example = next(iter(param["examples"].values()))["value"]
                    if param["name"] == "name":  # a model that exists (see `trained`)
                        example = TRAINED
                    url = url.replace("{" + param["name"] + "}", str(example))
            schema = resolve(doc, content["schema"])
            yield method.upper(), url, schema, copy.deepcopy(schema["examples"][0])


def depth(doc: dict[str, Any], schema: dict[str, Any]) -> int:
    """How deep the first form of an array field nests."""
    form = alternatives(doc, schema)[0]
    return 1 + depth(doc, form["items"]) if form.get("type") == "array" else 0


def in_its_form(doc: dict[str, Any], schema: dict[str, Any], example: Any, field: str) -> Any:
    """The example with its data in the first of the body's `oneOf` forms that gives `field`,
    else allows it (the others' arrays left out): the rule that data comes in one form kept."""
    forms = schema.get("oneOf", [])
    arrays = {name for f in forms for name, p in f["properties"].items() if p.get("type")}
    kinds = [f["properties"].get(field, {}).get("type") for f in forms]
    allowed = [f for f, kind in zip(forms, kinds, strict=True) if kind == "array"]
    allowed += [f for f, kind in zip(forms, kinds, strict=True) if kind is None]
    given = allowed[0] if allowed else None
    if given is None or field in example:
        return example
    body = {k: v for k, v in example.items() if k not in arrays}
    for name, form in given["properties"].items():
        if form.get("type") == "array":
            body[name] = put(None, (0,) * depth(doc, schema["properties"][name]), 1.0)
    return body


def cases(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], Loc, str]]:
    found = []
    for method, url, schema, example in json_routes(doc):
        for loc, kind in scalar_fields(doc, schema):
            body = in_its_form(doc, schema, example, str(loc[0]))
            found.append((method, url, body, loc, kind))
    return found


def refused_at(error: dict[str, Any], loc: Loc) -> bool:
    """The error is the string's refusal, at its field (an array of numbers: at the array,
    whose message names the index)."""
    at = tuple(error["loc"][1:])
    if error["type"] == "invalid_array":
        return loc[: len(at)] == at and "not a number" in error["msg"]
    return at == loc and error["type"] in ("int_type", "float_type", "bool_type")


TRAINED = "coerced"


@pytest.fixture(scope="module")
def trained(client: TestClient) -> None:
    """A model for the routes on a model's path (their 404 would come before the body's 422)."""
    series = [float(i % 7) for i in range(40)]
    spec = {"window": {"length": 3}, "epochs": 1, "layers": [{"type": "dense", "units": 2}]}
    answer = client.post("/train", json={"model_name": TRAINED, "series": series, "spec": spec})
    assert answer.status_code == 201, answer.text


@pytest.mark.usefixtures("trained")
def test_every_number_of_every_body_refuses_a_string(
    client: TestClient, doc: dict[str, Any]
) -> None:
    found = cases(doc)
    fields = {(url, loc) for _, url, _, loc, _ in found}
    # The walk reaches nested and listed fields, so a field cannot pass by being missed.
    assert ("/train", ("spec", "window", "length")) in fields
    assert ("/train", ("spec", "layers", 0, "units")) in fields
    assert ("/train", ("spec", "target_columns", 0)) in fields
    assert ("/forecast", ("levels", 0)) in fields
    assert ("/backtest", ("refit",)) in fields
    accepted = []
    for method, url, example, loc, kind in found:
        sent = "true" if kind == "boolean" else "2"
        answer = client.request(method, url, json=put(example, loc, sent))
        errors = answer.json().get("detail") if answer.status_code == 422 else None
        at_field = isinstance(errors, list) and any(refused_at(e, loc) for e in errors)
        if not at_field:
            accepted.append(f"{method} {url} {loc}={sent!r}: {answer.status_code} {answer.text}")
    assert accepted == [], "\n".join(accepted)


def test_the_refusal_says_how_to_write_it(client: TestClient) -> None:
    answer = client.post("/forecast", json={"model_name": "m", "series": [1.0], "horizon": "2"})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "horizon"]
    assert "not the string '2' (send it without quotes)" in error["msg"]


def test_an_integer_may_be_written_with_a_zero_fraction() -> None:
    spec = TrainSpec.model_validate({"epochs": 3.0, "window": {"length": 5.0}})
    assert (spec.epochs, spec.window.length) == (3, 5)
    request = ForecastRequest.model_validate({"model_name": "m", "series": [1.0], "horizon": 2.0})
    assert request.horizon == 2
    assert isinstance(request.horizon, int)
    with pytest.raises(ValueError, match="fractional part"):
        TrainSpec.model_validate({"epochs": 2.5})


def test_booleans_are_true_or_false_only() -> None:
    body = {"model_name": "m", "series": [1.0, 2.0], "horizon": 1}
    for sent in (1, "yes", "true"):
        with pytest.raises(ValueError, match="true or false"):
            BacktestRequest.model_validate({**body, "refit": sent})
    assert BacktestRequest.model_validate({**body, "refit": True}).refit is True


def test_the_document_names_bounds_as_json_schema_does(doc: dict[str, Any]) -> None:
    """`minimum`, never pydantic's `ge`, including inside `X | None` and list items."""

    def python_named(schema: Any) -> Iterator[str]:
        if isinstance(schema, dict):
            if schema.get("type") in ("integer", "number"):
                yield from (k for k in ("ge", "le", "gt", "lt") if k in schema)
            for value in schema.values():
                yield from python_named(value)
        elif isinstance(schema, list):
            for item in schema:
                yield from python_named(item)

    assert list(python_named(doc)) == []
    units = doc["components"]["schemas"]["TrainSpec"]["properties"]["units"]["anyOf"][0]
    assert units["minimum"] == 1


def test_an_upload_spec_follows_the_rule_too() -> None:
    with pytest.raises(ValueError, match="without quotes"):
        UploadSpec.model_validate_json('{"window": {"length": "20"}}')
