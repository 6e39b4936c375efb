"""A template's fields: the typed specs a user sends, and the limits on a whole template
(depth and count keep the schema and the prompt small enough for a local model)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ..names import CleanName, CleanText, NotBlank

FieldType = Literal["string", "number", "integer", "boolean", "date", "enum", "array", "object"]
FIELD_TYPES: tuple[str, ...] = FieldType.__args__  # type: ignore[attr-defined]
MAX_DEPTH = 3  # a field, an object's field, and one more level
MAX_FIELDS = 200  # in the whole template, nested ones included

FieldName = Annotated[str, CleanName, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
EnumValue = Annotated[str, CleanName, StringConstraints(min_length=1, max_length=100), NotBlank]
Description = Annotated[str, CleanText, StringConstraints(max_length=1000)]


class ItemSpec(BaseModel):
    """What a field (or an array's entry) holds. `values` is for an enum, `items` for an
    array, `fields` for an object; each only there."""

    model_config = ConfigDict(extra="forbid")

    type: FieldType
    description: Description = ""
    values: list[EnumValue] | None = Field(default=None, min_length=1, max_length=100)
    items: ItemSpec | None = None
    fields: list[FieldSpec] | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> ItemSpec:
        needs = {"enum": "values", "array": "items", "object": "fields"}
        for kind, key in needs.items():
            present = getattr(self, key) is not None
            if self.type == kind and not present:
                raise ValueError(f"a field of type {kind!r} needs {key!r}")
            if self.type != kind and present:
                raise ValueError(f"{key!r} is only for fields of type {kind!r}")
        if self.values is not None:
            folded = [v.casefold() for v in self.values]
            if len(folded) != len(set(folded)):
                raise ValueError("an enum value appears twice (values ignore case)")
        if self.fields is not None:
            check_field_names(self.fields)
        return self


class FieldSpec(ItemSpec):
    name: FieldName
    required: bool = False


ItemSpec.model_rebuild()


def check_field_names(fields: list[FieldSpec]) -> None:
    seen: set[str] = set()
    for spec in fields:
        if spec.name in seen:
            raise ValueError(f"two fields are named {spec.name!r}")
        seen.add(spec.name)


def check_template(fields: list[FieldSpec]) -> None:
    """The limits on a whole template: unique names, nesting depth, field count."""
    check_field_names(fields)
    count = 0

    def walk(spec: ItemSpec, depth: int) -> None:
        nonlocal count
        if depth > MAX_DEPTH:
            raise ValueError(f"fields nest at most {MAX_DEPTH} levels deep")
        if spec.type == "array" and spec.items is not None:
            if spec.items.type == "array":
                raise ValueError("an array of arrays is not supported: use an array of objects")
            walk(spec.items, depth)
        for child in spec.fields or []:
            count += 1
            walk(child, depth + 1)

    for spec in fields:
        count += 1
        walk(spec, 1)
    if count > MAX_FIELDS:
        raise ValueError(f"a template holds at most {MAX_FIELDS} fields, nested ones included")


def parse_fields(raw: list[dict[str, Any]]) -> list[FieldSpec]:
    return [FieldSpec.model_validate(f) for f in raw]
