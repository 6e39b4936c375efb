"""Hostile requests are refused before a handler runs, so they change nothing.

- Host: docsort answers only to the names it is served under. A web page whose DNS name
  is re-pointed at 127.0.0.1 (DNS rebinding) then reaches the API only with its own name
  in the Host header, and is refused.
- Content type: a JSON body must say application/json. A browser sends a cross-origin
  POST without asking first only as text/plain, form-urlencoded or multipart, so no other
  web page can create or change anything. There is no CORS, so none can read an answer.
- Origin: a browser names the page that sent a request. One that changes something must
  come from docsort's own pages (Origin equal to the Host it was sent to): a form on any
  other site, or another local server's page, may otherwise upload files (multipart needs
  no preflight) or post to an action without a body. curl and scripts send no Origin.
- Nesting: a JSON body nested deeper than any request needs is refused before it is
  parsed; the parser would otherwise run out of recursion.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from itertools import accumulate
from typing import Any

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import SerializationException
from litestar.handlers import HTTPRouteHandler

from ..errors import BadRequest, Forbidden, MisdirectedRequest, UnsupportedMediaType
from ..settings import Settings

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
MAX_JSON_DEPTH = 64

_HOST = re.compile(r"(\[[^\]]*\]|[^:\[\]]*)(?::[0-9]*)?")
_JSON_TYPE = re.compile(r"application/(?:[a-z0-9.!#$&^_-]+\+)?json")
# A JSON string, or what is left of an unterminated one: never backtracks, so linear.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1


def _bracketed(host: str) -> str:
    """An IPv6 address as it appears in a Host header."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def served_hosts(settings: Settings) -> frozenset[str]:
    return frozenset(
        _bracketed(h.lower()) for h in (*LOOPBACK, settings.host, *settings.allowed_hosts)
    )


def host_name(header: str) -> str:
    """The Host header without its port; "" when it is not a host."""
    match = _HOST.fullmatch(header.strip().lower())
    return match.group(1) if match else ""


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in `body`, strings skipped; valid JSON or not."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    return max(accumulate(map(_DEPTH_STEP.__getitem__, _STRING.sub(b"", body))), default=0)


def takes_json(handler: HTTPRouteHandler) -> bool:
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return False
    media_type = getattr(data.kwarg_definition, "media_type", RequestEncodingType.JSON)
    return media_type == RequestEncodingType.JSON


def check_host(request: Request[Any, Any, Any], hosts: frozenset[str]) -> None:
    header = request.headers.get("host", "")
    if "*" not in hosts and host_name(header) not in hosts:
        raise MisdirectedRequest(
            f"docsort does not answer to the host {header!r}: add it to DOCSORT_ALLOWED_HOSTS"
            " (comma-separated) to reach docsort by that name; other names are refused"
            " against DNS rebinding"
        )


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_origin(request: Request[Any, Any, Any], hosts: frozenset[str]) -> None:
    origin = request.headers.get("origin")
    if origin is None or request.method in SAFE_METHODS or "*" in hosts:
        return
    host = request.headers.get("host", "").strip().lower()
    if origin.strip().lower().partition("://")[2] != host:
        raise Forbidden(
            f"a request from the page {origin!r} may not change anything here: only docsort's"
            " own pages may (scripts send no Origin header)",
            code="cross_origin_request",
        )


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """The body is JSON, said to be and not nested too deep; parsed here (Litestar keeps
    the result for the handler) so a malformed body is a 400 like the rest."""
    media_type, _ = request.content_type
    if not _JSON_TYPE.fullmatch(media_type.lower()):
        raise UnsupportedMediaType(
            "send the body as JSON, with 'content-type: application/json'"
            f" (got {repr(media_type) if media_type else 'none'})"
        )
    body = await request.body()
    if json_depth(body) > MAX_JSON_DEPTH:
        raise BadRequest(
            f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json"
        )
    if body:
        try:
            await request.json()
        except SerializationException as exc:
            raise BadRequest(str(exc), code="invalid_json") from exc


def guard(settings: Settings) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """The app's before_request hook."""
    hosts = served_hosts(settings)

    async def before_request(request: Request[Any, Any, Any]) -> None:
        check_host(request, hosts)
        if takes_json(request.route_handler):
            await check_json_body(request)
        check_origin(request, hosts)

    return before_request
