"""Upload a batch and watch it: the upload page posts to the JSON API from upload.js (a
plain form posts here without JavaScript), and the batch page is rendered once on the
server, then kept current by batch.js polling the API."""

from __future__ import annotations

import hashlib
import hmac
import statistics
from datetime import datetime
from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from ..api.batches import load_batch, upload_batch
from ..api.classifications import load_classification
from ..api.views import batch_view, file_view
from ..errors import DocsortError, Forbidden
from ..settings import MB, Settings
from ..store import FAILED, PROCESSED, PROCESSING, QUEUED, AsyncStore
from ..worker import Worker

STATUSES = (QUEUED, PROCESSING, PROCESSED, FAILED)


def counts(files: list[dict[str, Any]]) -> dict[str, int]:
    return {s: sum(f["status"] == s for f in files) for s in STATUSES}


def seconds_left(files: list[dict[str, Any]]) -> float | None:
    """The median time a finished file took, times the files not finished; None until one
    has finished. batch.js estimates the same way."""
    durations = [
        (_time(f["finished_at"]) - _time(f["started_at"])).total_seconds()
        for f in files
        if f["status"] in (PROCESSED, FAILED) and f["started_at"] and f["finished_at"]
    ]
    left = sum(f["status"] in (QUEUED, PROCESSING) for f in files)
    if not left:
        return 0.0
    return statistics.median(durations) * left if durations else None


def time_left_text(seconds: float | None) -> str:
    if seconds is None:
        return "estimating the time left…"
    if seconds == 0:
        return "nothing left to do"
    if seconds < 90:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


def _time(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def csrf_token_ok(request: Request[Any, Any, Any], token: str) -> bool:
    """Litestar's CSRF check for a request whose body the middleware must not read: the
    token (sent in the query) equals the cookie and carries the app's signature."""
    config = request.app.csrf_config
    assert config is not None
    cookie = request.cookies.get(config.cookie_name, "")
    nonce, signature = token[:64], token[64:]
    expected = hmac.new(config.secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()
    return (
        len(token) > 64
        and hmac.compare_digest(token, cookie)
        and hmac.compare_digest(signature, expected)
    )


class BatchPages(Controller):
    path = "/classifications/{cls_id:str}"
    include_in_schema = False

    @get("/upload")
    async def upload_page(
        self,
        store: NamedDependency[AsyncStore],
        settings: NamedDependency[Settings],
        cls_id: FromPath[str],
    ) -> Template:
        return await _upload_page(store, settings, cls_id)

    @post("/upload", request_max_body_size=None, exclude_from_csrf=True)
    async def upload_form(
        self,
        request: Request[Any, Any, Any],
        store: NamedDependency[AsyncStore],
        worker: NamedDependency[Worker],
        settings: NamedDependency[Settings],
        cls_id: FromPath[str],
        csrf: FromQuery[str] = "",
    ) -> Template | Redirect:
        """The form's post without JavaScript: the same upload as the API's. Its body is
        the files, so the CSRF token comes in the query string (`csrf`), checked here."""
        if not csrf_token_ok(request, csrf):
            raise Forbidden("the form has expired: reload the page and upload again")
        try:
            batch_id = await upload_batch(request, store, worker, settings, cls_id)
        except DocsortError as exc:
            if exc.status == 404:
                raise
            return await _upload_page(store, settings, cls_id, exc.message, exc.status)
        return Redirect(f"/classifications/{cls_id}/batches/{batch_id}", status_code=303)

    @get("/batches/{batch_id:str}")
    async def batch_page(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str], batch_id: FromPath[str]
    ) -> Template:
        classification = await load_classification(store, cls_id)
        batch = batch_view(await load_batch(store, cls_id, batch_id))
        files = [file_view(f) for f in await store.batch_files(batch_id)]
        done = counts(files)
        return Template(
            "batch.html",
            context={
                "classification": classification,
                "batch": batch,
                "files": files,
                "counts": done,
                "finished": done[PROCESSED] + done[FAILED],
                "time_left": time_left_text(seconds_left(files)),
            },
        )


async def _upload_page(
    store: AsyncStore, settings: Settings, cls_id: str, error: str = "", status: int = 200
) -> Template:
    classification = await load_classification(store, cls_id)
    batches = [batch_view(b) for b in await store.list_batches(cls_id)]
    return Template(
        "upload.html",
        context={
            "classification": classification,
            "max_files": settings.max_files,
            "max_file_bytes": settings.max_file_bytes,
            "max_mb": settings.max_file_bytes // MB,
            "batches": sorted(batches, key=lambda b: b["created_at"], reverse=True),
            "error": error,
        },
        status_code=status,
        media_type=MediaType.HTML,
    )
