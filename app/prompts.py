"""The Jinja templates in prompts/ that users edit to tune docsort.

Templates reload when their file changes, and an unknown variable is an error rather than a
silently empty string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined


class Prompts:
    def __init__(self, directory: Path):
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            undefined=StrictUndefined,
            auto_reload=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
        )

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(f"{name}.j2").render(**context).strip()
