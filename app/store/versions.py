"""The versions of each classification's category definitions, and the stale verdicts:
machine verdicts made with definitions that differ from today's.

Versions are append-only: a create writes version 1, an edit that changes a definition
writes the next one (one that changes none writes nothing). A verdict a person has checked
(overridden, or confirmed) is never stale: it is theirs, and does not depend on how the
categories are worded; a redo would throw their check away.
"""

from __future__ import annotations

import json
from typing import Any

from ..definitions import changes_between, fingerprint, snapshot
from .base import PROCESSED, StoreBase, now_iso
from .files import _FILE_COLUMNS, _FILE_JOINS

# Over `files f`: an unchecked machine verdict made with definitions unlike the latest.
STALE = f"""(f.status = '{PROCESSED}' AND NOT f.overridden AND f.checked_at IS NULL
    AND f.example_category_id IS NULL
    AND (SELECT v.fingerprint FROM definition_versions v
         WHERE v.classification_id = f.classification_id AND v.version = f.definition_version)
    != (SELECT v.fingerprint FROM definition_versions v
        WHERE v.classification_id = f.classification_id ORDER BY v.version DESC LIMIT 1))"""


class VersionStore(StoreBase):
    def _record_definitions(self, cls_id: str, ts: str | None = None) -> None:
        """In the transaction of a create or edit: a new version if the definitions differ
        from the latest one."""
        classification = self.get_classification(cls_id)  # type: ignore[attr-defined]
        now = snapshot(classification["categories"])
        latest = self._latest_definitions(cls_id)
        if latest is not None and latest["fingerprint"] == fingerprint(now):
            return
        self.db["definition_versions"].insert(
            {
                "classification_id": cls_id,
                "version": 1 if latest is None else latest["version"] + 1,
                "categories": json.dumps(now),
                "fingerprint": fingerprint(now),
                "created_at": ts or now_iso(),
            }
        )

    def _latest_definitions(self, cls_id: str) -> dict[str, Any] | None:
        return self._row(
            "SELECT * FROM definition_versions WHERE classification_id = ?"
            " ORDER BY version DESC LIMIT 1",
            [cls_id],
        )

    def _version_at_start(self, file_id: str) -> int | None:
        """The version in effect when the file's run was claimed. The worker reads the
        definitions after its claim, so a verdict is never taken to be newer than it is."""
        row = self._row(
            "SELECT coalesce("
            " (SELECT max(v.version) FROM definition_versions v"
            "   WHERE v.classification_id = f.classification_id AND v.created_at <= f.started_at),"
            " (SELECT min(v.version) FROM definition_versions v"
            "   WHERE v.classification_id = f.classification_id)) AS version"
            " FROM files f WHERE f.id = ?",
            [file_id],
        )
        return row["version"] if row else None

    def _mark_stale(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Give each file row (of `_FILE_COLUMNS`) its `stale_changes`: what changed in its
        classification's definitions since its machine verdict was made; empty when the
        verdict is fresh, checked by a person, or not made yet."""
        latest: dict[str, dict[str, Any] | None] = {}
        made_with: dict[tuple[str, int], dict[str, Any] | None] = {}
        for row in rows:
            row["stale_changes"] = []
            version = row.get("definition_version")
            checked = row["overridden"] or row["checked_at"]
            if row["status"] != PROCESSED or checked or version is None:
                continue
            cls_id = row["classification_id"]
            if cls_id not in latest:
                latest[cls_id] = self._latest_definitions(cls_id)
            if (cls_id, version) not in made_with:
                made_with[cls_id, version] = self._row(
                    "SELECT * FROM definition_versions WHERE classification_id = ? AND version = ?",
                    [cls_id, version],
                )
            old, now = made_with[cls_id, version], latest[cls_id]
            if old is None or now is None or old["fingerprint"] == now["fingerprint"]:
                continue
            row["stale_changes"] = list(changes_between(old["categories"], now["categories"]))
        return rows

    def stale_files(self, cls_id: str) -> list[dict[str, Any]]:
        """The classification's files whose machine verdict is stale, oldest first, each
        with its `stale_changes`."""
        return self._mark_stale(
            self._rows(
                f"SELECT {_FILE_COLUMNS} {_FILE_JOINS}"
                f" WHERE f.classification_id = ? AND {STALE} ORDER BY f.rowid",
                [cls_id],
            )
        )

    def redo_stale(self, cls_id: str) -> int:
        """Queue every stale file again, as a redo does (its chained extraction goes with its
        verdict); the verdicts people checked are not stale and stay. Returns how many."""
        with self.atomic():
            stale = self._rows(
                f"SELECT f.id FROM files f WHERE f.classification_id = ? AND {STALE}", [cls_id]
            )
            for row in stale:
                self._clear_verdict(row["id"])  # type: ignore[attr-defined]
                self._follow_verdict(row["id"])  # type: ignore[attr-defined]
        return len(stale)
