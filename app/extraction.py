"""Extraction templates and the extractor: fields in, a JSON schema for the model, and a
pydantic model that validates (and coerces) what the model answers.

A template is a list of typed fields. Every field is in every answer: a value the document
does not state is null, never a guess. The model's JSON is constrained by a schema built from
the fields, but it may still write "1.234,56 €" for a number or "14 March 2026" for a date;
the validators here turn those into what a user expects (1234.56, "2026-03-14").
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import logging
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    model_validator,
)

from .model import ModelClient
from .prompts import Prompts

log = logging.getLogger(__name__)

FieldType = Literal["string", "number", "integer", "boolean", "date", "enum", "array", "object"]
FIELD_TYPES: tuple[str, ...] = FieldType.__args__  # type: ignore[attr-defined]
MAX_DEPTH = 3  # a field, an object's field, and one more level
MAX_FIELDS = 200  # in the whole template, nested ones included
ANSWER_TOKENS = 1024  # an answer with line items is much longer than a verdict

FieldName = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
]
EnumValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


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


# Coercion: what the model writes -> what the user expects -------------------------------

# Strings a model writes when a document lacks a value; they mean null.
PLACEHOLDERS = {
    "", "null", "none", "n/a", "na", "-", "--", "—", "?", "unknown", "not found",
    "not available", "not specified", "not provided", "not stated", "not applicable",
}  # fmt: skip


def _blank(value: Any) -> bool:
    return value is None or (
        isinstance(value, str) and " ".join(value.split()).casefold() in PLACEHOLDERS
    )


def to_text(value: Any) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        return " ".join(value.split())
    raise ValueError("expected text")


def format_number(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_NUMBER = re.compile(r"\d(?:[\d.,'’\u00a0\u202f ]*\d)?")
_MINUS = re.compile(r"(?:^|[^\w])[-−–]\s*$")


def parse_number(text: str) -> float | None:
    """Read a number as people write it: "1.234,56 €", "$1,234.56", "1 234,5", "(12.00)".

    With both '.' and ',' the last one is the decimal mark. With one of them: it is a
    thousands separator when it repeats, or (for ',') when exactly three digits follow;
    otherwise a decimal mark. Text without digits is no number (None)."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    digits = re.sub(r"[\s'’\u00a0\u202f]", "", match.group())
    dots, commas = digits.count("."), digits.count(",")
    if dots and commas:
        decimal = "." if digits.rfind(".") > digits.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        if digits.count(decimal) > 1:
            raise ValueError(f"cannot read {text!r} as a number")
        digits = digits.replace(thousands, "").replace(decimal, ".")
    elif commas:
        head, _, tail = digits.rpartition(",")
        if commas > 1 or (len(tail) == 3 and head.lstrip("0")):
            digits = digits.replace(",", "")
        else:
            digits = digits.replace(",", ".")
    elif dots > 1:
        digits = digits.replace(".", "")
    negative = bool(_MINUS.search(text[: match.start()])) or (
        text.strip().startswith("(") and text.strip().endswith(")")
    )
    number = float(digits)
    return -number if negative else number


def to_number(value: Any) -> float | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = parse_number(value)
        if number is None:
            return None
    else:
        raise ValueError("expected a number")
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def to_integer(value: Any) -> int | None:
    number = to_number(value)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


_TRUE = {"true", "yes", "y", "1", "on", "x", "checked"}
_FALSE = {"false", "no", "n", "0", "off", "unchecked"}


def to_boolean(value: Any) -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"cannot read {value!r} as true or false")


