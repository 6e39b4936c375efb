"""The Litestar application factory: it takes its dependencies, so tests can pass real or
fake ones instead of patching globals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from http import HTTPStatus
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig, ResponseSpec

from ..errors import DocsortError
from ..extraction import Extractor
from ..jobs import new_owner
from ..model import ModelClient
from ..prompts import Prompts
from ..settings import Settings
from ..store import AsyncStore
from ..uploads import clean_uploads
from ..verdict.classifier import Classifier
from ..web import csrf_config, template_config, web_router
from ..webhooks import Deliverer
from ..worker import Lane, Worker
from .accuracy import AccuracyController
from .batches import BatchController
from .classifications import ClassificationController
from .examples import ExampleController
from .extractions import (
    ExtractionBatchController,
    ExtractionController,
    ExtractionFileController,
)
from .files import FileController
from .methods import options_allow_every_method
from .openapi import RequestModels, errors_for
from .responses import DatabaseHealth, Health, HostHealth
from .security import guard
from .stale import StaleController
from .views import event_data
from .webhooks import WebhookController

log = logging.getLogger(__name__)


def _error(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    return Response(
        DocsortError(message, code=code, details=details).body(),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _docsort_error(_: Request[Any, Any, Any], exc: DocsortError) -> Response[Any]:
    return _error(exc.status, exc.code, exc.message, exc.details)


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    return _error(422, "invalid_input", "the request body is not valid", exc.extra)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    return _error(exc.status_code, code, exc.detail, headers=exc.headers)  # a 405's Allow


def _unexpected_error(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", exc_info=exc)
    return _error(500, "internal_error", "something went wrong on the server; see its log")


@get(
    "/health",
    **errors_for(
        responses={
            503: ResponseSpec(
                Health, generate_examples=False, description="Not ready: see what is not ok"
            )
        }
    ),
)
async def health(
    store: NamedDependency[AsyncStore], worker: NamedDependency[Worker]
) -> Response[Health]:
    """Ready when the database answers and a model host has the models; the worker says
    whether it is waiting for the model server, and since when."""
    try:
        database: DatabaseHealth = {"ok": await store.check()}
    except Exception as exc:
        database = {"ok": False, "error": str(exc)}
    statuses = await asyncio.gather(*(lane.model.status() for lane in worker.lanes))
    hosts = [
        HostHealth(**status, slots=lane.slots, worker=asdict(lane.outage.state()))
        for lane, status in zip(worker.lanes, statuses, strict=True)
    ]
    model = next((s for s in statuses if s["ok"]), statuses[0])
    ok = database["ok"] and model["ok"]
    return Response(
        {
            "status": "ok" if ok else "unavailable",
            "database": database,
            "model": model,
            "hosts": hosts,
            "worker": asdict(worker.state()),
        },
        status_code=200 if ok else 503,
    )


def create_app(
    settings: NamedDependency[Settings],
    store: NamedDependency[AsyncStore],
    models: ModelClient | Sequence[ModelClient],
    *,
    run_worker: bool = True,
) -> Litestar:
    """Build the API over `store` and the model hosts `models` (one or several). With
    run_worker=False nothing processes files or delivers events until a test drains
    `app.state.worker` (and `app.state.deliverer`)."""
    owner = new_owner()  # this process, holding the runs its worker and deliverer claim
    prompts = Prompts(settings.prompts_dir)
    lanes = [
        Lane(
            Classifier(
                model,
                prompts,
                settings.answer_retries,
                settings.weighing,
                settings.text_tokens,
                settings.embed_tokens,
                sure=settings.examples_sure,
            ),
            Extractor(model, prompts, settings.answer_retries),
            model.slots or settings.concurrency,
        )
        for model in ([models] if isinstance(models, ModelClient) else models)
    ]
    worker = Worker(
        store,
        lanes,
        settings.uploads_dir,
        max_attempts=settings.max_attempts,
        read_tokens=settings.read_tokens,
        extract_tokens=settings.extract_tokens,
        job_timeout=settings.job_timeout,
        stale_seconds=settings.stale_seconds,
        owner=owner,
    )
    deliverer = Deliverer(
        store,
        event_data,
        timeout=settings.webhook_timeout,
        max_attempts=settings.webhook_max_attempts,
        retry_seconds=settings.webhook_retry_seconds,
        allowed_hosts=settings.webhook_allowed_hosts,
        stale_seconds=settings.stale_seconds,
        owner=owner,
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        known = await store.batch_ids()
        removed = await asyncio.to_thread(clean_uploads, settings.uploads_dir, known)
        if removed:
            log.warning("removed %d upload(s) a stopped process left behind", len(removed))
        if run_worker:
            await worker.start()
            await deliverer.start()
        try:
            yield
        finally:
            if run_worker:
                await asyncio.gather(worker.stop(), deliverer.stop())

    def provide(value: Any) -> Provide:
        return Provide(lambda: value, use_cache=True, sync_to_thread=False)

    app = Litestar(
        route_handlers=[
            ClassificationController,
            BatchController,
            FileController,
            ExampleController,
            AccuracyController,
            StaleController,
            ExtractionController,
            ExtractionBatchController,
            ExtractionFileController,
            WebhookController,
            health,
            web_router(),
        ],
        dependencies={
            "store": provide(store),
            "worker": provide(worker),
            "settings": provide(settings),
        },
        exception_handlers={
            DocsortError: _docsort_error,
            ValidationException: _validation_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        before_request=guard(settings),
        middleware=[options_allow_every_method],
        plugins=[RequestModels()],
        lifespan=[lifespan],
        template_config=template_config(),
        csrf_config=csrf_config(settings),
        openapi_config=OpenAPIConfig(title="docsort", version="0.1.0", path="/schema"),
    )
    app.state.worker = worker
    app.state.deliverer = deliverer
    return app
