"""What a fix works on: the files as they are being rewritten, the outcome of each finding, and why one is left."""

from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import libcst
import yaml

from paydown.analyzers.finding import Finding

# Folders a fix does not search for other files: environments and caches, not the repository's own code.
SKIPPED_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox"})


class Leave(Exception):
    """A finding this fix cannot pay down safely; the message says why, and the file is not touched for it."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finding and what became of it: ``fixed`` with a note saying what changed, or left with the reason."""

    finding: Finding
    fixed: bool
    note: str


@dataclass(slots=True)
class Workspace:
    """The repository's files as the fixes rewrite them, in memory until ``write``: a fix reads what the fixes
    before it wrote, and a file whose rewrite would not parse keeps its old text."""

    root: Path
    _old: dict[str, str] = field(default_factory=dict)
    _new: dict[str, str] = field(default_factory=dict)

    def read(self, path: str) -> str:
        if path not in self._new:
            target = self.root / path
            if not target.resolve().is_relative_to(self.root.resolve()) or not target.is_file():
                raise Leave(f"{path} is not a file inside the scanned folder")
            try:  # bytes decoded as they are: \r\n line endings stay \r\n
                self._old[path] = target.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise Leave(f"cannot read {path}: {err}") from None
            self._new[path] = self._old[path]
        return self._new[path]

    def create(self, path: str) -> None:
        """Start a file that does not exist yet (written only if a fix gives it text)."""
        if path not in self._new:
            self._old[path] = self._new[path] = ""

    def update(self, path: str, text: str) -> None:
        self.read(path)
        problem = parse_problem(path, text)
        if problem:
            raise Leave(f"the rewritten {path} would not parse ({problem}); left as it is")
        self._new[path] = text

    def line_now(self, path: str, line: int) -> int:
        """Where line ``line`` of the file as scanned is now that fixes before this one rewrote it: findings
        carry the scan's lines. Leave when lines around it were added or taken away."""
        now = self.read(path)
        if now == self._old[path]:
            return line
        matcher = difflib.SequenceMatcher(None, self._old[path].splitlines(), now.splitlines(), autojunk=False)
        for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
            # a block edited line for line (pins on the same line) keeps its lines where they were
            same_size = tag == "equal" or (tag == "replace" and old_end - old_start == new_end - new_start)
            if same_size and old_start < line <= old_end:
                return new_start + line - old_start
        raise Leave(f"{path}:{line} was rewritten by another fix; run paydown fix again")

    def mark(self) -> dict[str, str]:
        """The texts as they are now, to go back to when a fix that has begun cannot be finished."""
        return dict(self._new)

    def back_to(self, mark: dict[str, str]) -> None:
        self._new = {path: mark.get(path, self._old[path]) for path in self._new}

    def changed(self) -> list[str]:
        return sorted(path for path, text in self._new.items() if text != self._old[path])

    def diff(self) -> str:
        return "".join("".join(difflib.unified_diff(self._old[path].splitlines(keepends=True),
                                                    self._new[path].splitlines(keepends=True),
                                                    f"a/{path}", f"b/{path}"))
                       for path in self.changed())

    def write(self) -> None:
        for path in self.changed():
            (self.root / path).write_bytes(self._new[path].encode("utf-8"))


def parse_problem(path: str, text: str) -> str:
    """Why ``text`` would not parse as the file ``path`` is, or "" when it parses (or is not a parsed format)."""
    try:
        if path.endswith((".py", ".pyi")):
            libcst.parse_module(text)
        elif path.endswith(".toml"):
            tomllib.loads(text)
        elif path.endswith((".yml", ".yaml")):
            yaml.safe_load(text)
        elif path.endswith(".ipynb"):
            json.loads(text)
    except (libcst.ParserSyntaxError, tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as err:
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    return ""
