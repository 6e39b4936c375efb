"""Append-only, named schema migrations. Never edit one that has shipped: add a new one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

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
        with db.conn:
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
def m003_document_info(db: sqlite_utils.Database) -> None:
    # What reading found: the type sniffed from the bytes, the pages, and (JSON) the pages
    # whose text the classifier saw.
    db["files"].add_column("document_type", str)
    db["files"].add_column("page_count", int)
    db["files"].add_column("pages_used", str)
