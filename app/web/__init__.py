"""The review pages: server-rendered HTML for the people who check verdicts, served by the
same app as the JSON API (which stays under /v1).

Every asset is in this package (nothing from a CDN: documents never leave the machine and
the pages work offline). Forms carry a CSRF token; every page is sent with a strict
Content-Security-Policy (scripts and styles only from /static, no inline code), and Jinja
escapes everything it shows.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from ..errors import DocsortError
from ..settings import Settings
from .accuracy import AccuracyPages
from .batches import BatchPages
from .forms import ClassificationForms
from .pages import ClassificationPages
from .review import ReviewPages
from .stale import StalePages

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    ResponseHeader(name="Content-Security-Policy", value=CSP),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    # Not "no-referrer": under it a browser sends `Origin: null` with the pages' own form
    # posts and scripts' uploads, which the Origin check (app/api/security.py) refuses.
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
]


def web_router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            ClassificationPages,
            ClassificationForms,
            BatchPages,
            ReviewPages,
            StalePages,
            AccuracyPages,
            create_static_files_router(path="/static", directories=[HERE / "static"]),
        ],
        response_headers=SECURITY_HEADERS,
        exception_handlers={DocsortError: error_page, HTTPException: error_page},
        include_in_schema=False,
    )


def error_page(_: Request[Any, Any, Any], exc: Exception) -> Template:
    """A page's errors as a page (the API's stay JSON)."""
    if isinstance(exc, DocsortError):
        status, message = exc.status, exc.message
    else:
        assert isinstance(exc, HTTPException)
        status, message = exc.status_code, exc.detail
    return Template(
        "error.html", context={"status": status, "message": message}, status_code=status
    )


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)


def csrf_config(settings: Settings) -> CSRFConfig:
    """Forms only: the JSON API is guarded by its content type and the Origin check
    (app/api/security.py), so scripts need no token."""
    return CSRFConfig(
        secret=csrf_secret(settings.data_dir),
        cookie_samesite="strict",
        cookie_httponly=True,
        exclude=["^/v1/", "^/schema", "^/health"],
    )


def csrf_secret(data_dir: Path) -> str:
    """Kept with the data, so a restart does not invalidate a form left open."""
    path = data_dir / "csrf-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()
