"""Webhooks: who may receive events, how they are signed, and the loop that delivers them.

Events are written to the store's outbox in the same transaction as the change they announce,
each with one pending delivery per subscribed webhook. The Deliverer, an asyncio task beside
the worker, POSTs them: at least once, retried with exponential backoff and jitter on errors,
timeouts and non-2xx answers, up to `max_attempts`. It never holds up the worker: the two
share nothing but the store.

Each POST is signed: Docsort-Signature is "v1=" + hex HMAC-SHA256(secret, f"{timestamp}.{body}")
with the Docsort-Timestamp header's value, so a receiver can check both who sent it and when.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import InvalidInput
from .jobs import DELIVERIES, new_owner, next_retry_delay, sweep
from .loops import Loops
from .store import AsyncStore, now_iso

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "Docsort-Event-Id"
EVENT_TYPE_HEADER = "Docsort-Event-Type"
TIMESTAMP_HEADER = "Docsort-Timestamp"
SIGNATURE_HEADER = "Docsort-Signature"
ATTEMPT_HEADER = "Docsort-Delivery-Attempt"
TOLERANCE_SECONDS = 300  # what the README's receiver accepts; retries are signed afresh
MAX_RETRY_DELAY = 3600.0
USER_AGENT = "docsort-webhooks/0.1"

Render = Callable[[str, dict[str, Any]], dict[str, Any]]


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent. Header
    names are matched ignoring case."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lower[TIMESTAMP_HEADER.lower()])
        signature = lower[SIGNATURE_HEADER.lower()]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allowed_hosts: tuple[str, ...]) -> str:
    """An http(s) URL, one httpx can send to, whose host is loopback or explicitly allowed;
    raises InvalidInput."""
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in url):
        raise InvalidInput(
            "a webhook URL has no spaces or control characters (percent-encode them)",
            code="invalid_webhook_url",
        )
    try:
        httpx.URL(url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a port that is not a number
    except (ValueError, httpx.InvalidURL) as exc:
        raise InvalidInput(f"not a valid URL: {exc}", code="invalid_webhook_url") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(
            "a webhook URL is http:// or https:// with a host", code="invalid_webhook_url"
        )
    if not (is_loopback(host) or "*" in allowed_hosts or host in allowed_hosts):
        raise InvalidInput(
            f"{host!r} is not a loopback address: events carry verdicts and extracted data,"
            " so by default they only go to this machine (set DOCSORT_WEBHOOK_ALLOWED_HOSTS"
            " to allow other hosts)",
            code="webhook_host_not_allowed",
        )
    return url


def event_body(event: dict[str, Any], render: Render) -> bytes:
    payload = {
        "id": event["id"],
        "type": event["type"],
        "created_at": event["created_at"],
        "data": render(event["subject"], json.loads(event["snapshot"])),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


class Deliverer:
    def __init__(
        self,
        store: AsyncStore,
        render: Render,
        *,
        timeout: float,
        max_attempts: int,
        retry_seconds: float,
        allowed_hosts: tuple[str, ...],
        concurrency: int = 4,
        poll_seconds: float = 1.0,
        stale_seconds: float = 30.0,
        owner: str | None = None,
    ):
        self.store = store
        self.render = render
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.allowed_hosts = allowed_hosts
        self.concurrency = concurrency
        self.stale_seconds = stale_seconds
        self.owner = owner or new_owner()
        self._loops = Loops("webhook delivery", poll_seconds, self.upkeep, stale_seconds / 6)
        self._client: httpx.AsyncClient | None = None

    def _new_client(self) -> httpx.AsyncClient:
        # No proxies from the environment and no redirects: an event goes where it was
        # configured to, or nowhere.
        return httpx.AsyncClient(
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": USER_AGENT},
        )

    def wake(self) -> None:
        self._loops.wake()

    async def start(self) -> None:
        await self.upkeep()
        self._client = self._new_client()
        self._loops.start([self._deliver_next] * self.concurrency)

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; give sends in flight `grace` seconds (default: the timeout), then
        cancel them and put their deliveries back."""
        await self._loops.stop(self.timeout + 1 if grace is None else grace)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self.store.release(self.owner)

    async def upkeep(self) -> None:
        """Keep this process's sends alive and put back those of dead processes (a receiver
        may then get an event twice: delivery is at least once)."""
        await self.store.heartbeat(self.owner, (DELIVERIES,))
        await sweep(self.store, self.stale_seconds, self.max_attempts, (DELIVERIES,))

    async def drain(self) -> int:
        """Burst mode for tests: deliver, one at a time, until nothing is due; returns how
        many attempts were made."""
        count = 0
        async with self._new_client() as client:
            while await self.deliver_one(client):
                count += 1
        return count

    async def _deliver_next(self) -> bool:
        assert self._client is not None
        return await self.deliver_one(self._client)

    async def deliver_one(self, client: httpx.AsyncClient) -> bool:
        delivery = await self.store.claim_delivery(self.owner)
        if delivery is None:
            return False
        attempt = delivery["attempts"]
        started, clock = now_iso(), time.monotonic()
        status_code, error, final = await self._post(client, delivery)
        retry_at = None
        if error is not None and not final and attempt < self.max_attempts:
            retry_at = time.time() + next_retry_delay(attempt, self.retry_seconds, MAX_RETRY_DELAY)
        if error is not None:
            log.warning(
                "webhook %s, event %s, attempt %d: %s%s",
                delivery["webhook_id"],
                delivery["event_id"],
                attempt,
                error,
                "" if retry_at else " (giving up)",
            )
        await self.store.record_attempt(
            delivery["id"],
            delivery["run_token"],
            {
                "attempt": attempt,
                "status_code": status_code,
                "error": error,
                "duration_ms": round((time.monotonic() - clock) * 1000),
                "started_at": started,
            },
            delivered=error is None,
            retry_at=retry_at,
        )
        return True

    async def _post(
        self, client: httpx.AsyncClient, delivery: dict[str, Any]
    ) -> tuple[int | None, str | None, bool]:
        """One POST: (status code, error or None when delivered, whether the error is final)."""
        event = delivery["event"]
        try:
            url = check_url(delivery["url"], self.allowed_hosts)
            body = event_body(event, self.render)
        except InvalidInput as exc:
            return None, exc.message, True
        except Exception as exc:
            log.exception("cannot build event %s", event["id"])
            return None, f"cannot build the event: {exc}", True
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            EVENT_ID_HEADER: event["id"],
            EVENT_TYPE_HEADER: event["type"],
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(delivery["secret"], timestamp, body),
            ATTEMPT_HEADER: str(delivery["attempts"]),
        }
        try:
            async with asyncio.timeout(self.timeout):
                response = await client.post(url, content=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {self.timeout:g} s", False
        except httpx.InvalidURL as exc:
            return None, f"cannot send to this URL: {exc}", True
        except Exception as exc:  # any failure is an attempt that failed, never a stuck send
            return None, f"{type(exc).__name__}: {exc}".rstrip(": "), False
        if 200 <= response.status_code < 300:
            return response.status_code, None, False
        snippet = " ".join(response.text[:200].split())
        error = f"the receiver answered {response.status_code}"
        return response.status_code, f"{error}: {snippet}" if snippet else error, False
