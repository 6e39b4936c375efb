"""How stored rows look in API responses."""

from __future__ import annotations

import json
from typing import Any


def file_view(row: dict[str, Any]) -> dict[str, Any]:
    overridden = bool(row["overridden"])
    has_verdict = overridden or row["status"] == "processed"
    model_verdict = None
    if row["status"] == "processed":
        model_verdict = {
            "category_id": row["model_category_id"],
            "category_name": row["model_category_name"],
            "confidence": row["model_confidence"],
            "reasoning": row["model_reasoning"],
            "model": row["model_name"] or None,
            "confidence_sources": json.loads(row["model_confidence_sources"] or "{}"),
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
        "verdict_source": "override" if overridden else ("model" if has_verdict else None),
        "overridden_at": row["overridden_at"],
        "model_verdict": model_verdict,
        "document": document_view(row),
        "attempts": row["attempts"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


def document_view(row: dict[str, Any]) -> dict[str, Any] | None:
    """What reading found the file to be; null until it has been read."""
    if row["document_type"] is None:
        return None
    return {
        "type": row["document_type"],
        "page_count": row["page_count"],
        "pages_used": json.loads(row["pages_used"]) if row["pages_used"] else None,
    }


def batch_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "classification_id": row["classification_id"],
        "status": row["status"],
        "file_count": row["file_count"],
        "processed_count": row["processed_count"],
        "failed_count": row["failed_count"],
        "created_at": row["created_at"],
        "finished_at": row["last_finished_at"] if row["status"] == "processed" else None,
    }
