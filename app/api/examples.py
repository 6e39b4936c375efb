"""Example files of a category: labelled documents that teach docsort before anyone checks a
verdict. They are uploaded like a batch, read and embedded by the worker, never classified."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_202_ACCEPTED

from ..errors import NotFound
from ..ids import new_id
from ..settings import Settings
from ..store import AsyncStore
from ..worker import Worker
from .batches import receive_upload
from .classifications import load_classification
from .openapi import errors_for
from .responses import Category, ExampleListResponse
from .views import example_view


async def load_category(store: AsyncStore, cls_id: str, category_id: str) -> Category:
    classification = await load_classification(store, cls_id)
    for category in classification["categories"]:
        if category["id"] == category_id:
            return category
    raise NotFound(f"no category {category_id!r} in classification {cls_id!r}")


class ExampleController(Controller):
    path = "/v1/classifications/{cls_id:str}/categories/{category_id:str}/examples"

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=None,
        **errors_for(404, body="multipart"),
    )
    async def upload(
        self,
        request: Request,
        store: NamedDependency[AsyncStore],
        worker: NamedDependency[Worker],
        settings: NamedDependency[Settings],
        cls_id: FromPath[str],
        category_id: FromPath[str],
    ) -> ExampleListResponse:
        """The same limits and errors as a batch; each file counts once it is processed."""
        await load_category(store, cls_id, category_id)
        batch_id = new_id("cbtc")
        saved = await receive_upload(
            request,
            settings,
            batch_id,
            lambda saved: store.create_batch(
                batch_id, cls_id, [f.row() for f in saved], examples_for=category_id
            ),
        )
        worker.wake()
        rows = [await store.get_example(category_id, f.id) for f in saved]
        return {"examples": [example_view(row) for row in rows if row]}

    @get("/", **errors_for(404))
    async def index(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str], category_id: FromPath[str]
    ) -> ExampleListResponse:
        await load_category(store, cls_id, category_id)
        return {"examples": [example_view(r) for r in await store.list_examples(category_id)]}

    @delete("/{file_id:str}", **errors_for(404, changes=True))
    async def remove(
        self,
        store: NamedDependency[AsyncStore],
        settings: NamedDependency[Settings],
        cls_id: FromPath[str],
        category_id: FromPath[str],
        file_id: FromPath[str],
    ) -> None:
        """The example stops counting at once, and its bytes are deleted."""
        await load_category(store, cls_id, category_id)
        if await store.get_example(category_id, file_id) is None:
            raise NotFound(f"no example {file_id!r} of category {category_id!r}")
        batch_id = await store.delete_example(file_id)
        folder = settings.uploads_dir / batch_id
        await asyncio.to_thread((folder / file_id).unlink, True)
        await asyncio.to_thread(_remove_if_empty, folder)


def _remove_if_empty(folder: Any) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)
