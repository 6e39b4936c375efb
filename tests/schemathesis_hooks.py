"""Schemathesis hooks (tests/schemathesis.toml loads this file): a check for the one case
where docsort may refuse a body its schema allows."""

from __future__ import annotations

import schemathesis
from schemathesis import Case, CheckContext, Response

# The rules beyond JSON Schema that refuse a body the schema allows, by error code. A
# model's own validator says "Value error, ..." (names unique ignoring case, "none"
# reserved, field options by field type, no control characters in a name).
BEYOND_SCHEMA = {
    "unknown_category",
    "unknown_extraction",
    "invalid_webhook_url",
    "webhook_host_not_allowed",
}


@schemathesis.check
def refused_only_beyond_the_schema(ctx: CheckContext, response: Response, case: Case) -> None:
    """A 422 to a body the schema allows comes from a rule the schema cannot state; any
    other (a length, a pattern, a type) means the schema and the app disagree."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if response.status_code != 422:
        return
    error = response.json()["error"]
    if error["code"] in BEYOND_SCHEMA:
        return
    messages = [detail["message"] for detail in error.get("details") or []]
    assert error["code"] == "invalid_input" and messages, error
    assert all(m.startswith("Value error, ") for m in messages), f"the schema allows {messages}"
