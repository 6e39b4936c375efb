"""The classifications: the list every other page starts from."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.response import Template

from ..store import AsyncStore


class ClassificationPages(Controller):
    path = "/"
    include_in_schema = False

    @get("/")
    async def index(self, store: NamedDependency[AsyncStore]) -> Template:
        classifications = await store.list_classifications()
        return Template("classifications.html", context={"classifications": classifications})
