"""Jupyter notebooks read as Python: code cells joined with IPython magics made harmless, each line traced to its
cell (numbered as Jupyter shows it) and to the line of the .ipynb file that holds it; cells that do not parse are
reported one by one and left out, so one broken cell never costs the whole notebook."""

from __future__ import annotations

import bisect
import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

from .finding import Problem, cite
from .workers import FILE_TIMEOUT_SECONDS, Extractor, FactCache, Task, extract_facts, run_pool

if TYPE_CHECKING:
    from .snapshot import RepoSnapshot, SourceFile

# A magic's line becomes this statement at the magic's indentation: a block whose body is only magics stays a
# block, and every line keeps its number.
MAGIC_STATEMENT = "pass  # magic"
_HELP = re.compile(r"^(?:\?{1,2}[\w.]+|[\w.]+\?{1,2})$")  # IPython help: obj? or ??obj
_CAPTURE = re.compile(r"^[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*(?=[%!])")  # files = !ls, t = %timeit -o f()
# Cell magics whose body is Python that IPython runs: the body is analysed, only the `%%` line is a magic.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


@dataclass(frozen=True, slots=True)
class NotebookCode:
    """A notebook's code cells as one Python source; per line of ``text``: (cell, line in cell), .ipynb line."""

    text: str
    cell_lines: tuple[tuple[int, int], ...]
    file_lines: tuple[int, ...]
    magics: tuple[tuple[int, str], ...]  # (line of text, the magic or shell command as written)


