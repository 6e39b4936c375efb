"""Batches: files uploaded together to be classified."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_202_ACCEPTED

from ..errors import NotFound
from ..ids import new_id
from ..settings import Settings
from ..store import AsyncStore
from ..uploads import SavedFile, receive_batch
from ..worker import Worker
from .classifications import load_classification
from .openapi import errors_for
from .responses import BatchDetailResponse, BatchListResponse, BatchRedoResponse, BatchResponse
from .views import batch_view, file_view


async def receive_upload(
    request: Request,
    settings: Settings,
    batch_id: str,
    record: Callable[[list[SavedFile]], Awaitable[object]],
) -> list[SavedFile]:
    """Every kind of upload (a batch, an extraction's batch, examples) under the same limits."""
    return await receive_batch(
        request.headers.get("content-type", ""),
        request.headers.get("content-length", ""),
        request.stream(),
        settings.uploads_dir,
        batch_id,
        max_files=settings.max_files,
        max_file_bytes=settings.max_file_bytes,
        record=record,
    )


async def upload_batch(
    request: Request, store: AsyncStore, worker: Worker, settings: Settings, cls_id: str
) -> str:
    """A classification batch from a multipart body (the API's upload and the upload page's
    form without JavaScript): every file is on disk and recorded when this returns."""
    await load_classification(store, cls_id)
    batch_id = new_id("cbtc")
    await receive_upload(
        request,
        settings,
        batch_id,
        lambda saved: store.create_batch(batch_id, cls_id, [f.row() for f in saved]),
    )
    worker.wake()
    return batch_id


async def load_batch(store: AsyncStore, cls_id: str, batch_id: str) -> dict[str, Any]:
    await load_classification(store, cls_id)
    batch = await store.get_batch(cls_id, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r} in classification {cls_id!r}")
    return batch


class BatchController(Controller):
    path = "/v1/classifications/{cls_id:str}/batches"

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
    ) -> BatchResponse:
        """Every file is on disk and recorded before the 202 goes out."""
        batch_id = await upload_batch(request, store, worker, settings, cls_id)
        return {"batch": batch_view(await store.get_batch(cls_id, batch_id))}

    @get("/", **errors_for(404))
    async def index(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str]
    ) -> BatchListResponse:
        await load_classification(store, cls_id)
        return {"batches": [batch_view(b) for b in await store.list_batches(cls_id)]}

    @post(
        "/{batch_id:str}/redo", status_code=HTTP_202_ACCEPTED, **errors_for(404, 422, changes=True)
    )
    async def redo(
        self,
        store: NamedDependency[AsyncStore],
        worker: NamedDependency[Worker],
        cls_id: FromPath[str],
        batch_id: FromPath[str],
        files: FromQuery[Literal["failed", "all"]] = "failed",
    ) -> BatchRedoResponse:
        """Queue again what failed (files, and chained extractions), or every file; a
        person's override stays either way."""
        await load_batch(store, cls_id, batch_id)
        requeued = await store.redo_batch(batch_id, failed_only=files == "failed")
        worker.wake()
        batch = batch_view(await store.get_batch(cls_id, batch_id))
        return {"batch": batch, "requeued": requeued}

    @get("/{batch_id:str}", **errors_for(404))
    async def show(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str], batch_id: FromPath[str]
    ) -> BatchDetailResponse:
        batch = await load_batch(store, cls_id, batch_id)
        files = await store.batch_files(batch_id)
        return {"batch": batch_view(batch), "files": [file_view(f) for f in files]}
