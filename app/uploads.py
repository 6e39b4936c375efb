"""Stream a multipart upload to disk part by part, so a 30 x 25 MB batch never sits in memory.

Files land in a staging folder named by the server; the names users gave them are kept for
display only. On any error the staging folder is removed, so a refused batch leaves no bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from .errors import BadRequest, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from .ids import new_id
from .jobs import PROCESS, owner_is_dead

FIELD = "files"
NAME_MAX = 255
MULTIPART_OVERHEAD = 64 * 1024  # per file: part headers and boundaries
STAGING = ".incoming"  # under the uploads folder: each upload's files until it is recorded
# A batch folder without a batch this old is a crash's leftover, not one being recorded.
ORPHAN_SECONDS = 60.0


@dataclass
class SavedFile:
    id: str
    file_name: str
    size_bytes: int = 0
    sha256: str = ""
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    def row(self) -> dict[str, object]:
        return {
            "id": self.id,
            "file_name": self.file_name,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }


def display_name(raw: str) -> str:
    """The last path component of a client-sent name, for showing; never used as a path."""
    name = PureWindowsPath(PurePosixPath(raw).name).name.strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:NAME_MAX] or "upload"


class _Sink:
    """The file side of an upload, run on a worker thread in small batches of operations."""

    def __init__(self, staging: Path, max_files: int, max_file_bytes: int):
        self.staging = staging
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self.saved: list[SavedFile] = []
        self.current: SavedFile | None = None
        self.handle: BinaryIO | None = None

    def apply(self, ops: list[tuple[str, object]]) -> None:
        for op, arg in ops:
            if op == "begin":
                self._begin(arg)  # type: ignore[arg-type]
            elif op == "data" and self.current is not None:
                self._write(arg)  # type: ignore[arg-type]
            elif op == "end" and self.current is not None:
                self._end()

    def _begin(self, file_name: str) -> None:
        if len(self.saved) >= self.max_files:
            raise InvalidInput(
                f"a batch holds at most {self.max_files} files", code="too_many_files"
            )
        self.current = SavedFile(new_id("file"), display_name(file_name))
        self.handle = open(self.staging / self.current.id, "wb")

    def _write(self, data: bytes) -> None:
        assert self.current is not None and self.handle is not None
        self.current.size_bytes += len(data)
        if self.current.size_bytes > self.max_file_bytes:
            raise PayloadTooLarge(
                f"{self.current.file_name!r} is larger than"
                f" {self.max_file_bytes // (1024 * 1024)} MB",
                code="file_too_large",
            )
        self.current._hash.update(data)
        self.handle.write(data)

    def _end(self) -> None:
        assert self.current is not None and self.handle is not None
        self.handle.close()
        self.current.sha256 = self.current._hash.hexdigest()
        self.saved.append(self.current)
        self.current, self.handle = None, None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _boundary(content_type: str) -> bytes:
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise UnsupportedMediaType(
            "upload files as multipart/form-data, one part per file named 'files'"
        )
    if not params.get(b"boundary"):
        raise BadRequest("a multipart/form-data body needs a boundary", code="bad_multipart")
    return params[b"boundary"]


def _feed(step, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        step(*args)
    except MultipartParseError as exc:
        raise BadRequest(f"malformed multipart body: {exc}", code="bad_multipart") from exc


async def receive_files(
    content_type: str,
    chunks: AsyncIterator[bytes],
    staging: Path,
    *,
    max_files: int,
    max_file_bytes: int,
) -> list[SavedFile]:
    """Write every `files` part of the body into `staging` (created here, removed on error)."""
    boundary = _boundary(content_type)
    ops: list[tuple[str, object]] = []
    headers: dict[bytes, bytes] = {}
    pending_header = [b"", b""]

    def on_header_field(data: bytes, start: int, end: int) -> None:
        pending_header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        pending_header[1] += data[start:end]

    def on_header_end() -> None:
        headers[pending_header[0].lower()] = pending_header[1]
        pending_header[0], pending_header[1] = b"", b""

    def on_headers_finished() -> None:
        _, params = parse_options_header(headers.get(b"content-disposition", b""))
        headers.clear()
        if params.get(b"name") == FIELD.encode():
            ops.append(("begin", params.get(b"filename", b"").decode("utf-8", "replace")))
        else:
            ops.append(("skip", None))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if ops and ops[-1][0] == "data":
            ops[-1] = ("data", ops[-1][1] + data[start:end])  # type: ignore[operator]
        else:
            ops.append(("data", data[start:end]))

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": lambda: ops.append(("end", None)),
        },
    )
    await asyncio.to_thread(staging.mkdir, parents=True)
    sink = _Sink(staging, max_files, max_file_bytes)
    try:
        async for chunk in chunks:
            _feed(parser.write, chunk)
            if ops:
                batch, ops[:] = list(ops), []
                await asyncio.to_thread(sink.apply, batch)
        _feed(parser.finalize)  # checks nothing in python-multipart: the state below does
        if sink.current is not None or parser.state != MultipartState.END:
            raise BadRequest(
                "the upload ended before its closing boundary", code="truncated_upload"
            )
        if not sink.saved:
            raise InvalidInput(
                f"no files: send 1 to {max_files} parts named '{FIELD}'", code="no_files"
            )
    except BaseException:
        sink.close()
        await asyncio.to_thread(shutil.rmtree, staging, True)
        raise
    return sink.saved


async def receive_batch(
    content_type: str,
    content_length: str,
    chunks: AsyncIterator[bytes],
    uploads_dir: Path,
    batch_id: str,
    *,
    max_files: int,
    max_file_bytes: int,
    record: Callable[[list[SavedFile]], Awaitable[object]],
) -> list[SavedFile]:
    """A batch upload, for every kind of batch: refuse a body declared too large up front,
    stream its files to disk, move them to `uploads_dir/batch_id`, then `record` them.
    Every file is on disk and recorded when this returns; on any failure neither bytes nor
    (as far as `record` is atomic) rows stay behind."""
    limit = max_files * (max_file_bytes + MULTIPART_OVERHEAD)
    if content_length.isdigit() and int(content_length) > limit:
        raise PayloadTooLarge(
            f"a batch holds at most {max_files} files of {max_file_bytes // (1024 * 1024)} MB each",
            code="batch_too_large",
        )
    staging = uploads_dir / STAGING / f"{PROCESS}~{batch_id}"
    saved = await receive_files(
        content_type, chunks, staging, max_files=max_files, max_file_bytes=max_file_bytes
    )
    final = uploads_dir / batch_id
    try:
        await asyncio.to_thread(staging.rename, final)
        await record(saved)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, staging, True)
        await asyncio.to_thread(shutil.rmtree, final, True)
        raise
    return saved


def clean_uploads(uploads_dir: Path, batch_ids: set[str]) -> list[Path]:
    """Remove what a dead process left: its staged uploads, and batch folders that no batch
    in `batch_ids` was recorded for (older than a minute: one may be being recorded now).
    Other live processes' uploads are left alone. Returns what went."""
    removed: list[Path] = []
    staging = uploads_dir / STAGING
    for entry in sorted(staging.iterdir()) if staging.is_dir() else []:
        owner, sep, _ = entry.name.rpartition("~")
        if not sep or owner_is_dead(owner):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    folders = (
        [p for p in sorted(uploads_dir.iterdir()) if p.is_dir() and p.name != STAGING]
        if uploads_dir.is_dir()
        else []
    )
    old = time.time() - ORPHAN_SECONDS
    for folder in folders:
        if folder.name not in batch_ids and folder.stat().st_mtime < old:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
