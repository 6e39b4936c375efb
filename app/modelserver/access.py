"""Which requests the bundled server answers: Ollama's two checks, so that a web page the user
opens can neither reach it under its own name (DNS rebinding) nor make it work for it.

- Host: on a loopback address, Ollama answers only to a local name — none, `localhost`, the
  machine's own name, one ending in .localhost, .local or .internal, or a loopback, private
  or unspecified address. Any other is a page whose name was re-pointed at 127.0.0.1.
- Origin: a browser names the page that sent a request; Ollama answers only pages served
  from this machine (`http://localhost:*`, `http://127.0.0.1:*`, …, `app://`, `file://`)
  and those listed in OLLAMA_ORIGINS (comma-separated, `*` a wildcard). The `ollama`
  client and curl send no Origin.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from .engine import ApiError

LOCAL_SUFFIXES = (".localhost", ".local", ".internal")
# Private as Go's netip means it (RFC 1918 and RFC 4193); Python's is_private counts more.
PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
LOCAL_ORIGINS = tuple(
    f"{scheme}://{host}{port}"
    for host in ("localhost", "127.0.0.1", "0.0.0.0")
    for scheme in ("http", "https")
    for port in ("", ":*")
) + ("app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*")


def host_allowed(header: str) -> bool:
    """Whether a Host header names this machine the way Ollama accepts on loopback."""
    try:
        name = urlsplit(f"//{header.strip()}").hostname or ""
    except ValueError:
        return False
    if name in ("", "localhost", socket.gethostname().lower()) or name.endswith(LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    private = any(address in network for network in PRIVATE)
    return address.is_loopback or address.is_unspecified or private


def origin_allowed(origin: str) -> bool:
    listed = os.environ.get("OLLAMA_ORIGINS", "").lower().split(",")
    patterns = LOCAL_ORIGINS + tuple(p.strip() for p in listed if p.strip())
    return any(fnmatchcase(origin.strip().lower(), pattern) for pattern in patterns)


def refuse_foreign(request: Request[Any, Any, Any]) -> None:
    """Ollama's checks, before any route runs: 403 for a foreign Host or Origin."""
    host = request.headers.get("host", "")
    if not host_allowed(host):
        raise ApiError(403, f"this server does not answer to the host {host!r} (DNS rebinding)")
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(origin):
        raise ApiError(
            403, f"this server does not answer pages from {origin!r}: see OLLAMA_ORIGINS"
        )
