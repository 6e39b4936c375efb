"""One file's verdict: read it, override it, or ask the model again."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from ..errors import Conflict, InvalidInput, NotFound
from ..schemas import OverrideIn
from ..store import AsyncStore
from ..worker import Worker
from .classifications import load_classification
from .openapi import errors_for
from .responses import FileResponse
from .views import file_view


async def load_file(store: AsyncStore, cls_id: str, file_id: str) -> dict[str, Any]:
    await load_classification(store, cls_id)
    row = await store.get_file(file_id, cls_id)
    if row is None:
        raise NotFound(f"no file {file_id!r} in classification {cls_id!r}")
    return row


# The checks a person makes, shared by the API and the review page.


async def override_verdict(
    store: AsyncStore, cls_id: str, file_id: str, category_id: str | None
) -> None:
    """A user's verdict; no automatic run replaces it (only an explicit redo does)."""
    await load_file(store, cls_id, file_id)
    if category_id is not None and category_id not in await store.category_ids(cls_id):
        raise InvalidInput(
            f"{category_id!r} is not a category of classification {cls_id!r}",
            code="unknown_category",
        )
    await store.override_file(file_id, category_id)


async def confirm_verdict(store: AsyncStore, cls_id: str, file_id: str) -> None:
    """A person says the verdict is right: the file becomes a labelled example."""
    row = await load_file(store, cls_id, file_id)
    if not (row["overridden"] or row["status"] == "processed"):
        raise Conflict(
            f"file {file_id!r} is {row['status']} and has no verdict to confirm",
            code="no_verdict",
        )
    await store.confirm_file(file_id)


async def redo_verdict(store: AsyncStore, worker: Worker, cls_id: str, file_id: str) -> None:
    """A fresh model run with the current categories; it replaces any override and takes
    the file's label back until it is checked again."""
    await load_file(store, cls_id, file_id)
    await store.redo_file(file_id)
    worker.wake()


class FileController(Controller):
    path = "/v1/classifications/{cls_id:str}/files"

    @get("/{file_id:str}", **errors_for(404))
    async def show(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str], file_id: FromPath[str]
    ) -> FileResponse:
        return {"file": file_view(await load_file(store, cls_id, file_id))}

    @patch("/{file_id:str}", **errors_for(404, body="json"))
    async def override(
        self,
        store: NamedDependency[AsyncStore],
        cls_id: FromPath[str],
        file_id: FromPath[str],
        data: JSONBody[OverrideIn],
    ) -> FileResponse:
        """A user's verdict; no automatic run replaces it (only an explicit redo does)."""
        await override_verdict(store, cls_id, file_id, data.classified_category_id)
        return {"file": file_view(await load_file(store, cls_id, file_id))}

    @post("/{file_id:str}/confirm", status_code=HTTP_200_OK, **errors_for(404, 409, changes=True))
    async def confirm(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str], file_id: FromPath[str]
    ) -> FileResponse:
        """A person says the verdict is right: the file becomes a labelled example."""
        await confirm_verdict(store, cls_id, file_id)
        return {"file": file_view(await load_file(store, cls_id, file_id))}

    @post("/{file_id:str}/redo", status_code=HTTP_202_ACCEPTED, **errors_for(404, changes=True))
    async def redo(
        self,
        store: NamedDependency[AsyncStore],
        worker: NamedDependency[Worker],
        cls_id: FromPath[str],
        file_id: FromPath[str],
    ) -> FileResponse:
        """A fresh model run with the current categories; it replaces any override and takes
        the file's label back until it is checked again."""
        await redo_verdict(store, worker, cls_id, file_id)
        return {"file": file_view(await load_file(store, cls_id, file_id))}
