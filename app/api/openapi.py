"""What Litestar cannot infer about docsort's operations, declared once: the errors each one
answers (always as `Error`), the multipart body an upload streams itself, and what the
request models refuse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

from litestar.enums import MediaType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.plugins.pydantic import PydanticSchemaPlugin

from ..settings import MB, Settings
from ..uploads import FIELD
from .responses import Error

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

# Why docsort answers each error status; `error.code` in the body says which case it is.
WHY: dict[int, str] = {
    400: "The body cannot be read: malformed JSON, or a broken multipart upload",
    404: "No such resource",
    409: "The resource is not in a state that allows this",
    413: "The body, or a file in it, is too large",
    415: "The body is not of the media type this operation takes",
    421: "The Host header names a server docsort does not answer to",
    422: "The body was read, but what it asks for is not valid",
}
# Any operation: the Host header is checked before anything else.
ALWAYS = (421,)
# An operation with a body, JSON or multipart: unreadable, too large, of another media type
# (app/api/security.py, app/uploads.py), or not valid.
BODY = (400, 413, 415, 422)

UPLOAD = Schema(
    type=OpenAPIType.OBJECT,
    required=[FIELD],
    properties={
        FIELD: Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.STRING,
                format=OpenAPIFormat.BINARY,
                content_media_type="application/octet-stream",
            ),
            min_items=1,
            max_items=Settings.max_files,
            description=f"One part per file, each at most {Settings.max_file_bytes // MB} MB"
            " (by default: DOCSORT_MAX_FILES and DOCSORT_MAX_FILE_MB change both limits)",
        )
    },
)


def _litestar_400(response: OpenAPIResponse | Reference | None) -> bool:
    """Litestar's own validation error shape, {status_code, detail, extra}: docsort never
    sends it (its handlers answer `Error`)."""
    if not isinstance(response, OpenAPIResponse):
        return False
    media = (response.content or {}).get(MediaType.JSON)
    schema = media.schema if media else None
    return isinstance(schema, Schema) and "status_code" in (schema.properties or {})


@dataclass
class Documented(Operation):
    """An operation whose errors are all `Error`. Litestar adds a 400 of its own shape to
    any operation with parameters; a declared 400 has replaced it by now, so one still
    there is dropped: the operation answers no 400."""

    def __post_init__(self) -> None:
        if self.responses and _litestar_400(self.responses.get("400")):
            del self.responses["400"]


@dataclass
class Upload(Documented):
    """An upload: the handler streams the multipart body itself (it has no `data` for
    Litestar to describe), so the body is declared here."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.request_body = RequestBody(
            content={"multipart/form-data": OpenAPIMediaType(schema=UPLOAD)}, required=True
        )


class Operations(TypedDict):
    """A route decorator's OpenAPI arguments."""

    responses: Mapping[int, ResponseSpec]
    operation_class: type[Operation]


def errors_for(
    *statuses: int,
    body: Literal["json", "multipart"] | None = None,
    responses: Mapping[int, ResponseSpec] | None = None,
) -> Operations:
    """The errors an operation answers, as `Error`: `statuses`, those of every operation,
    and those of its `body` ("multipart": an upload, whose body is declared here too);
    `responses`: its other answers. Use as `@get(..., **errors_for(404))`."""
    errors = {
        status: ResponseSpec(Error, description=WHY[status], generate_examples=False)
        for status in sorted({*statuses, *ALWAYS, *(BODY if body else ())})
    }
    return {
        "responses": {**errors, **(responses or {})},
        "operation_class": Upload if body == "multipart" else Documented,
    }


def _item_limits(schema: Schema) -> None:
    """Litestar puts an optional list's length limits on the union, as string lengths;
    they are the list's item counts."""
    arrays = [s for s in schema.one_of or [] if isinstance(s, Schema) and s.type == "array"]
    if arrays and (schema.min_length is not None or schema.max_length is not None):
        arrays[0].min_items, arrays[0].max_items = schema.min_length, schema.max_length
        schema.min_length = schema.max_length = None


class RequestModels(PydanticSchemaPlugin):
    """Litestar's schemas of pydantic models, saying all the models check: a model that
    forbids extra keys says `additionalProperties: false`, and a list's limits are items."""

    @classmethod
    def for_pydantic_model(
        cls, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().for_pydantic_model(field_definition, schema_creator)
        if field_definition.annotation.model_config.get("extra") == "forbid":
            schema.additional_properties = False
        for prop in (schema.properties or {}).values():
            if isinstance(prop, Schema):
                _item_limits(prop)
        return schema
