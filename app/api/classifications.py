"""Classifications: a named set of categories that files are sorted into."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ..errors import InvalidInput, NotFound
from ..schemas import CategoryIn, ClassificationIn, ClassificationPatch
from ..store import AsyncStore


async def load_classification(store: AsyncStore, cls_id: str) -> dict[str, Any]:
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


class ClassificationController(Controller):
    path = "/v1/classifications"

    @post("/")
    async def create(
        self, store: NamedDependency[AsyncStore], data: JSONBody[ClassificationIn]
    ) -> dict[str, Any]:
        await check_links(store, data.categories)
        cls_id = await store.create_classification(
            data.name, data.description, [c.model_dump() for c in data.categories]
        )
        return {"classification": await load_classification(store, cls_id)}

    @get("/")
    async def index(self, store: NamedDependency[AsyncStore]) -> dict[str, Any]:
        return {"classifications": await store.list_classifications()}

    @get("/{cls_id:str}")
    async def show(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str]
    ) -> dict[str, Any]:
        return {"classification": await load_classification(store, cls_id)}

    @patch("/{cls_id:str}")
    async def update(
        self,
        store: NamedDependency[AsyncStore],
        cls_id: FromPath[str],
        data: JSONBody[ClassificationPatch],
    ) -> dict[str, Any]:
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
        return {"classification": await load_classification(store, cls_id)}
