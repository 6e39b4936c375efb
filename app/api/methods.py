"""An OPTIONS answer's Allow header names every method of its path.

Litestar makes the OPTIONS handler of a path when the path's first handler is registered,
and that handler keeps the methods known then: a controller registers its handlers one by
one, so `/v1/classifications` would allow only OPTIONS and POST, not GET. (A 405 is right:
its Allow comes from the routing table.)
"""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

NOT_METHODS = ("asgi", "websocket")


def allowed(app: Litestar, paths: set[str]) -> str:
    handlers = app.route_handler_method_map
    methods = {m for path in paths for m in handlers.get(path, {}) if m not in NOT_METHODS}
    return ", ".join(sorted(methods))


def options_allow_every_method(app: ASGIApp) -> ASGIApp:
    """Middleware: OPTIONS answers list what the path's handlers take now."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return
        allow = allowed(Litestar.from_scope(scope), scope["route_handler"].paths)

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)["allow"] = allow
            await send(message)

        await app(scope, receive, send_allow)

    return middleware
