"""Append-only, named schema migrations. Never edit one that has shipped: add a new one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

from .definitions import fingerprint

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations this database has not seen yet; returns their names."""
    table = db["_migrations"]
    if not table.exists():
        db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with db.atomic():
            fn(db)
            db["_migrations"].insert({"name": name, "applied_at": datetime.now(UTC).isoformat()})
        applied.append(name)
    return applied


@migration
def m001_classifications(db: sqlite_utils.Database) -> None:
    db["classifications"].create(
        {"id": str, "name": str, "description": str, "created_at": str, "updated_at": str},
        pk="id",
    )
    # A removed category is kept (removed_at set) so verdicts made with it still resolve.
    db["categories"].create(
        {
            "id": str,
            "classification_id": str,
            "position": int,
            "name": str,
            "description": str,
            "keywords": str,
            "linked_extraction_id": str,
            "created_at": str,
            "updated_at": str,
            "removed_at": str,
        },
        pk="id",
        foreign_keys=[("classification_id", "classifications", "id")],
        not_null={"classification_id", "name"},
    )
    db["categories"].create_index(["classification_id", "position"])


@migration
def m002_batches_and_files(db: sqlite_utils.Database) -> None:
    db["batches"].create(
        {"id": str, "classification_id": str, "file_count": int, "created_at": str},
        pk="id",
        foreign_keys=[("classification_id", "classifications", "id")],
    )
    db["batches"].create_index(["classification_id", "created_at"])
    db["files"].create(
        {
            "id": str,
            "batch_id": str,
            "classification_id": str,
            "file_name": str,
            "size_bytes": int,
            "sha256": str,
            "status": str,
            "attempts": int,
            "run_token": str,
            "run_after": float,
            "error": str,
            "model_category_id": str,
            "model_confidence": float,
            "model_reasoning": str,
            "model_name": str,
            "overridden": int,
            "override_category_id": str,
            "overridden_at": str,
            "created_at": str,
            "started_at": str,
            "finished_at": str,
        },
        pk="id",
        foreign_keys=[
            ("batch_id", "batches", "id"),
            ("classification_id", "classifications", "id"),
        ],
        not_null={"batch_id", "classification_id", "status"},
        defaults={"attempts": 0, "overridden": 0},
    )
    db["files"].create_index(["batch_id"])
    db["files"].create_index(["status", "run_after"])


@migration
def m006_confidence_sources(db: sqlite_utils.Database) -> None:
    # Every confidence measured for a verdict (JSON: source -> value), to compare them.
    db["files"].add_column("model_confidence_sources", str)


@migration
def m004_extractions(db: sqlite_utils.Database) -> None:
    # A template: `fields` is the JSON list of typed fields.
    db["extractions"].create(
        {
            "id": str,
            "name": str,
            "description": str,
            "fields": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "fields"},
    )
    db["extraction_batches"].create(
        {"id": str, "extraction_id": str, "file_count": int, "created_at": str},
        pk="id",
        foreign_keys=[("extraction_id", "extractions", "id")],
    )
    db["extraction_batches"].create_index(["extraction_id", "created_at"])
    # One row per file: its current extraction run and result. A direct upload (batch_id set)
    # or a file of a classification batch chained here by its verdict's category (category_id
    # set). `folder` is the uploads folder holding the file's bytes.
    db["extraction_jobs"].create(
        {
            "file_id": str,
            "extraction_id": str,
            "source": str,
            "batch_id": str,
            "category_id": str,
            "folder": str,
            "file_name": str,
            "size_bytes": int,
            "sha256": str,
            "status": str,
            "attempts": int,
            "run_token": str,
            "run_after": float,
            "error": str,
            "data": str,
            "missing_required": str,
            "model_name": str,
            "created_at": str,
            "started_at": str,
            "finished_at": str,
        },
        pk="file_id",
        foreign_keys=[
            ("extraction_id", "extractions", "id"),
            ("batch_id", "extraction_batches", "id"),
        ],
        not_null={"extraction_id", "source", "folder", "status"},
        defaults={"attempts": 0},
    )
    db["extraction_jobs"].create_index(["status", "run_after"])
    db["extraction_jobs"].create_index(["batch_id"])
    db["extraction_jobs"].create_index(["extraction_id"])


@migration
def m005_webhooks(db: sqlite_utils.Database) -> None:
    db["webhooks"].create(
        {"id": str, "url": str, "events": str, "secret": str, "created_at": str},
        pk="id",
        not_null={"url", "events", "secret"},
    )
    # The outbox: written in the transaction of the change it announces. `snapshot` is the
    # row the event's data is rendered from, as it was at that moment.
    db["webhook_events"].create(
        {
            "id": str,
            "type": str,
            "file_id": str,
            "subject": str,
            "snapshot": str,
            "created_at": str,
        },
        pk="id",
        not_null={"type", "subject", "snapshot"},
    )
    db["webhook_deliveries"].create(
        {
            "id": str,
            "webhook_id": str,
            "event_id": str,
            "file_id": str,
            "status": str,
            "attempts": int,
            "next_attempt_at": float,
            "run_token": str,
            "created_at": str,
            "delivered_at": str,
        },
        pk="id",
        foreign_keys=[("webhook_id", "webhooks", "id"), ("event_id", "webhook_events", "id")],
        not_null={"webhook_id", "event_id", "status"},
        defaults={"attempts": 0},
    )
    db["webhook_deliveries"].create_index(["status", "next_attempt_at"])
    db["webhook_deliveries"].create_index(["webhook_id", "file_id"])
    db["webhook_attempts"].create(
        {
            "id": int,
            "delivery_id": str,
            "attempt": int,
            "status_code": int,
            "error": str,
            "duration_ms": int,
            "started_at": str,
        },
        pk="id",
        foreign_keys=[("delivery_id", "webhook_deliveries", "id")],
        not_null={"delivery_id", "attempt"},
    )
    db["webhook_attempts"].create_index(["delivery_id"])


