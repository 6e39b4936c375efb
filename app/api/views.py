"""How stored rows look in API responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .responses import (
    Batch,
    ChainedExtraction,
    ClassificationFile,
    Delivery,
    Document,
    Example,
    Extraction,
    ExtractionBatch,
    ExtractionFile,
    ExtractionResult,
    ModelVerdict,
    SignedWebhook,
    Webhook,
)


def verdict_source(row: dict[str, Any]) -> str | None:
    """Who decided: a person ("override"), the examples alone, or the model weighed."""
    if row["overridden"]:
        return "override"
    if row["status"] != "processed":
        return None
    return row.get("model_source") or "model"


def file_view(row: dict[str, Any]) -> ClassificationFile:
    overridden = bool(row["overridden"])
    has_verdict = overridden or row["status"] == "processed"
    model_verdict: ModelVerdict | None = None
    if row["status"] == "processed":
        model_verdict = {
            "category_id": row["model_category_id"],
            "category_name": row["model_category_name"],
            "confidence": row["model_confidence"],
            "reasoning": row["model_reasoning"],
            "model": row["model_name"] or None,
            "confidence_sources": json.loads(row["model_confidence_sources"] or "{}"),
            "evidence": json.loads(row.get("model_evidence") or "null"),
        }
    return {
        "id": row["id"],
        "batch_id": row["batch_id"],
        "classification_id": row["classification_id"],
        "file_name": row["file_name"],
        "size_bytes": row["size_bytes"],
        "status": row["status"],
        "error": row["error"],
        "classified_category_id": row["classified_category_id"] if has_verdict else None,
        "classified_category_name": row["classified_category_name"] if has_verdict else None,
        "classified_category_removed": bool(row["classified_category_removed"]),
        "confidence": None if overridden else row["model_confidence"],
        "classification_reasoning": None if overridden else row["model_reasoning"],
        "verdict_source": verdict_source(row),
        "checked_at": row["checked_at"],
        "overridden_at": row["overridden_at"],
        "model_verdict": model_verdict,
        "stale": bool(row.get("stale_changes")),
        "stale_changes": list(row.get("stale_changes") or []),
        "extraction": chained_extraction_view(row),
        "document": document_view(row),
        "attempts": row["attempts"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


def example_view(row: dict[str, Any]) -> Example:
    """An example file: `processed` once read and embedded, from then on it teaches."""
    return {
        "id": row["id"],
        "classification_id": row["classification_id"],
        "category_id": row["example_category_id"],
        "file_name": row["file_name"],
        "size_bytes": row["size_bytes"],
        "status": row["status"],
        "error": row["error"],
        "document": document_view(row),
        "created_at": row["created_at"],
        "finished_at": row["finished_at"],
    }


def document_view(row: dict[str, Any]) -> Document | None:
    """What reading found the file to be; null until it has been read."""
    if row["document_type"] is None:
        return None
    return {
        "type": row["document_type"],
        "page_count": row["page_count"],
        "pages_used": json.loads(row["pages_used"]) if row["pages_used"] else None,
    }


def batch_view(row: dict[str, Any]) -> Batch:
    return {
        "id": row["id"],
        "classification_id": row["classification_id"],
        "status": row["status"],
        "file_count": row["file_count"],
        "processed_count": row["processed_count"],
        "failed_count": row["failed_count"],
        "extraction_count": row["extraction_count"],
        "extracted_count": row["extracted_count"],
        "extraction_failed_count": row["extraction_failed_count"],
        "created_at": row["created_at"],
        "finished_at": row["last_finished_at"] if row["status"] == "processed" else None,
    }


# Extractions --------------------------------------------------------------------------------


def _extraction_result(row: dict[str, Any], prefix: str = "") -> ExtractionResult:
    """The part of a file's extraction shared by both views; data only once processed."""
    processed = row[f"{prefix}status"] == "processed"
    return {
        "status": row[f"{prefix}status"],
        "error": row[f"{prefix}error"],
        "data": json.loads(row[f"{prefix}data"]) if processed else None,
        "missing_required": json.loads(row[f"{prefix}missing_required"]) if processed else [],
        "attempts": row[f"{prefix}attempts"],
        "model": (row[f"{prefix}model_name"] or None) if processed else None,
        "queued_at": row[f"{prefix}created_at"],
        "started_at": row[f"{prefix}started_at"],
        "finished_at": row[f"{prefix}finished_at"],
    }


def chained_extraction_view(row: dict[str, Any]) -> ChainedExtraction | None:
    """The extraction a classified file was chained into, or None."""
    if row.get("x_extraction_id") is None:
        return None
    return {"extraction_id": row["x_extraction_id"], **_extraction_result(row, "x_")}


def extraction_view(row: dict[str, Any]) -> Extraction:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "fields": row["fields"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def extraction_file_view(row: dict[str, Any]) -> ExtractionFile:
    """A file as an extraction shows it: uploaded to it directly, or chained from a
    classification (then `classification_id`, `classification_batch_id` and `category_id`)."""
    return {
        "id": row["file_id"],
        "extraction_id": row["extraction_id"],
        "source": row["source"],
        "batch_id": row["batch_id"],
        "classification_id": row["classification_id"],
        "classification_batch_id": row["classification_batch_id"],
        "category_id": row["category_id"],
        "file_name": row["file_name"],
        "size_bytes": row["size_bytes"],
        **_extraction_result(row),
    }


def extraction_batch_view(row: dict[str, Any]) -> ExtractionBatch:
    return {
        "id": row["id"],
        "extraction_id": row["extraction_id"],
        "status": row["status"],
        "file_count": row["file_count"],
        "processed_count": row["processed_count"],
        "failed_count": row["failed_count"],
        "created_at": row["created_at"],
        "finished_at": row["last_finished_at"] if row["status"] == "processed" else None,
    }


# Webhooks -----------------------------------------------------------------------------------


def webhook_view(row: dict[str, Any]) -> Webhook:
    return {
        "id": row["id"],
        "url": row["url"],
        "events": row["events"],
        "created_at": row["created_at"],
    }


def signed_webhook_view(row: dict[str, Any]) -> SignedWebhook:
    """Only the webhook's own answers show the secret it signs events with."""
    return {**webhook_view(row), "secret": row["secret"]}


def _iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def delivery_view(row: dict[str, Any]) -> Delivery:
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "event_created_at": row["event_created_at"],
        "file_id": row["file_id"],
        "status": row["status"],
        "attempt_count": row["attempts"],
        "next_attempt_at": _iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "delivered_at": row["delivered_at"],
        "attempts": [
            {
                "attempt": a["attempt"],
                "status_code": a["status_code"],
                "error": a["error"],
                "duration_ms": a["duration_ms"],
                "at": a["started_at"],
            }
            for a in row["attempt_log"]
        ],
    }


def event_data(subject: str, row: dict[str, Any]) -> dict[str, Any]:
    """An event's `data`: the file as the API shows it, from the event's snapshot."""
    if subject == "classification_file":
        return dict(file_view(row))
    return dict(extraction_file_view(row))
