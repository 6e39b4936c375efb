"""The extractor: the template's fields into the prompt, the model's answer validated against
them, and another try when it does not fit."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..model import ModelClient
from ..prompts import Prompts
from ..trace import step
from .fields import FieldSpec, ItemSpec, parse_fields
from .schema import answer_model, object_schema

log = logging.getLogger(__name__)

ANSWER_TOKENS = 1024  # an answer with line items is much longer than a verdict


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
        with step("render"):
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
