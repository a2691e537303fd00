"""Safe Markdown for text people and analyzers wrote: plain text, code spans and code blocks that stay inert."""

from __future__ import annotations

import html
import re

_ZWSP = "&#8203;"  # a zero-width space: breaks @mentions and #refs without changing what a reader sees
_PUNCT = re.compile(r"([\\`*_\[\]|~#])")
_CODE = re.compile(r"`([^`\n]+)`")
_BACKTICKS = re.compile(r"`+")


def md_text(text: str) -> str:
    """Plain text for Markdown: no HTML, no emphasis or links, no @mentions, no #123 references, one line."""
    text = html.escape(re.sub(r"\s+", " ", str(text)), quote=False)
    text = _PUNCT.sub(r"\\\1", text)
    text = re.sub(r"@(?=[\w-])", "@" + _ZWSP, text)
    text = re.sub(r"\\#(?=\d)", "#" + _ZWSP, text)
    return re.sub(r"\b(GH)-(?=\d)", r"\1" + _ZWSP + "-", text, flags=re.IGNORECASE)


def _code_safe(text: str) -> str:
    # Code is shown as written, except that it can never open or close an HTML comment (paydown's markers).
    return text.replace("<!--", "<\u200b!--").replace("-->", "--\u200b>")


def md_code(text: str, *, table: bool = False) -> str:
    """An inline code span that holds any text: the fence is longer than any backtick run inside."""
    text = _code_safe(" ".join(str(text).split())) or " "
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    span = f"{fence}{pad}{text}{pad}{fence}"
    return span.replace("|", "\\|") if table else span


def md_inline(text: str, *, table: bool = False) -> str:
    """Analyzer prose, where `backticks` mark code: code stays code, everything else is plain text."""
    parts = _CODE.split(str(text))
    return "".join(md_code(part, table=table) if odd else md_text(part) for odd, part in
                   ((n % 2 == 1, part) for n, part in enumerate(parts)))


def md_block(text: str, language: str = "") -> str:
    """A fenced code block for an excerpt."""
    body = _code_safe(str(text).rstrip("\n"))
    fence = "`" * max(3, max((len(run) for run in _BACKTICKS.findall(body)), default=0) + 1)
    return f"{fence}{language}\n{body}\n{fence}"


LANGUAGES = {".py": "python", ".ipynb": "python", ".toml": "toml", ".yml": "yaml", ".yaml": "yaml",
             ".cfg": "ini", ".sh": "bash", ".txt": "text", ".in": "text", ".json": "json", ".sql": "sql"}


def language_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name.lower().startswith("dockerfile"):
        return "dockerfile"
    return LANGUAGES.get("." + name.rsplit(".", 1)[-1].lower() if "." in name else "", "")
