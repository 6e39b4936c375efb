"""Stale verdicts: the files the model sorted before their categories were changed, with
what changed, and one button that runs them all again (the API's bulk redo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter
from litestar.response import Redirect, Template

from ..api.classifications import load_classification
from ..api.stale import redo_stale
from ..api.views import file_view
from ..store import AsyncStore
from ..worker import Worker


@dataclass
class Group:
    """Stale files that share what changed since their verdict."""

    changes: tuple[str, ...]
    files: list[dict[str, Any]] = field(default_factory=list)


def by_change(files: list[dict[str, Any]]) -> list[Group]:
    """Grouped by what changed, the largest group first (then in the files' order)."""
    groups: dict[tuple[str, ...], Group] = {}
    for f in files:
        key = tuple(f["stale_changes"])
        groups.setdefault(key, Group(key)).files.append(f)
    return sorted(groups.values(), key=lambda g: -len(g.files))


class StalePages(Controller):
    path = "/classifications/{cls_id:str}/stale"
    include_in_schema = False

    @get("/")
    async def stale(
        self,
        store: NamedDependency[AsyncStore],
        cls_id: FromPath[str],
        requeued: Annotated[int | None, Parameter(ge=0)] = None,
    ) -> Template:
        """`requeued`: how many the button just queued again (the redirect says so)."""
        classification = await load_classification(store, cls_id)
        files = [file_view(f) for f in await store.stale_files(cls_id)]
        return Template(
            "stale.html",
            context={
                "classification": classification,
                "count": len(files),
                "groups": by_change(files),
                "requeued": requeued,
            },
        )

    @post("/redo")
    async def redo(
        self,
        store: NamedDependency[AsyncStore],
        worker: NamedDependency[Worker],
        cls_id: FromPath[str],
    ) -> Redirect:
        requeued = await redo_stale(store, worker, cls_id)
        return Redirect(f"/classifications/{cls_id}/stale?requeued={requeued}", status_code=303)
