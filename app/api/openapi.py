"""What Litestar cannot infer about docsort's operations, declared once: the errors each one
answers (always as `Error`), the multipart body an upload streams itself, the links from an
answer to the operations its ids lead to, and what the request models refuse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from litestar.enums import MediaType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    Link,
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
    403: "Sent by a page of another origin: only docsort's own pages may change anything",
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


def _links(*operation_ids: str, **pointers: str) -> dict[str, Link]:
    """Links to operations that take these parameters (name: JSON pointer into the body)."""
    parameters = {name: f"$response.body#/{pointer}" for name, pointer in pointers.items()}
    return {op: Link(operation_id=op, parameters=parameters) for op in operation_ids}


# By operation id (Litestar's): where the ids in its answer lead.
LINKS: dict[str, dict[str, Link]] = {
    "V1ClassificationsCreate": {
        **_links(
            "V1ClassificationsClsIdShow",
            "V1ClassificationsClsIdUpdate",
            "V1ClassificationsClsIdBatchesIndex",
            "V1ClassificationsClsIdBatchesUpload",
            "V1ClassificationsClsIdAccuracyShow",
            "V1ClassificationsClsIdStaleRedoRedo",
            cls_id="classification/id",
        ),
        **_links(
            "V1ClassificationsClsIdCategoriesCategoryIdExamplesIndex",
            "V1ClassificationsClsIdCategoriesCategoryIdExamplesUpload",
            cls_id="classification/id",
            category_id="classification/categories/0/id",
        ),
    },
    "V1ClassificationsClsIdBatchesUpload": _links(
        "V1ClassificationsClsIdBatchesBatchIdShow",
        "V1ClassificationsClsIdBatchesBatchIdRedoRedo",
        cls_id="batch/classification_id",
        batch_id="batch/id",
    ),
    "V1ClassificationsClsIdBatchesBatchIdShow": _links(
        "V1ClassificationsClsIdFilesFileIdShow",
        "V1ClassificationsClsIdFilesFileIdOverride",
        "V1ClassificationsClsIdFilesFileIdConfirmConfirm",
        "V1ClassificationsClsIdFilesFileIdRedoRedo",
        cls_id="batch/classification_id",
        file_id="files/0/id",
    ),
    "V1ClassificationsClsIdCategoriesCategoryIdExamplesUpload": _links(
        "V1ClassificationsClsIdCategoriesCategoryIdExamplesFileIdRemove",
        cls_id="examples/0/classification_id",
        category_id="examples/0/category_id",
        file_id="examples/0/id",
    ),
    "V1ExtractionsCreate": _links(
        "V1ExtractionsExtIdShow",
        "V1ExtractionsExtIdUpdate",
        "V1ExtractionsExtIdBatchesIndex",
        "V1ExtractionsExtIdBatchesUpload",
        ext_id="extraction/id",
    ),
    "V1ExtractionsExtIdBatchesUpload": _links(
        "V1ExtractionsExtIdBatchesBatchIdShow", ext_id="batch/extraction_id", batch_id="batch/id"
    ),
    "V1ExtractionsExtIdBatchesBatchIdShow": _links(
        "V1ExtractionsExtIdFilesFileIdShow", ext_id="batch/extraction_id", file_id="files/0/id"
    ),
    "V1WebhooksCreate": _links(
        "V1WebhooksHookIdShow",
        "V1WebhooksHookIdRemove",
        "V1WebhooksHookIdDeliveriesDeliveries",
        hook_id="webhook/id",
    ),
}


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
    """An operation whose errors are all `Error`, and whose answer links where `LINKS` says.
    Litestar adds a 400 of its own shape to any operation with parameters; a declared 400
    has replaced it by now, so one still there is dropped: the operation answers no 400."""

    def __post_init__(self) -> None:
        responses = self.responses or {}
        if _litestar_400(responses.get("400")):
            del responses["400"]
        for status, response in responses.items():
            if status.startswith("2") and isinstance(response, OpenAPIResponse):
                response.links = LINKS.get(self.operation_id or "")


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
    changes: bool = False,
    responses: Mapping[int, ResponseSpec] | None = None,
) -> Operations:
    """The errors an operation answers, as `Error`: `statuses`, those of every operation,
    those of its `body` ("multipart": an upload, whose body is declared here too), and the
    Origin check's when it `changes` something (any operation with a body does);
    `responses`: its other answers. Use as `@get(..., **errors_for(404))`."""
    extra = (*(BODY if body else ()), *((403,) if body or changes else ()))
    errors = {
        status: ResponseSpec(Error, description=WHY[status], generate_examples=False)
        for status in sorted({*statuses, *ALWAYS, *extra})
    }
    return {
        "responses": {**errors, **(responses or {})},
        "operation_class": Upload if body == "multipart" else Documented,
    }


# A JSON Schema limit, by its name in pydantic's schema: its field in Litestar's.
LIMITS = {
    "pattern": "pattern",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_items",
    "maxItems": "max_items",
}


def _limits_as_stated(schema: Schema | Reference | None, stated: dict[str, Any]) -> None:
    """Give `schema` the limits `stated`, pydantic's own schema of the same value, states.
    Litestar loses a pattern on a list's items or on an optional string, and puts an optional
    list's item counts on the union, as string lengths (pydantic loses a pattern checked
    after a validator, which Litestar keeps)."""
    if not isinstance(schema, Schema):
        return
    if schema.one_of:
        schema.min_length = schema.max_length = None
    for key, attribute in LIMITS.items():
        if key in stated:
            setattr(schema, attribute, stated[key])
    if isinstance(stated.get("items"), dict):
        _limits_as_stated(schema.items, stated["items"])  # type: ignore[arg-type]
    if schema.one_of and "anyOf" in stated:
        for member, stated_member in zip(schema.one_of, stated["anyOf"], strict=True):
            _limits_as_stated(member, stated_member)


class RequestModels(PydanticSchemaPlugin):
    """Litestar's schemas of pydantic models, saying all the models check: a model that
    forbids extra keys says `additionalProperties: false`, and every limit pydantic checks
    is where pydantic's own schema puts it."""

    @classmethod
    def for_pydantic_model(
        cls, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        model = field_definition.annotation
        schema = super().for_pydantic_model(field_definition, schema_creator)
        if model.model_config.get("extra") == "forbid":
            schema.additional_properties = False
        stated = model.model_json_schema()
        if "$ref" in stated:  # a recursive model: its schema is one of the definitions
            stated = stated["$defs"][stated["$ref"].rsplit("/", 1)[1]]
        for name, prop in (schema.properties or {}).items():
            _limits_as_stated(prop, stated["properties"][name])
        return schema
