"""Webhooks and their outbox: events and deliveries are written in the transaction of the
change they announce, then sent by the delivery loop in app/webhooks.py."""

from __future__ import annotations

import json
import time
from typing import Any

from ..ids import new_id
from ..jobs import DELIVERIES, Status
from .base import CLASSIFICATION_FILE, now_iso
from .jobs import JobStore

# Webhook deliveries: pending (due now or backing off), sending, delivered, failed (gave up).
PENDING, SENDING, DELIVERED = (
    DELIVERIES.name(s) for s in (Status.QUEUED, Status.RUNNING, Status.DONE)
)


class WebhookStore(JobStore):
    def create_webhook(self, url: str, events: list[str], secret: str) -> str:
        hook_id = new_id("wh")
        self.db.execute(
            "INSERT INTO webhooks (id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)",
            [hook_id, url, json.dumps(events), secret, now_iso()],
        )
        return hook_id

    def get_webhook(self, hook_id: str) -> dict[str, Any] | None:
        row = self._row("SELECT * FROM webhooks WHERE id = ?", [hook_id])
        return None if row is None else {**row, "events": json.loads(row["events"])}

    def list_webhooks(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM webhooks ORDER BY id")
        return [{**row, "events": json.loads(row["events"])} for row in rows]

    def delete_webhook(self, hook_id: str) -> None:
        """The webhook, its deliveries and their attempts; events no one else awaits."""
        with self.atomic():
            self.db.execute(
                "DELETE FROM webhook_attempts WHERE delivery_id IN"
                " (SELECT id FROM webhook_deliveries WHERE webhook_id = ?)",
                [hook_id],
            )
            self.db.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", [hook_id])
            self.db.execute("DELETE FROM webhooks WHERE id = ?", [hook_id])
            self.db.execute(
                "DELETE FROM webhook_events WHERE id NOT IN"
                " (SELECT event_id FROM webhook_deliveries)"
            )

    def _emit(self, event_type: str, file_id: str, subject: str) -> None:
        """Record an event and one pending delivery per webhook that wants it, in the caller's
        transaction: if the change it announces is stored, so is the event."""
        hooks = self._rows(
            "SELECT id FROM webhooks w WHERE EXISTS"
            " (SELECT 1 FROM json_each(w.events) WHERE value = ?) ORDER BY id",
            [event_type],
        )
        if not hooks:
            return
        row = (
            self.get_file(file_id)
            if subject == CLASSIFICATION_FILE
            else self.get_extraction_file(file_id)
        )
        event_id, ts = new_id("evt"), now_iso()
        self.db.execute(
            "INSERT INTO webhook_events (id, type, file_id, subject, snapshot, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [event_id, event_type, file_id, subject, json.dumps(row), ts],
        )
        for hook in hooks:
            self.db.execute(
                "INSERT INTO webhook_deliveries (id, webhook_id, event_id, file_id, status,"
                " attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?)",
                [new_id("dlv"), hook["id"], event_id, file_id, PENDING, ts],
            )

    def claim_delivery(self, owner: str, now: float | None = None) -> dict[str, Any] | None:
        """The oldest due delivery, moved to sending, with its event and webhook. Events about
        one file reach one webhook in order: a delivery waits while an earlier one for the
        same file and webhook is pending (even one backing off) or being sent."""
        with self.atomic():
            delivery = self._claim(
                DELIVERIES,
                owner,
                "SELECT d.id FROM webhook_deliveries d"
                " WHERE d.status = ? AND d.next_attempt_at <= ? AND NOT EXISTS ("
                "   SELECT 1 FROM webhook_deliveries o WHERE o.webhook_id = d.webhook_id"
                "   AND o.file_id = d.file_id AND o.status IN (?, ?) AND o.rowid < d.rowid)"
                " ORDER BY d.rowid LIMIT 1",
                [PENDING, time.time() if now is None else now, PENDING, SENDING],
            )
            if delivery is None:
                return None
            event = self._row("SELECT * FROM webhook_events WHERE id = ?", [delivery["event_id"]])
            hook = self._row(
                "SELECT url, secret FROM webhooks WHERE id = ?", [delivery["webhook_id"]]
            )
        assert event is not None and hook is not None
        return {**delivery, "event": event, "url": hook["url"], "secret": hook["secret"]}

    def record_attempt(
        self,
        delivery_id: str,
        token: str,
        attempt: dict[str, Any],
        *,
        delivered: bool,
        retry_at: float | None,
    ) -> bool:
        """Log one attempt, and mark the delivery delivered, pending again until `retry_at`,
        or failed for good. False when the delivery is gone (its webhook deleted)."""
        if delivered:
            target, values = Status.DONE, {"delivered_at": now_iso(), "error": None}
        elif retry_at is not None:
            target, values = Status.QUEUED, {"next_attempt_at": retry_at, "error": attempt["error"]}
        else:
            target, values = Status.FAILED, {"error": attempt["error"]}
        with self.atomic():
            if not self._finish_run(
                DELIVERIES, target, delivery_id, token, {**values, "run_token": None, "owner": None}
            ):
                return False
            values = {"delivery_id": delivery_id, **attempt}
            self.db.execute(
                f"INSERT INTO webhook_attempts ({', '.join(values)})"
                f" VALUES ({', '.join('?' * len(values))})",
                list(values.values()),
            )
        return True

    def next_delivery_at(self) -> float | None:
        row = self._row(
            "SELECT min(next_attempt_at) AS t FROM webhook_deliveries WHERE status = ?",
            [PENDING],
        )
        return row["t"] if row else None

    def list_deliveries(self, hook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The latest deliveries first, each with its attempts in order."""
        deliveries = self._rows(
            "SELECT d.*, e.type AS event_type, e.created_at AS event_created_at"
            " FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
            " WHERE d.webhook_id = ? ORDER BY d.rowid DESC LIMIT ?",
            [hook_id, limit],
        )
        ids = [d["id"] for d in deliveries]
        attempts: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for row in self._rows(
            f"SELECT * FROM webhook_attempts WHERE delivery_id IN ({', '.join('?' * len(ids))})"
            " ORDER BY id",
            ids,
        ):
            attempts[row["delivery_id"]].append(row)
        return [{**d, "attempt_log": attempts[d["id"]]} for d in deliveries]
