"""The review queue: a classification's files least sure first, one shown in detail with its
document, and the checks a person makes on it (confirm, change, redo).

Each check is a plain form (the page works without JavaScript; review.js adds the keys) that
redirects back to the queue, same filters, with the next file selected. The checks are the
API's own (app/api/files.py), so both say and do the same.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import MultiDict
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from ..api.classifications import load_classification
from ..api.files import confirm_verdict, load_file, override_verdict, redo_verdict
from ..api.views import file_view
from ..errors import DocsortError, NotFound
from ..reading import UnreadableFile
from ..reading.sniff import sniff
from ..settings import Settings
from ..store import AsyncStore
from ..store.review import NONE, STATUSES, ReviewFilters
from ..verdict import language
from ..worker import Worker
from . import preview

PAGE_SIZE = 50
KEYED = 9  # categories 1-9 have a key each
PREVIEW_MAX_AGE = 86400  # a file's bytes never change under its id
PREVIEW_HEADERS = {
    "Content-Security-Policy": "default-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": f"private, max-age={PREVIEW_MAX_AGE}",
}
# What a check redirects back with (?flash=), and what the page then says; a code, never
# text from the address, so a link cannot make the page say anything else.
FLASHES = {
    "confirmed": ("ok", "Confirmed {name}."),
    "changed": ("ok", "Changed the verdict on {name}."),
    "redone": ("ok", "{name} is queued for a fresh run."),
    "no_verdict": ("error", "{name} has no verdict to confirm yet: it is {status}."),
    "unknown_category": ("error", "That category is not one of this classification's."),
}


@dataclass
class Query:
    """The queue's address: its filters, and what a filter could not make sense of."""

    filters: ReviewFilters
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: MultiDict[str]) -> Query:
        """Lenient: a form sends empty fields, and a bad value is dropped and said so."""
        errors = {}
        category = params.get("category") or None
        status = params.get("status") or None
        if status is not None and status not in STATUSES:
            errors["status"] = f"status is one of {', '.join(STATUSES)}"
            status = None
        below = None
        if raw := (params.get("below") or "").strip():
            try:
                below = float(raw)
            except ValueError:
                below = math.nan
            if not 0 <= below <= 1:
                errors["below"] = "a confidence between 0 and 1, such as 0.8"
                below = None
        filters = ReviewFilters(
            category=category,
            status=status,
            below=below,
            batch=params.get("batch") or None,
            stale=params.get("stale") in ("1", "on", "true"),
        )
        return cls(filters, errors)

    def params(self, **extra: Any) -> dict[str, str]:
        f = self.filters
        values = {
            "category": f.category,
            "status": f.status,
            "below": None if f.below is None else f"{f.below:g}",
            "batch": f.batch,
            "stale": "1" if f.stale else None,
            **extra,
        }
        return {k: str(v) for k, v in values.items() if v is not None}

    def string(self, **extra: Any) -> str:
        return urlencode(self.params(**extra))


def review_url(cls_id: str, query: Query, **extra: Any) -> str:
    qs = query.string(**extra)
    return f"/classifications/{cls_id}/review" + (f"?{qs}" if qs else "")


@dataclass
class Detail:
    """The selected file: its view, where its nearest labelled files are, its preview."""

    file: dict[str, Any]
    nearest: list[dict[str, Any]]
    preview: str | None  # "image", "text" or None
    text: str | None = None
    text_error: str | None = None
    foreign: bool = False  # its verdict weighed it as in another language than its categories'
    language: str = ""  # the name of the language it reads as


