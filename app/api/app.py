"""The Litestar application factory: it takes its dependencies, so tests can pass real or
fake ones instead of patching globals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
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
from ..worker import Worker
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
from .responses import Health
from .security import guard
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
    store: NamedDependency[AsyncStore],
    model: NamedDependency[ModelClient],
    worker: NamedDependency[Worker],
) -> Response[Health]:
    """Ready when the database answers and the model server has the model; the worker says
    whether it is waiting for the model server, and since when."""
    try:
        database = {"ok": await store.check()}
    except Exception as exc:
        database = {"ok": False, "error": str(exc)}
    model_status = await model.status()
    ok = database["ok"] and model_status["ok"]
    return Response(
        {
            "status": "ok" if ok else "unavailable",
            "database": database,
            "model": model_status,
            "worker": asdict(worker.outage.state()),
        },
        status_code=200 if ok else 503,
    )


def create_app(
    settings: NamedDependency[Settings],
    store: NamedDependency[AsyncStore],
    model: NamedDependency[ModelClient],
    *,
    run_worker: bool = True,
) -> Litestar:
    """Build the API over `store` and `model`. With run_worker=False nothing processes files
    or delivers events until a test drains `app.state.worker` (and `app.state.deliverer`)."""
    owner = new_owner()  # this process, holding the runs its worker and deliverer claim
    classifier = Classifier(
        model,
        Prompts(settings.prompts_dir),
        settings.answer_retries,
        settings.weighing,
        settings.text_tokens,
        sure=settings.examples_sure,
    )
    worker = Worker(
        store,
        classifier,
        settings.uploads_dir,
        concurrency=settings.concurrency,
        max_attempts=settings.max_attempts,
        read_tokens=settings.read_tokens,
        extractor=Extractor(model, Prompts(settings.prompts_dir), settings.answer_retries),
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
            ExtractionController,
            ExtractionBatchController,
            ExtractionFileController,
            WebhookController,
            health,
            web_router(),
        ],
        dependencies={
            "store": provide(store),
            "model": provide(model),
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