_MONTHS = {name.casefold(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.casefold(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_YMD = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})$")
_DAY_MONTH = re.compile(rf"^(\d{{1,2}})(?:st|nd|rd|th)?\.?\s+({_MONTH})\.?,?\s+(\d{{4}})$", re.I)
_MONTH_DAY = re.compile(rf"^({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})$", re.I)


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 70 else 1900
    return year


def parse_date(text: str) -> dt.date:
    """ISO 8601 first; then "14 March 2026", "March 14, 2026", "2026/03/14", and numeric
    day-first dates ("14.03.2026", "14/03/2026"), read month-first only when the day-first
    reading is impossible ("03/14/2026")."""
    text = " ".join(text.split()).strip(" ,")
    try:
        if m := _ISO.match(text) or _YMD.match(text):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _NUMERIC.match(text):
            first, second, year = int(m[1]), int(m[3]), _year(m[4])
            if second > 12 and first <= 12:
                return dt.date(year, first, second)
            return dt.date(year, second, first)
        if m := _DAY_MONTH.match(text):
            return dt.date(int(m[3]), _MONTHS[m[2].casefold()], int(m[1]))
        if m := _MONTH_DAY.match(text):
            return dt.date(int(m[3]), _MONTHS[m[1].casefold()], int(m[2]))
    except ValueError:
        pass
    raise ValueError(f"cannot read {text!r} as a date")


def to_date(value: Any) -> dt.date | None:
    if _blank(value):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return parse_date(value)
    raise ValueError("expected a date")


def _to_choice(values: list[str]) -> Any:
    canonical = {" ".join(v.split()).casefold(): v for v in values}

    def choose(value: Any) -> str | None:
        if _blank(value):
            return None
        if isinstance(value, str):
            found = canonical.get(" ".join(value.split()).casefold())
            if found is not None:
                return found
        raise ValueError(f"{value!r} is not one of: {', '.join(values)}")

    return choose


def _to_list(value: Any) -> list[Any] | None:
    if _blank(value):
        return None
    if not isinstance(value, list):
        value = [value]
    return [item for item in value if not _blank(item)]


def _to_object(value: Any) -> Any:
    return None if _blank(value) else value


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
        return Annotated[choice | None, BeforeValidator(_to_choice(spec.values))]
    if spec.type == "array":
        assert spec.items is not None
        item = _python_type(spec.items, f"{name}_item")
        return Annotated[list[item] | None, BeforeValidator(_to_list)]  # type: ignore[valid-type]
    assert spec.fields is not None
    return Annotated[answer_model(spec.fields, name) | None, BeforeValidator(_to_object)]


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


# Prompts: each field with a human label ---------------------------------------------------


def _label(spec: ItemSpec) -> str:
    if spec.type == "date":
        return "date, YYYY-MM-DD"
    if spec.type == "enum":
        return "one of: " + ", ".join(f'"{v}"' for v in spec.values or [])
    if spec.type == "array":
        assert spec.items is not None
        inner = "objects" if spec.items.type == "object" else _label(spec.items)
        return f"list of {inner}"
    return spec.type


def prompt_fields(fields: list[FieldSpec]) -> list[dict[str, Any]]:
    """The fields as the prompt templates get them: name, label, description, required, and
    `fields` for an object or a list of objects (else empty)."""
    out = []
    for spec in fields:
        nested = spec.fields or (spec.items.fields if spec.items else None) or []
        out.append(
            {
                "name": spec.name,
                "type": spec.type,
                "label": _label(spec),
                "description": spec.description,
                "required": spec.required,
                "fields": prompt_fields(nested),
            }
        )
    return out


# The extractor ------------------------------------------------------------------------------


class InvalidExtraction(Exception):
    """The model kept answering something that does not fit the template."""


@dataclass(frozen=True)
class Extracted:
    data: dict[str, Any]
    missing_required: list[str]


def empty_data(fields: list[FieldSpec]) -> dict[str, Any]:
    return {f.name: None for f in fields}


def missing_required(fields: list[FieldSpec], data: dict[str, Any], prefix: str = "") -> list[str]:
    """Paths of the required fields that came back null, nested ones included."""
    missing = []
    for spec in fields:
        value, path = data.get(spec.name), f"{prefix}{spec.name}"
        if value is None:
            if spec.required:
                missing.append(path)
        elif spec.type == "object":
            missing += missing_required(spec.fields or [], value, f"{path}.")
        elif spec.type == "array" and spec.items and spec.items.type == "object":
            for i, entry in enumerate(value):
                missing += missing_required(spec.items.fields or [], entry, f"{path}[{i}].")
    return missing


def _problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_fields(raw: list[dict[str, Any]]) -> list[FieldSpec]:
    return [FieldSpec.model_validate(f) for f in raw]


class Extractor:
    def __init__(self, model: ModelClient, prompts: Prompts, retries: int = 2):
        self.model = model
        self.prompts = prompts
        self.retries = retries

    def render(self, extraction: dict[str, Any], text: str) -> tuple[str, str]:
        context = {
            "extraction": extraction,
            "fields": prompt_fields(parse_fields(extraction["fields"])),
        }
        return (
            self.prompts.render("extract_system", **context),
            self.prompts.render("extract_user", **context, text=text),
        )

    async def extract(self, extraction: dict[str, Any], text: str) -> Extracted:
        fields = parse_fields(extraction["fields"])
        if not text.strip():
            data = empty_data(fields)
            return Extracted(data, missing_required(fields, data))
        model = answer_model(fields)
        schema = object_schema(fields)
        system, user = await asyncio.to_thread(self.render, extraction, text)
        problem = ""
        for attempt in range(self.retries + 1):
            reply = await self.model.chat_json(
                system, user, schema, attempt, max_tokens=ANSWER_TOKENS, logprobs=False
            )
            try:
                answer = model.model_validate_json(reply.content)
            except ValidationError as exc:
                problem = _problem(exc)
                log.warning("extraction answer rejected (%s): %r", problem, reply.content[:200])
                continue
            data = answer.model_dump(mode="json", by_alias=True)
            return Extracted(data, missing_required(fields, data))
        raise InvalidExtraction(
            f"the model gave no valid answer for these fields in {self.retries + 1} tries"
            f" (last: {problem})"
        )