def _is_magic(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(("%", "!")) or bool(_HELP.match(stripped) or _CAPTURE.match(stripped))


# Outside strings: a quote opens a string, brackets nest, '#' starts a comment, a backslash escapes what follows.
_SCAN = re.compile(r"""\"\"\"|'''|["'#()\[\]{}]|\\(?:.|$)""")
_CLOSE = {quote: re.compile(r"\\(?:.|$)|" + re.escape(quote)) for quote in ('"""', "'''", '"', "'")}


def _continues(line: str, depth: int, quote: str) -> tuple[int, str, bool]:
    """After a line of Python: open bracket depth, the open string's quote ('' if none), and a trailing backslash.

    Only a line that starts a statement can be a magic (IPython's rule too): `% b` inside brackets is Python.
    """
    at = 0
    while True:
        found = (_CLOSE[quote] if quote else _SCAN).search(line, at)
        if found is None:
            break
        token, at = found.group(), found.end()
        if quote:
            quote = "" if token == quote else quote
        elif token == "#":
            return depth, "", False
        elif token[0] in "\"'":
            quote = token
        elif token in "([{":
            depth += 1
        elif token in ")]}":
            depth = max(depth - 1, 0)
    if quote in ('"', "'"):  # a one-line string goes on only after a backslash
        return depth, (quote if line.endswith("\\") else ""), False
    return depth, quote, line.endswith("\\") and not quote


def _cell_code(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """One cell's lines with each magic replaced line for line, and the magics as (line in cell, command)."""
    lines = text.splitlines()
    head = next((i for i, line in enumerate(lines) if line.strip()), 0)
    cell_magic = lines[head].strip() if lines and lines[head].startswith("%%") else ""
    if cell_magic and (cell_magic[2:].split() or [""])[0] not in _PYTHON_CELL_MAGICS:
        return [""] * len(lines), [(i + 1, line.strip()) for i, line in enumerate(lines) if line.strip()]
    out: list[str] = []
    magics: list[tuple[int, str]] = []
    depth, quote, joined = 0, "", False
    magic_open = False  # the previous line was a magic ending in a backslash
    for number, line in enumerate(lines, start=1):
        if magic_open:
            magics[-1] = (magics[-1][0], magics[-1][1].rstrip("\\").rstrip() + " " + line.strip())
            magic_open = line.rstrip().endswith("\\")
            out.append("")
        elif not depth and not quote and not joined and _is_magic(line):
            stripped = line.strip()
            capture = _CAPTURE.match(stripped)
            magics.append((number, stripped[capture.end():] if capture else stripped))
            magic_open = stripped.endswith("\\")
            out.append(line[:len(line) - len(line.lstrip())] + MAGIC_STATEMENT)
        else:
            depth, quote, joined = _continues(line, depth, quote)
            out.append(line)
    return out, magics


class _Scanner:
    """Just enough of a JSON reader to find where strings sit in the raw text; other values are skipped whole."""

    _SPACE = re.compile(r"[ \t\n\r]*")
    _DECODER = json.JSONDecoder()

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def peek(self) -> str:
        self.at = self._SPACE.match(self.text, self.at).end()  # type: ignore[union-attr]
        return self.text[self.at:self.at + 1]

    def take(self, char: str) -> bool:
        if self.peek() != char:
            return False
        self.at += 1
        return True

    def string(self) -> tuple[str, int]:
        if self.peek() != '"':
            raise ValueError("expected a string")
        start = self.at
        value, self.at = scanstring(self.text, start + 1)
        return value, start

    def skip(self) -> Any:
        self.peek()
        value, self.at = self._DECODER.raw_decode(self.text, self.at)
        return value

    def _items(self, opening: str, closing: str) -> Iterator[None]:
        if not self.take(opening):
            raise ValueError(f"expected {opening}")
        if self.take(closing):
            return
        while True:
            yield  # the caller reads one item
            if self.take(closing):
                return
            if not self.take(","):
                raise ValueError("expected ,")

    def members(self) -> Iterator[str]:
        """The keys of an object; the caller reads (or skips) each value before asking for the next key."""
        for _ in self._items("{", "}"):
            key, _at = self.string()
            if not self.take(":"):
                raise ValueError("expected :")
            yield key

    def elements(self) -> Iterator[None]:
        return self._items("[", "]")


def _source_offsets(data: str) -> dict[int, tuple[int, list[tuple[str, int]]]]:
    """Per cell (1-based, every kind): where its source value starts, and each source string with its offset."""
    scanner = _Scanner(data)
    found: dict[int, tuple[int, list[tuple[str, int]]]] = {}
    for key in scanner.members():
        if key != "cells":
            scanner.skip()
            continue
        found = {}
        for number, _ in enumerate(scanner.elements(), start=1):
            if scanner.peek() != "{":
                scanner.skip()
                continue
            for field in scanner.members():
                if field != "source":
                    scanner.skip()
                elif scanner.peek() == "[":
                    start, strings = scanner.at, []
                    for _ in scanner.elements():
                        if scanner.peek() == '"':
                            strings.append(scanner.string())
                        else:
                            scanner.skip()
                    found[number] = (start, strings)
                elif scanner.peek() == '"':
                    value, start = scanner.string()
                    found[number] = (start, [(value, start)])
                else:
                    found[number] = (scanner.at, [])
                    scanner.skip()
    return found


def _file_lines(data: str) -> dict[int, list[int]]:
    """For each cell, the .ipynb line of each of its source lines (as ``splitlines`` counts them), then one more
    for the blank line that follows the cell in the joined code."""
    try:
        offsets = _source_offsets(data)
    except (ValueError, IndexError, RecursionError):
        return {}  # json.loads accepted it, so this should not happen; SARIF then falls back to line 1
    newlines = [m.start() for m in re.finditer("\n", data)]

    def line_at(offset: int) -> int:
        return bisect.bisect_left(newlines, offset) + 1

    lines: dict[int, list[int]] = {}
    for cell, (start, strings) in offsets.items():
        starts, size = [], 0
        for value, _ in strings:
            starts.append(size)
            size += len(value)
        text = "".join(value for value, _ in strings)
        found, position = [], 0
        for line in text.splitlines(keepends=True):
            index = bisect.bisect_right(starts, position) - 1
            found.append(line_at(strings[index][1]))
            position += len(line)
        lines[cell] = [*found, found[-1] if found else line_at(start)]
    return lines


def cell_text(cell: dict[str, Any]) -> str:
    """A cell's source as one text (nbformat stores it as a string or a list of strings)."""
    source = cell.get("source", "")
    return "".join(s for s in source if isinstance(s, str)) if isinstance(source, list) else str(source)


def read_notebook(data: str) -> NotebookCode:
    """Join a notebook's code cells into one Python source, remembering where each line came from."""
    doc = json.loads(data)
    cells = doc.get("cells") if isinstance(doc, dict) else None
    if not isinstance(cells, list):
        raise ValueError("not a Jupyter notebook (no cells list)")
    raw_lines = _file_lines(data)
    lines: list[str] = []
    where: list[tuple[int, int]] = []
    file_lines: list[int] = []
    magics: list[tuple[int, str]] = []
    for cell, item in enumerate(cells, start=1):  # cell N is the N-th cell, markdown and raw ones included
        if not isinstance(item, dict) or item.get("cell_type") != "code":
            continue
        code, cell_magics = _cell_code(cell_text(item))
        magics.extend((len(lines) + number, command) for number, command in cell_magics)
        lines.extend([*code, ""])  # the blank line keeps cells separate blocks
        where.extend((cell, number) for number in range(1, len(code) + 2))
        raw = raw_lines.get(cell, [])
        file_lines.extend(raw[min(i, len(raw) - 1)] if raw else 1 for i in range(len(code) + 1))
    return NotebookCode("\n".join(lines) + "\n", tuple(where), tuple(file_lines), tuple(magics))


def cite_line(files: Mapping[str, SourceFile], path: str, line: int) -> str:
    """How a message names a line of another place: ``path:line``, or ``path cell N line M`` in a notebook
    (a line of the joined code cells exists nowhere in the notebook itself)."""
    file = files.get(path)
    return file.where(line) if file is not None else cite(path, line)


def code_cells(file: SourceFile) -> list[tuple[int, int, int]]:
    """(cell, first line, last line) in ``file.text`` of each code cell, the trailing blank line left out."""
    spans: list[tuple[int, int, int]] = []
    for line, (cell, _) in enumerate(file.cell_lines, start=1):
        if spans and spans[-1][0] == cell:
            spans[-1] = (cell, spans[-1][1], line)
        else:
            spans.append((cell, line, line))
    return [(cell, first, max(first, last - 1)) for cell, first, last in spans]


def _without(file: SourceFile, cells: set[int]) -> SourceFile:
    lines = file.text.splitlines()
    kept = ["" if file.cell_lines[i][0] in cells else line for i, line in enumerate(lines)]
    return dataclasses.replace(file, text="\n".join(kept) + "\n")


_AT_LINE = re.compile(r"\bat line (\d+)")


def _in_cell(problem: Problem, cell: int, line: int | None) -> Problem:
    """The problem said of one cell: "syntax error in cell 4 at line 2, ..." (``line`` None: already in-cell)."""
    found = _AT_LINE.search(problem.message)
    if found is None:
        return dataclasses.replace(problem, message=f"cell {cell}: {problem.message}", cell=cell)
    where = f"in cell {cell} at line {found.group(1) if line is None else line}"
    return dataclasses.replace(problem, message=problem.message[:found.start()] + where
                               + problem.message[found.end():], cell=cell)


def _cited(problem: Problem, file: SourceFile) -> Problem:
    """A parse problem of the joined code, its line said as the notebook's cell and line."""
    found = _AT_LINE.search(problem.message)
    position = file.cell_position(int(found.group(1))) if found else None
    return problem if position is None else _in_cell(problem, *position)


def _bad_cells(files: Sequence[SourceFile], jobs: int, timeout: float) -> dict[str, dict[int, Problem]]:
    """Parse each code cell alone, as Jupyter runs it, in the parser workers; the cells that fail, per path."""
    tasks = []
    for file in files:
        lines = file.text.splitlines()
        tasks.extend(Task(f"{cell}\0{file.path}", "\n".join(lines[first - 1:last]) + "\n", "")
                     for cell, first, last in code_cells(file))
    bad: dict[str, dict[int, Problem]] = {}
    for key, status, message in run_pool(tasks, (), jobs, timeout):
        if status != "ok":
            number, _, path = key.partition("\0")
            bad.setdefault(path, {})[int(number)] = _in_cell(Problem(path, status, message), int(number), None)
    return bad


def salvage_notebooks(snapshot: RepoSnapshot, facts: dict[str, dict[str, Any]], problems: list[Problem],
                      extractors: Sequence[tuple[str, Extractor]], cache: FactCache, jobs: int,
                      timeout: float = FILE_TIMEOUT_SECONDS) -> list[Problem]:
    """Notebooks whose joined code did not parse lose only their broken cells: each is reported by its number,
    the notebook's text keeps blank lines in its place, and the other cells' facts are extracted."""
    broken = {p.path: p for p in problems if p.reason == "syntax-error" and p.path in snapshot.files
              and snapshot.files[p.path].is_notebook}
    if not broken:
        return problems
    kept = [p for p in problems if p.path not in broken]
    bad = _bad_cells([snapshot.files[path] for path in sorted(broken)], jobs, timeout)
    for path in sorted(broken):
        if path not in bad:  # every cell parses alone, the joined code does not: the notebook is lost
            kept.append(_cited(broken[path], snapshot.files[path]))
            continue
        snapshot.files[path] = _without(snapshot.files[path], set(bad[path]))
        kept.extend(bad[path][cell] for cell in sorted(bad[path]))
    retried = [(path, snapshot.files[path].text) for path in sorted(bad)]
    found, still, _ = extract_facts(retried, extractors, cache, jobs, timeout)
    for name, by_path in found.items():
        facts.setdefault(name, {}).update(by_path)
    kept.extend(_cited(p, snapshot.files[p.path]) for p in still)
    return kept
