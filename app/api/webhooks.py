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
from .views import delivery_view, webhook_view


async def load_webhook(store: AsyncStore, hook_id: str) -> dict[str, Any]:
    hook = await store.get_webhook(hook_id)
    if hook is None:
        raise NotFound(f"no webhook with id {hook_id!r}")
    return hook


class WebhookController(Controller):
    path = "/v1/webhooks"

    @post("/")
    async def create(
        self,
        store: NamedDependency[AsyncStore],
        settings: NamedDependency[Settings],
        data: JSONBody[WebhookIn],
    ) -> dict[str, Any]:
        """The answer holds the signing secret; events from now on are delivered to it."""
        url = check_url(data.url, settings.webhook_allowed_hosts)
        hook_id = await store.create_webhook(url, data.events, new_secret())
        return {"webhook": webhook_view(await load_webhook(store, hook_id), with_secret=True)}

    @get("/")
    async def index(self, store: NamedDependency[AsyncStore]) -> dict[str, Any]:
        return {"webhooks": [webhook_view(h) for h in await store.list_webhooks()]}

    @get("/{hook_id:str}")
    async def show(
        self, store: NamedDependency[AsyncStore], hook_id: FromPath[str]
    ) -> dict[str, Any]:
        return {"webhook": webhook_view(await load_webhook(store, hook_id), with_secret=True)}

    @delete("/{hook_id:str}")
    async def remove(self, store: NamedDependency[AsyncStore], hook_id: FromPath[str]) -> None:
        """The webhook and its deliveries, pending ones included, are gone."""
        await load_webhook(store, hook_id)
        await store.delete_webhook(hook_id)

    @get("/{hook_id:str}/deliveries")
    async def deliveries(
        self, store: NamedDependency[AsyncStore], hook_id: FromPath[str]
    ) -> dict[str, Any]:
        """The latest 100 deliveries, newest first, each with every attempt."""
        await load_webhook(store, hook_id)
        return {"deliveries": [delivery_view(d) for d in await store.list_deliveries(hook_id)]}