class ReviewPages(Controller):
    path = "/classifications/{cls_id:str}"
    include_in_schema = False

    @get("/review")
    async def review(
        self,
        request: Request[Any, Any, Any],
        store: NamedDependency[AsyncStore],
        settings: NamedDependency[Settings],
        cls_id: FromPath[str],
    ) -> Template:
        classification = await load_classification(store, cls_id)
        query = Query.parse(request.query_params)
        selected = request.query_params.get("selected")
        page = _page_number(request.query_params.get("page"))
        if page is None:
            place = selected and await store.review_place(cls_id, query.filters, selected)
            page = place.position // PAGE_SIZE + 1 if place else 1
        rows, total = await store.review_page(
            cls_id, query.filters, (page - 1) * PAGE_SIZE, PAGE_SIZE
        )
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if page > pages:  # past the end (the queue got shorter): its last page
            page = pages
            rows, _ = await store.review_page(
                cls_id, query.filters, (page - 1) * PAGE_SIZE, PAGE_SIZE
            )
        queue = [file_view(row) for row in rows]
        if selected is None and queue:
            selected = queue[0]["id"]
        detail = None
        if selected is not None:
            row = await store.get_file(selected, cls_id)
            detail = row and await _detail(store, settings, cls_id, row)
        return Template(
            "review.html",
            context={
                "classification": classification,
                "categories": classification["categories"],
                "keyed": KEYED,
                "none_filter": NONE,
                "statuses": STATUSES,
                "batches": await store.review_batches(cls_id),
                "query": query,
                "queue": [
                    {"file": f, "url": review_url(cls_id, query, selected=f["id"], page=page)}
                    for f in queue
                ],
                "selected": selected,
                "detail": detail,
                "total": total,
                "page": page,
                "pages": pages,
                "first_index": (page - 1) * PAGE_SIZE,
                "previous_url": page > 1 and review_url(cls_id, query, page=page - 1),
                "next_url": page < pages and review_url(cls_id, query, page=page + 1),
                "clear_url": review_url(cls_id, Query(ReviewFilters())),
                "actions": query.string(),
                "flash": await _flash(store, cls_id, request.query_params),
            },
        )

    @post("/files/{file_id:str}/confirm", status_code=HTTP_303_SEE_OTHER)
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        store: NamedDependency[AsyncStore],
        cls_id: FromPath[str],
        file_id: FromPath[str],
    ) -> Redirect:
        action = partial(confirm_verdict, store, cls_id, file_id)
        return await _check(request, store, cls_id, file_id, "confirmed", action)

    @post("/files/{file_id:str}/change", status_code=HTTP_303_SEE_OTHER)
    async def change(
        self,
        request: Request[Any, Any, Any],
        store: NamedDependency[AsyncStore],
        cls_id: FromPath[str],
        file_id: FromPath[str],
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        category_id = data.get("category_id") or None
        action = partial(override_verdict, store, cls_id, file_id, category_id)
        return await _check(request, store, cls_id, file_id, "changed", action)

    @post("/files/{file_id:str}/redo", status_code=HTTP_303_SEE_OTHER)
    async def redo(
        self,
        request: Request[Any, Any, Any],
        store: NamedDependency[AsyncStore],
        worker: NamedDependency[Worker],
        cls_id: FromPath[str],
        file_id: FromPath[str],
    ) -> Redirect:
        action = partial(redo_verdict, store, worker, cls_id, file_id)
        return await _check(request, store, cls_id, file_id, "redone", action)

    @get("/files/{file_id:str}/preview.png")
    async def preview(
        self,
        store: NamedDependency[AsyncStore],
        settings: NamedDependency[Settings],
        cls_id: FromPath[str],
        file_id: FromPath[str],
    ) -> Response[bytes]:
        """Only docsort's own rendering, never the uploaded bytes."""
        row = await load_file(store, cls_id, file_id)
        source = settings.uploads_dir / row["batch_id"] / row["id"]
        kind = await asyncio.to_thread(_kind, row, source)
        if not preview.previewable(kind):
            raise NotFound(f"file {file_id!r} is not a PDF or an image: it has no preview")
        assert kind is not None
        cache = settings.data_dir / "previews"
        try:
            png = await asyncio.to_thread(preview.preview_png, cache, row["id"], source, kind)
        except (preview.NoPreview, FileNotFoundError) as exc:
            raise NotFound(f"file {file_id!r} could not be rendered: {exc}") from exc
        return Response(png, media_type="image/png", headers=PREVIEW_HEADERS)


async def _check(
    request: Request[Any, Any, Any],
    store: AsyncStore,
    cls_id: str,
    file_id: str,
    done: str,
    action: Callable[[], Awaitable[None]],
) -> Redirect:
    """Run a check and go back to the queue, on the file after this one (before the check
    moves it): a refused check stays on the file and says why."""
    query = Query.parse(request.query_params)
    place = await store.review_place(cls_id, query.filters, file_id)
    try:
        await action()
    except DocsortError as exc:
        if exc.code not in FLASHES:
            raise
        back = review_url(cls_id, query, selected=file_id, flash=exc.code, flashed=file_id)
        return Redirect(back, status_code=HTTP_303_SEE_OTHER)
    following = place and (place.next_id or place.previous_id)
    extra = {"selected": following} if following else {}
    back = review_url(cls_id, query, **extra, flash=done, flashed=file_id)
    return Redirect(back, status_code=HTTP_303_SEE_OTHER)


async def _flash(store: AsyncStore, cls_id: str, params: MultiDict[str]) -> dict[str, str] | None:
    code = params.get("flash")
    if code not in FLASHES:
        return None
    kind, message = FLASHES[code]
    row = await store.get_file(params.get("flashed") or "", cls_id)
    if row is None and "{name}" in message:
        return None
    name = row["file_name"] if row else ""
    return {"kind": kind, "text": message.format(name=name, status=row and row["status"])}


def _page_number(raw: str | None) -> int | None:
    try:
        return max(1, int(raw)) if raw else None
    except ValueError:
        return None


def _kind(row: dict[str, Any], source: Path) -> str | None:
    """What reading found the file to be; sniffed when it has not been read yet."""
    if row["document_type"]:
        return row["document_type"]
    try:
        return sniff(source)
    except (UnreadableFile, OSError):
        return None


async def _detail(
    store: AsyncStore, settings: Settings, cls_id: str, row: dict[str, Any]
) -> Detail:
    view = dict(file_view(row))
    evidence = (view["model_verdict"] or {}).get("evidence") or {}
    nearest = list((evidence.get("examples") or {}).get("nearest") or [])
    known = await store.labelled_files([n["file_id"] for n in nearest])
    for item in nearest:
        labelled = known.get(item["file_id"])
        item["url"] = _labelled_url(cls_id, labelled)
        item["file_name"] = labelled["file_name"] if labelled else item["file_name"]
    detail = partial(
        Detail,
        view,
        nearest,
        foreign=language.foreign(evidence.get("familiarity", 1.0)),
        language=language.name(evidence.get("language", "")),
    )
    source = settings.uploads_dir / row["batch_id"] / row["id"]
    kind = await asyncio.to_thread(_kind, row, source)
    if preview.previewable(kind):
        return detail("image")
    if kind is None:
        return detail(None)
    try:
        text = await asyncio.to_thread(preview.opening_text, source)
    except (UnreadableFile, OSError) as exc:
        return detail("text", text_error=str(exc))
    return detail("text", text=text)


def _labelled_url(cls_id: str, row: dict[str, Any] | None) -> str | None:
    """A labelled file's page: a checked file's place in the review, an example's list."""
    if row is None or row["classification_id"] != cls_id:
        return None
    if row["example_category_id"]:
        return f"/v1/classifications/{cls_id}/categories/{row['example_category_id']}/examples"
    return f"/classifications/{cls_id}/review?" + urlencode({"selected": row["id"]})
