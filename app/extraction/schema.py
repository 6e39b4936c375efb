"""What the model's answer must be: the JSON schema that constrains what it writes, and the
pydantic model that validates the answer and coerces each value to its field's type."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from .coercion import (
    to_boolean,
    to_choice,
    to_date,
    to_integer,
    to_list,
    to_number,
    to_object,
    to_text,
)
from .fields import FieldSpec, ItemSpec

_COERCE: dict[str, tuple[Any, Any]] = {
    "string": (str, to_text),
    "number": (float, to_number),
    "integer": (int, to_integer),
    "boolean": (bool, to_boolean),
    "date": (dt.date, to_date),
}


def _python_type(spec: ItemSpec, name: str) -> Any:
    """The pydantic type of one field or array entry, null allowed."""
    if spec.type in _COERCE:
        kind, coerce = _COERCE[spec.type]
        return Annotated[kind | None, BeforeValidator(coerce)]
    if spec.type == "enum":
        assert spec.values is not None
        choice = Literal[tuple(spec.values)]  # type: ignore[valid-type]
        return Annotated[choice | None, BeforeValidator(to_choice(spec.values))]
    if spec.type == "array":
        assert spec.items is not None
        item = _python_type(spec.items, f"{name}_item")
        return Annotated[list[item] | None, BeforeValidator(to_list)]  # type: ignore[valid-type]
    assert spec.fields is not None
    return Annotated[answer_model(spec.fields, name) | None, BeforeValidator(to_object)]


def answer_model(fields: list[FieldSpec], name: str = "Extracted") -> type[BaseModel]:
    """A pydantic model for an answer: every field present (missing ones null), extra keys
    dropped. Python names are positional so a field may be called anything, even "schema"."""
    definitions: dict[str, Any] = {
        f"f{i}": (_python_type(spec, f"{name}_{spec.name}"), Field(None, alias=spec.name))
        for i, spec in enumerate(fields)
    }
    return create_model(  # type: ignore[call-overload, no-any-return]
        name, __config__=ConfigDict(extra="ignore", populate_by_name=False), **definitions
    )


# The JSON schema that constrains the model's answer -------------------------------------


def _value_schema(spec: ItemSpec) -> dict[str, Any]:
    """A non-null value of this spec. Numbers may also come as text, coerced afterwards."""
    if spec.type == "string":
        return {"type": "string"}
    if spec.type == "number":
        return {"anyOf": [{"type": "number"}, {"type": "string"}]}
    if spec.type == "integer":
        return {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    if spec.type == "boolean":
        return {"type": "boolean"}
    if spec.type == "date":
        return {"type": "string"}
    if spec.type == "enum":
        return {"enum": list(spec.values or [])}
    if spec.type == "array":
        assert spec.items is not None
        return {"type": "array", "items": _value_schema(spec.items)}
    return object_schema(spec.fields or [])


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    alternatives = schema["anyOf"] if set(schema) == {"anyOf"} else [schema]
    return {"anyOf": [*alternatives, {"type": "null"}]}


def object_schema(fields: list[FieldSpec]) -> dict[str, Any]:
    """Every field required (so always written), each nullable, nothing else allowed."""
    return {
        "type": "object",
        "properties": {f.name: _nullable(_value_schema(f)) for f in fields},
        "required": [f.name for f in fields],
        "additionalProperties": False,
    }