@migration
def m003_document_info(db: sqlite_utils.Database) -> None:
    # What reading found: the type sniffed from the bytes, the pages, and (JSON) the pages
    # whose text the classifier saw.
    db["files"].add_column("document_type", str)
    db["files"].add_column("page_count", int)
    db["files"].add_column("pages_used", str)


@migration
def m007_verdict_evidence(db: sqlite_utils.Database) -> None:
    # What a verdict weighed (JSON): the model's answer and probabilities, the keywords found.
    db["files"].add_column("model_evidence", str)


@migration
def m008_learning(db: sqlite_utils.Database) -> None:
    # An example file teaches its category (set) and is never classified itself; its batch
    # says so too, so batch listings leave it out.
    db["files"].add_column("example_category_id", str)
    db["batches"].add_column("examples_for", str)
    # When a person last checked the verdict (confirmed it or overrode it): a label from then.
    db["files"].add_column("checked_at", str)
    # Who made the machine verdict: "model" (the LLM, weighed) or "examples" (examples alone).
    db["files"].add_column("model_source", str)
    # One vector a file, embedded once from the text the worker read.
    db["embeddings"].create(
        {"file_id": str, "model": str, "vector": bytes, "created_at": str},
        pk="file_id",
        foreign_keys=[("file_id", "files", "id")],
        not_null={"model", "vector"},
    )
    # Every check, in order, with what docsort had said: the live accuracy is read from here.
    db["checks"].create(
        {
            "id": int,
            "file_id": str,
            "classification_id": str,
            "kind": str,
            "predicted_category_id": str,
            "predicted_source": str,
            "label_category_id": str,
            "checked_at": str,
        },
        pk="id",
        foreign_keys=[("file_id", "files", "id")],
        not_null={"file_id", "classification_id", "kind"},
    )
    db["checks"].create_index(["classification_id", "id"])
    db["checks"].create_index(["file_id"])


@migration
def m009_jobs(db: sqlite_utils.Database) -> None:
    # The job model (app/jobs.py): who holds a run and when it last said it was alive, how
    # often runs were cut short by a dead process, and (files, extraction jobs) how often a
    # run ended in an error about the job and when it joined the queue, so that one put
    # back goes behind the others.
    for table in ("files", "extraction_jobs", "webhook_deliveries"):
        db[table].add_column("owner", str)
        db[table].add_column("heartbeat_at", float)
        db[table].add_column("interruptions", int, not_null_default=0)
    for table in ("files", "extraction_jobs"):
        db[table].add_column("queued_at", float)
        db[table].add_column("retries", int, not_null_default=0)
        db[table].create_index(["status", "queued_at"])
    db["webhook_deliveries"].add_column("error", str)


@migration
def m010_definition_versions(db: sqlite_utils.Database) -> None:
    # Append-only: each classification's category definitions (JSON, app/definitions.py),
    # version 1 at creation and one more each time an edit changes them; `fingerprint` is
    # equal for equal definitions. A machine verdict records the version it was made with:
    # one whose definitions differ from the latest version's is stale.
    db["definition_versions"].create(
        {
            "classification_id": str,
            "version": int,
            "categories": str,
            "fingerprint": str,
            "created_at": str,
        },
        pk=("classification_id", "version"),
        foreign_keys=[("classification_id", "classifications", "id")],
        not_null={"categories", "fingerprint", "created_at"},
    )
    db["files"].add_column("definition_version", int)
    # What there is now is version 1: verdicts made before are taken to be made with it.
    for cls in db.query("SELECT id, updated_at FROM classifications"):
        categories = [
            {
                "id": c["id"],
                "name": c["name"],
                "description": c["description"] or "",
                "keywords": sorted(json.loads(c["keywords"] or "[]")),
                "linked_extraction_id": c["linked_extraction_id"],
            }
            for c in db.query(
                "SELECT * FROM categories WHERE classification_id = ? AND removed_at IS NULL"
                " ORDER BY position",
                [cls["id"]],
            )
        ]
        db["definition_versions"].insert(
            {
                "classification_id": cls["id"],
                "version": 1,
                "categories": json.dumps(categories),
                "fingerprint": fingerprint(categories),
                "created_at": cls["updated_at"],
            }
        )
    db.execute("UPDATE files SET definition_version = 1 WHERE status = 'processed'")


@migration
def m011_extraction_texts(db: sqlite_utils.Database) -> None:
    # The text a classified file's chained extraction reads, kept by the run that read the
    # file to classify it (one read for both); `tokens` is the budget it was cut to.
    db["extraction_texts"].create(
        {"file_id": str, "tokens": int, "text": str, "created_at": str},
        pk="file_id",
        foreign_keys=[("file_id", "files", "id")],
        not_null={"tokens", "text", "created_at"},
    )
