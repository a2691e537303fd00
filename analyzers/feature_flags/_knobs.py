"""Notebook knobs: a switch a notebook tells its reader about is set by the reader editing the cell.

A notebook is run by a person who edits its cells; when the notebook documents a name to that person (a comment
on the line that binds it, or a markdown cell naming it), the name is a setting of the run, like a Colab form
field, and its other branch is a documented path, not dead code.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

from ..notebook import cell_text
from ..snapshot import MAX_FILE_BYTES, SourceFile, read_capped


def has_comment(line: str) -> bool:
    """True when a line of code carries a comment (a ``#`` outside strings)."""
    try:
        return any(tok.type == tokenize.COMMENT for tok in tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):
        return False


def markdown_text(root: Path, path: str) -> str:
    """The markdown cells of a notebook as one text; empty when the file cannot be read."""
    try:
        doc = json.loads(read_capped(root / path, MAX_FILE_BYTES, inside=root))
    except (OSError, ValueError):
        return ""
    cells = doc.get("cells") if isinstance(doc, dict) else None
    if not isinstance(cells, list):
        return ""
    return "\n".join(cell_text(cell) for cell in cells
                     if isinstance(cell, dict) and cell.get("cell_type") == "markdown")


class NotebookKnobs:
    """Answers, per notebook switch, whether the notebook documents it to its reader."""

    def __init__(self, root: Path, files: dict[str, SourceFile]) -> None:
        self.root = root
        self.files = files
        self.markdown: dict[str, str] = {}

    def documented(self, path: str, name: str, line: int) -> bool:
        file = self.files.get(path)
        if file is None or not file.is_notebook:
            return False
        if has_comment(file.line_text(line)):
            return True
        if path not in self.markdown:
            self.markdown[path] = markdown_text(self.root, path)
        return re.search(r"(?<![\w.])" + re.escape(name) + r"(?!\w)", self.markdown[path]) is not None
