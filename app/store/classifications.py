"""Classifications and their categories.

A category left out of an edit is marked removed, not deleted: verdicts still name it.
"""

from __future__ import annotations

import json
from typing import Any

from ..ids import new_id
from .base import StoreBase, now_iso


def _category_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "keywords": json.loads(row["keywords"] or "[]"),
        "linked_extraction_id": row["linked_extraction_id"],
    }


class ClassificationStore(StoreBase):
    def create_classification(
        self, name: str, description: str, categories: list[dict[str, Any]]
    ) -> str:
        cls_id = new_id("cls")
        ts = now_iso()
        with self.atomic():
            self.db["classifications"].insert(
                {
                    "id": cls_id,
                    "name": name,
                    "description": description,
                    "created_at": ts,
                    "updated_at": ts,
                }
            )
            for position, cat in enumerate(categories):
                self._insert_category(cls_id, position, cat, ts)
            self._record_definitions(cls_id, ts)  # type: ignore[attr-defined]
        return cls_id

    @staticmethod
    def _category_fields(position: int, cat: dict[str, Any], ts: str) -> dict[str, Any]:
        return {
            "position": position,
            "name": cat["name"],
            "description": cat.get("description") or "",
            "keywords": json.dumps(cat.get("keywords") or []),
            "linked_extraction_id": cat.get("linked_extraction_id"),
            "updated_at": ts,
        }

    def _insert_category(self, cls_id: str, position: int, cat: dict[str, Any], ts: str) -> None:
        self.db["categories"].insert(
            {
                "id": new_id("cat"),
                "classification_id": cls_id,
                **self._category_fields(position, cat, ts),
                "created_at": ts,
                "removed_at": None,
            }
        )

    def get_classification(self, cls_id: str) -> dict[str, Any] | None:
        row = self._row(
            "SELECT id, name, description, created_at, updated_at FROM classifications"
            " WHERE id = ?",
            [cls_id],
        )
        if row is None:
            return None
        cats = self._rows(
            "SELECT * FROM categories WHERE classification_id = ? AND removed_at IS NULL"
            " ORDER BY position",
            [cls_id],
        )
        return {**row, "categories": [_category_out(c) for c in cats]}

    def list_classifications(self) -> list[dict[str, Any]]:
        ids = [r["id"] for r in self._rows("SELECT id FROM classifications ORDER BY id")]
        return [self.get_classification(i) for i in ids]  # type: ignore[misc]

    def update_classification(
        self,
        cls_id: str,
        fields: dict[str, Any],
        categories: list[dict[str, Any]] | None,
    ) -> None:
        """Apply a PATCH. With `categories`, that list becomes the full set: an entry with an
        id edits that category, one without is added, and any category left out is marked
        removed (kept for the verdicts that name it)."""
        ts = now_iso()
        with self.atomic():
            self.db["classifications"].update(cls_id, {**fields, "updated_at": ts})
            if categories is None:
                return
            kept = {c["id"] for c in categories if c.get("id")}
            self.db.execute(
                "UPDATE categories SET removed_at = ?, position = -1 WHERE classification_id = ?"
                f" AND removed_at IS NULL AND id NOT IN ({','.join('?' * len(kept))})",
                [ts, cls_id, *kept],
            )
            for position, cat in enumerate(categories):
                if not cat.get("id"):
                    self._insert_category(cls_id, position, cat, ts)
                    continue
                self.db["categories"].update(cat["id"], self._category_fields(position, cat, ts))
            self._record_definitions(cls_id, ts)  # type: ignore[attr-defined]

    def category_ids(self, cls_id: str) -> set[str]:
        rows = self._rows(
            "SELECT id FROM categories WHERE classification_id = ? AND removed_at IS NULL",
            [cls_id],
        )
        return {r["id"] for r in rows}
