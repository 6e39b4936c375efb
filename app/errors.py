"""The exceptions the API raises on purpose; each carries its HTTP status and a stable code.

Every error body has the same shape: {"error": {"code": ..., "message": ...}}.
"""

from __future__ import annotations

from typing import Any


class DocsortError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class BadRequest(DocsortError):
    status = 400
    code = "bad_request"


class Forbidden(DocsortError):
    status = 403
    code = "forbidden"


class NotFound(DocsortError):
    status = 404
    code = "not_found"


class Conflict(DocsortError):
    status = 409
    code = "conflict"


class PayloadTooLarge(DocsortError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(DocsortError):
    status = 415
    code = "unsupported_media_type"


class MisdirectedRequest(DocsortError):
    """The Host header names a server docsort is not: refused against DNS rebinding."""

    status = 421
    code = "misdirected_request"


class InvalidInput(DocsortError):
    status = 422
    code = "invalid_input"


class ModelUnavailable(DocsortError):
    """The model server is down or lacks the model: nobody's document's fault, so the worker
    waits for it and the file keeps its place in the queue."""

    status = 503
    code = "model_unavailable"


class ModelError(DocsortError):
    """The model server answered this request with an error or not in time: it may be the
    document's doing, so it counts against the file (retried, up to its attempts)."""

    status = 502
    code = "model_error"
