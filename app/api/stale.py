"""Stale verdicts: files the model sorted with category definitions that have changed since."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_202_ACCEPTED

from ..store import AsyncStore
from ..worker import Worker
from .classifications import load_classification
from .openapi import errors_for
from .responses import StaleRedoResponse


async def redo_stale(store: AsyncStore, worker: Worker, cls_id: str) -> int:
    """Queue every stale file of the classification again (shared with the stale page)."""
    await load_classification(store, cls_id)
    requeued = await store.redo_stale(cls_id)
    worker.wake()
    return requeued


class StaleController(Controller):
    path = "/v1/classifications/{cls_id:str}/stale"

    @post("/redo", status_code=HTTP_202_ACCEPTED, **errors_for(404, changes=True))
    async def redo(
        self,
        store: NamedDependency[AsyncStore],
        worker: NamedDependency[Worker],
        cls_id: FromPath[str],
    ) -> StaleRedoResponse:
        """Queue again every file whose machine verdict is stale (its file view says
        `stale`); a person's override is never stale and stays."""
        return {"requeued": await redo_stale(store, worker, cls_id)}
