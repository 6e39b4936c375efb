"""Webhooks: where events about files are POSTed, and what happened to each delivery."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ..errors import NotFound
from ..schemas import WebhookIn
from ..settings import Settings
from ..store import AsyncStore
from ..webhooks import check_url, new_secret
from .openapi import errors_for
from .responses import DeliveryListResponse, WebhookListResponse, WebhookResponse
from .views import delivery_view, signed_webhook_view, webhook_view


async def load_webhook(store: AsyncStore, hook_id: str) -> dict[str, Any]:
    hook = await store.get_webhook(hook_id)
    if hook is None:
        raise NotFound(f"no webhook with id {hook_id!r}")
    return hook


class WebhookController(Controller):
    path = "/v1/webhooks"

    @post("/", **errors_for(body="json"))
    async def create(
        self,
        store: NamedDependency[AsyncStore],
        settings: NamedDependency[Settings],
        data: JSONBody[WebhookIn],
    ) -> WebhookResponse:
        """The answer holds the signing secret; events from now on are delivered to it."""
        url = check_url(data.url, settings.webhook_allowed_hosts)
        hook_id = await store.create_webhook(url, data.events, new_secret())
        return {"webhook": signed_webhook_view(await load_webhook(store, hook_id))}

    @get("/", **errors_for())
    async def index(self, store: NamedDependency[AsyncStore]) -> WebhookListResponse:
        return {"webhooks": [webhook_view(h) for h in await store.list_webhooks()]}

    @get("/{hook_id:str}", **errors_for(404))
    async def show(
        self, store: NamedDependency[AsyncStore], hook_id: FromPath[str]
    ) -> WebhookResponse:
        return {"webhook": signed_webhook_view(await load_webhook(store, hook_id))}

    @delete("/{hook_id:str}", **errors_for(404, changes=True))
    async def remove(self, store: NamedDependency[AsyncStore], hook_id: FromPath[str]) -> None:
        """The webhook and its deliveries, pending ones included, are gone."""
        await load_webhook(store, hook_id)
        await store.delete_webhook(hook_id)

    @get("/{hook_id:str}/deliveries", **errors_for(404))
    async def deliveries(
        self, store: NamedDependency[AsyncStore], hook_id: FromPath[str]
    ) -> DeliveryListResponse:
        """The latest 100 deliveries, newest first, each with every attempt."""
        await load_webhook(store, hook_id)
        return {"deliveries": [delivery_view(d) for d in await store.list_deliveries(hook_id)]}
