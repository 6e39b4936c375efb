"""Classifications: a named set of categories that files are sorted into."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ..errors import InvalidInput, NotFound
from ..schemas import CategoryIn, ClassificationIn, ClassificationPatch
from ..store import AsyncStore
from .openapi import errors_for
from .responses import Classification, ClassificationListResponse, ClassificationResponse


async def load_classification(store: AsyncStore, cls_id: str) -> Classification:
    classification = await store.get_classification(cls_id)
    if classification is None:
        raise NotFound(f"no classification with id {cls_id!r}")
    return classification


async def check_links(store: AsyncStore, categories: list[CategoryIn]) -> None:
    """Every `linked_extraction_id` names an extraction."""
    linked = sorted({c.linked_extraction_id for c in categories if c.linked_extraction_id})
    unknown = set(linked) - (await store.extraction_ids(linked) if linked else set())
    if unknown:
        raise InvalidInput(
            f"no extraction with id {', '.join(sorted(unknown))}", code="unknown_extraction"
        )


async def create_classification(store: AsyncStore, data: ClassificationIn) -> str:
    """Store a validated classification (the API and the form both create through here)."""
    await check_links(store, data.categories)
    return await store.create_classification(
        data.name, data.description, [c.model_dump() for c in data.categories]
    )


async def update_classification(store: AsyncStore, cls_id: str, data: ClassificationPatch) -> None:
    """Apply a validated patch (the API and the form both edit through here)."""
    await load_classification(store, cls_id)
    categories = None
    if data.categories is not None:
        known = await store.category_ids(cls_id)
        unknown = [c.id for c in data.categories if c.id and c.id not in known]
        if unknown:
            raise InvalidInput(
                f"category ids not in this classification: {', '.join(unknown)}",
                code="unknown_category",
            )
        await check_links(store, data.categories)
        categories = [c.model_dump() for c in data.categories]
    fields = data.model_dump(include={"name", "description"}, exclude_none=True)
    await store.update_classification(cls_id, fields, categories)


class ClassificationController(Controller):
    path = "/v1/classifications"

    @post("/", **errors_for(body="json"))
    async def create(
        self, store: NamedDependency[AsyncStore], data: JSONBody[ClassificationIn]
    ) -> ClassificationResponse:
        cls_id = await create_classification(store, data)
        return {"classification": await load_classification(store, cls_id)}

    @get("/", **errors_for())
    async def index(self, store: NamedDependency[AsyncStore]) -> ClassificationListResponse:
        return {"classifications": await store.list_classifications()}

    @get("/{cls_id:str}", **errors_for(404))
    async def show(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str]
    ) -> ClassificationResponse:
        return {"classification": await load_classification(store, cls_id)}

    @patch("/{cls_id:str}", **errors_for(404, body="json"))
    async def update(
        self,
        store: NamedDependency[AsyncStore],
        cls_id: FromPath[str],
        data: JSONBody[ClassificationPatch],
    ) -> ClassificationResponse:
        await update_classification(store, cls_id, data)
        return {"classification": await load_classification(store, cls_id)}
