"""The Jinja2 environment over `templates/`, where every word a user reads lives."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2


def template_dir() -> Path:
    """`paydown/templates` in an installed wheel, the repository's `templates/` in a source checkout."""
    installed = Path(__file__).parent / "templates"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "templates"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"]),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
