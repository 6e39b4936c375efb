"""Extraction templates and the extractor: fields in, a JSON schema for the model, and a
pydantic model that validates (and coerces) what the model answers.

A template is a list of typed fields. Every field is in every answer: a value the document
does not state is null, never a guess. The model's JSON is constrained by a schema built from
the fields, but it may still write "1.234,56 €" for a number or "14 March 2026" for a date;
the validators turn those into what a user expects (1234.56, "2026-03-14").
"""

from .coercion import (
    PLACEHOLDERS,
    format_number,
    parse_date,
    parse_number,
    to_boolean,
    to_date,
    to_integer,
    to_number,
    to_text,
)
from .extractor import (
    ANSWER_TOKENS,
    Extracted,
    Extractor,
    InvalidExtraction,
    empty_data,
    missing_required,
    prompt_fields,
)
from .fields import (
    FIELD_TYPES,
    MAX_DEPTH,
    MAX_FIELDS,
    Description,
    EnumValue,
    FieldName,
    FieldSpec,
    FieldType,
    ItemSpec,
    check_field_names,
    check_template,
    parse_fields,
)
from .schema import answer_model, object_schema

__all__ = [
    "ANSWER_TOKENS",
    "FIELD_TYPES",
    "MAX_DEPTH",
    "MAX_FIELDS",
    "PLACEHOLDERS",
    "Description",
    "EnumValue",
    "Extracted",
    "Extractor",
    "FieldName",
    "FieldSpec",
    "FieldType",
    "InvalidExtraction",
    "ItemSpec",
    "answer_model",
    "check_field_names",
    "check_template",
    "empty_data",
    "format_number",
    "missing_required",
    "object_schema",
    "parse_date",
    "parse_fields",
    "parse_number",
    "prompt_fields",
    "to_boolean",
    "to_date",
    "to_integer",
    "to_number",
    "to_text",
]
