"""The live accuracy: what people's checks say about docsort's verdicts (app/accuracy.py)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from ..accuracy import live_accuracy
from ..store import AsyncStore
from .classifications import load_classification
from .openapi import errors_for
from .responses import AccuracyResponse


class AccuracyController(Controller):
    path = "/v1/classifications/{cls_id:str}/accuracy"

    @get("/", **errors_for(404))
    async def show(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str]
    ) -> AccuracyResponse:
        await load_classification(store, cls_id)
        return {"accuracy": live_accuracy(await store.latest_checks(cls_id))}
