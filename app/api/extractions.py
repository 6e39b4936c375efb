"""Extractions: templates of typed fields, and batches of files to extract them from."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from ..errors import NotFound
from ..ids import new_id
from ..schemas import ExtractionIn, ExtractionPatch
from ..settings import Settings
from ..store import AsyncStore
from ..worker import Worker
from .batches import receive_upload
from .openapi import errors_for
from .responses import (
    ExtractionBatchDetailResponse,
    ExtractionBatchListResponse,
    ExtractionBatchResponse,
    ExtractionFileResponse,
    ExtractionListResponse,
    ExtractionResponse,
)
from .views import extraction_batch_view, extraction_file_view, extraction_view


async def load_extraction(store: AsyncStore, ext_id: str) -> dict[str, Any]:
    extraction = await store.get_extraction(ext_id)
    if extraction is None:
        raise NotFound(f"no extraction with id {ext_id!r}")
    return extraction


def _fields(data: ExtractionIn | ExtractionPatch) -> list[dict[str, Any]]:
    return [f.model_dump(exclude_none=True) for f in data.fields or []]


class ExtractionController(Controller):
    path = "/v1/extractions"

    @post("/", **errors_for(body="json"))
    async def create(
        self, store: NamedDependency[AsyncStore], data: JSONBody[ExtractionIn]
    ) -> ExtractionResponse:
        ext_id = await store.create_extraction(data.name, data.description, _fields(data))
        return {"extraction": extraction_view(await load_extraction(store, ext_id))}

    @get("/", **errors_for())
    async def index(self, store: NamedDependency[AsyncStore]) -> ExtractionListResponse:
        return {"extractions": [extraction_view(e) for e in await store.list_extractions()]}

    @get("/{ext_id:str}", **errors_for(404))
    async def show(
        self, store: NamedDependency[AsyncStore], ext_id: FromPath[str]
    ) -> ExtractionResponse:
        return {"extraction": extraction_view(await load_extraction(store, ext_id))}

    @patch("/{ext_id:str}", **errors_for(404, body="json"))
    async def update(
        self,
        store: NamedDependency[AsyncStore],
        ext_id: FromPath[str],
        data: JSONBody[ExtractionPatch],
    ) -> ExtractionResponse:
        """`fields`, when sent, is the whole new list; results already made are kept."""
        await load_extraction(store, ext_id)
        values = data.model_dump(include={"name", "description"}, exclude_none=True)
        if data.fields is not None:
            values["fields"] = _fields(data)
        if values:
            await store.update_extraction(ext_id, values)
        return {"extraction": extraction_view(await load_extraction(store, ext_id))}


class ExtractionBatchController(Controller):
    path = "/v1/extractions/{ext_id:str}/batches"

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
        ext_id: FromPath[str],
    ) -> ExtractionBatchResponse:
        """The same upload as a classification batch: every file is on disk and queued
        before the 202 goes out."""
        await load_extraction(store, ext_id)
        batch_id = new_id("ebtc")
        await receive_upload(
            request,
            settings,
            batch_id,
            lambda saved: store.create_extraction_batch(batch_id, ext_id, [f.row() for f in saved]),
        )
        worker.wake()
        batch = await store.get_extraction_batch(ext_id, batch_id)
        return {"batch": extraction_batch_view(batch)}

    @get("/", **errors_for(404))
    async def index(
        self, store: NamedDependency[AsyncStore], ext_id: FromPath[str]
    ) -> ExtractionBatchListResponse:
        await load_extraction(store, ext_id)
        batches = await store.list_extraction_batches(ext_id)
        return {"batches": [extraction_batch_view(b) for b in batches]}

    @get("/{batch_id:str}", **errors_for(404))
    async def show(
        self, store: NamedDependency[AsyncStore], ext_id: FromPath[str], batch_id: FromPath[str]
    ) -> ExtractionBatchDetailResponse:
        await load_extraction(store, ext_id)
        batch = await store.get_extraction_batch(ext_id, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id!r} in extraction {ext_id!r}")
        files = await store.extraction_batch_files(batch_id)
        return {
            "batch": extraction_batch_view(batch),
            "files": [extraction_file_view(f) for f in files],
        }


class ExtractionFileController(Controller):
    path = "/v1/extractions/{ext_id:str}/files"

    @get("/{file_id:str}", **errors_for(404))
    async def show(
        self, store: NamedDependency[AsyncStore], ext_id: FromPath[str], file_id: FromPath[str]
    ) -> ExtractionFileResponse:
        """A file's result in this extraction, uploaded directly or chained by its verdict."""
        await load_extraction(store, ext_id)
        row = await store.get_extraction_file(file_id, ext_id)
        if row is None:
            raise NotFound(f"no file {file_id!r} in extraction {ext_id!r}")
        return {"file": extraction_file_view(row)}
