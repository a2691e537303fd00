"""A read-only snapshot of a repository folder: which files count, their text, and notebooks as Python."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec
import yaml

from .finding import Problem, cite
from .notebook import read_notebook

MAX_FILE_BYTES = 2_000_000
# Folder levels below the root that the walk enters and the service extracts. Real layouts stay within ~20, so 64
# leaves room for generated code while a hostile tree (GitHub's names allow ~2,000 levels) stops far short of
# Python's 1,000-frame recursion limit, which any recursive tool (os.walk, shutil.rmtree, rglob) would hit.
MAX_DEPTH = 64
MAX_NOTEBOOK_BYTES = 20_000_000
# Folders that hold no code of the repository's own: environments, caches, build output, vendored code.
SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", "env", ".env", ".tox", ".nox", "node_modules", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", "site-packages", "vendor", "_vendor",
    "third_party", ".eggs", ".ipynb_checkpoints", ".idea", ".vscode",
})
TEXT_SUFFIXES = frozenset({".py", ".pyi", ".ipynb", ".txt", ".in", ".toml", ".cfg", ".ini", ".yml", ".yaml",
                           ".lock", ".sh", ".bash", ".sql", ".dvc", ".json"})
# A JSON file larger than this is data, not configuration: left out without an error.
MAX_JSON_CONFIG_BYTES = 256_000
TEXT_NAMES = frozenset({"Dockerfile", "Pipfile", "Containerfile", "Makefile", "setup.py", "setup.cfg"})


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file's text. For a notebook, ``text`` is its code cells as one Python source (magics made ``pass``).

    A notebook's cell is the N-th cell of the notebook (1-based, markdown and raw cells counted), as Jupyter shows it.
    """

    path: str
    text: str
    is_python: bool
    cell_lines: tuple[tuple[int, int], ...] = ()  # notebook: source line -> (cell, line in cell)
    magics: tuple[tuple[int, str], ...] = ()  # notebook: (source line, magic or shell command)
    file_lines: tuple[int, ...] = ()  # notebook: source line -> line of the .ipynb file holding it

    @property
    def is_notebook(self) -> bool:
        return self.path.endswith(".ipynb")

    def cell_position(self, line: int) -> tuple[int, int] | None:
        """For a notebook, the (code cell, line in cell) of a line of ``text``; None for other files."""
        if not self.cell_lines:
            return None
        return self.cell_lines[min(max(line, 1), len(self.cell_lines)) - 1]

    def file_line(self, line: int) -> int:
        """The line of the file itself holding a line of ``text``: for a notebook, a line of its JSON."""
        if not self.file_lines:
            return line
        return self.file_lines[min(max(line, 1), len(self.file_lines)) - 1]

    def where(self, line: int) -> str:
        """How a message names a line of ``text``: ``path:line``, or ``path cell N line M`` in a notebook."""
        position = self.cell_position(line)
        return cite(self.path, line) if position is None else cite(self.path, position[1], position[0])

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""


@dataclass(slots=True)
class RepoSnapshot:
    """The files of one repository, with the facts every analyzer extracted from each Python file."""

    root: Path
    files: dict[str, SourceFile] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)  # analyzer name -> path -> facts

    def python_files(self) -> Iterator[SourceFile]:
        return (f for f in self.files.values() if f.is_python)

    def facts_of(self, analyzer: str) -> dict[str, Any]:
        return self.facts.get(analyzer, {})

    def matching(self, predicate: Any) -> list[SourceFile]:
        return [f for p, f in sorted(self.files.items()) if predicate(p)]


def read_capped(path: Path, limit: int, *, inside: Path | None = None) -> bytes:
    """A regular file's bytes, refused (ValueError saying why) over ``limit`` bytes or, when ``inside`` is given,
    when the path, links resolved, leads out of that folder. Neither kind is read at all."""
    if inside is not None:
        real, top = os.path.realpath(path), os.path.realpath(inside)
        if os.path.commonpath([real, top]) != top:
            raise ValueError("symbolic link to outside the repository (not followed)")
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError("not a regular file")  # checked before opening: a named pipe would block
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        data = handle.read(limit + 1) if st.st_size <= limit else b""
    if st.st_size > limit or len(data) > limit:
        raise ValueError(f"file too large ({max(st.st_size, len(data))} bytes, limit {limit})")
    return data


def file_problem(rel: str, err: Exception) -> Problem:
    """The problem for a file that could not be read, its kind taken from the reason."""
    text = str(err)
    reason = "too-large" if "too large" in text else "symlink" if "link" in text else "unreadable"
    return Problem(rel, reason, text or type(err).__name__)


# gitignore-style patterns become backtracking regular expressions: `*a*a*a*a*a*b` took 12 s against one
# 255-character name, and each further `*` multiplies that by the name's length. Runs of `*` are collapsed (git
# reads them as one) and a pattern is refused past these caps, so a match costs at most about a name's length
# squared per segment.
MAX_GLOB_LENGTH = 1_000
MAX_GLOB_STARS_PER_SEGMENT = 2
MAX_GLOB_DOUBLE_STARS = 2
MAX_GLOBS = 1_000


def _collapse_stars(segment: str) -> tuple[str, int]:
    """(the segment with each run of wildcard `*` made one, how many wildcards it has); `\\*` is a literal."""
    if segment and set(segment) == {"*"}:
        return ("**" if len(segment) > 1 else "*"), 1
    out: list[str] = []
    escaped = after_wildcard = False
    wildcards = 0
    for char in segment:
        wildcard = char == "*" and not escaped
        if wildcard and after_wildcard:
            continue
        out.append(char)
        wildcards += wildcard
        after_wildcard = wildcard
        escaped = char == "\\" and not escaped
    return "".join(out), wildcards


def bounded_glob(pattern: str) -> tuple[str, str]:
    """(the pattern with runs of `*` collapsed, "") or ("", why it is refused) for one gitignore-style line."""
    if len(pattern) > MAX_GLOB_LENGTH:
        return "", f"pattern longer than {MAX_GLOB_LENGTH} characters"
    segments = [_collapse_stars(segment) for segment in pattern.split("/")]
    if sum(segment == "**" for segment, _ in segments) > MAX_GLOB_DOUBLE_STARS:
        return "", f"more than {MAX_GLOB_DOUBLE_STARS} `**` in one pattern"
    if any(wildcards > MAX_GLOB_STARS_PER_SEGMENT for _, wildcards in segments):
        return "", f"more than {MAX_GLOB_STARS_PER_SEGMENT} `*` between two `/`"
    return "/".join(segment for segment, _ in segments), ""


def glob_spec(lines: Iterable[str], refused: list[tuple[int, str, str]] | None = None) -> pathspec.PathSpec:
    """A GitIgnoreSpec of the bounded lines; each refused one is appended to ``refused`` as (line, text, why)."""
    kept: list[str] = []
    for number, line in enumerate(lines, start=1):
        bounded, why = bounded_glob(line)
        if why:
            if refused is not None:
                refused.append((number, line, why))
            continue
        kept.append(bounded)
    return pathspec.GitIgnoreSpec.from_lines(kept)


def _gitignore_spec(root: Path, folder: Path, rel: str) -> tuple[pathspec.PathSpec | None, Problem | None]:
    path = folder / ".gitignore"
    if not os.path.lexists(path):
        return None, None
    try:
        text = read_capped(path, MAX_FILE_BYTES, inside=root).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None, None  # a dangling link, as if there were no file
    except (OSError, ValueError) as err:
        return None, file_problem(rel, err)
    refused: list[tuple[int, str, str]] = []
    spec = glob_spec(text.splitlines(), refused)
    if refused:
        number, _line, why = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        return spec, Problem(rel, "too-complex", f"line {number}: {why}: pattern left out{more}")
    return spec, None


def _list_folder(folder: Path) -> tuple[list[str], list[str], set[str]]:
    """A folder's sub-folder names (links to folders included, as os.walk counts them), other names, and links."""
    dirs: list[str] = []
    names: list[str] = []
    links: set[str] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                is_dir, is_link = entry.is_dir(), entry.is_symlink()
            except OSError:
                is_dir, is_link = False, False
            (dirs if is_dir else names).append(entry.name)
            if is_link:
                links.add(entry.name)
    return dirs, names, links


def is_container_build_file(name: str) -> bool:
    """A Dockerfile or Containerfile by any of the names teams give them (`Dockerfile.gpu`, `worker.Dockerfile`)."""
    lower = name.lower()
    return lower.startswith(("dockerfile", "containerfile")) or lower.endswith((".dockerfile", ".containerfile"))


def _wanted(name: str) -> bool:
    if name in TEXT_NAMES or name.startswith(("requirements", "constraints")) or is_container_build_file(name):
        return True
    return Path(name).suffix in TEXT_SUFFIXES or name == ".paydown.toml"


def _ignored(rel: str, is_dir: bool, excluded: pathspec.PathSpec,
             ignores: list[tuple[str, pathspec.PathSpec]]) -> bool:
    probe = rel + "/" if is_dir else rel
    if excluded.match_file(probe):
        return True
    return any(spec.match_file(probe[len(base):]) for base, spec in ignores)


def iter_paths(root: Path, exclude: Iterable[str] = (),
               problems: list[Problem] | None = None) -> Iterator[tuple[str, Path]]:
    """Repo-relative POSIX paths of files worth reading, honouring .gitignore files and excludes.

    Depth first in name order, with an explicit stack (any depth is safe), never through a link and never more
    than MAX_DEPTH folders down. Folders left out for depth or unreadable, and refused .gitignore files, are
    appended to ``problems``.
    """
    excluded = glob_spec(list(exclude)[:MAX_GLOBS])  # the configuration refuses more, and worse, by name
    found = problems if problems is not None else []
    stack: list[tuple[str, list[tuple[str, pathspec.PathSpec]]]] = [("", [])]
    while stack:
        rel_dir, ignores = stack.pop()
        here = root / rel_dir if rel_dir else root
        try:
            dirs, names, links = _list_folder(here)
        except OSError as err:
            found.append(Problem(rel_dir.rstrip("/") or ".", "unreadable", f"folder not read: {err.strerror}"))
            continue
        spec, problem = _gitignore_spec(root, here, rel_dir + ".gitignore")
        if problem is not None:
            found.append(problem)
        if spec is not None:
            ignores = [*ignores, (rel_dir, spec)]

        dirs = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")
                      and not _ignored(rel_dir + d, True, excluded, ignores))
        for link in [d for d in dirs if d in links]:
            dirs.remove(link)  # never followed: a link can loop or point outside the repository
            yield rel_dir + link, here / link
        for name in sorted(names):
            rel = rel_dir + name
            if name == ".gitignore":
                continue  # read above, links inside the repository followed, others reported
            if (_wanted(name) or name in links) and not _ignored(rel, False, excluded, ignores):
                yield rel, here / name
        if rel_dir.count("/") + 1 > MAX_DEPTH:
            found.extend(Problem(rel_dir + d, "too-deep", f"folder more than {MAX_DEPTH} levels deep (not scanned)")
                         for d in dirs)
            continue
        stack.extend((f"{rel_dir}{d}/", ignores) for d in reversed(dirs))


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise ValueError("binary file (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"not valid UTF-8 ({err.reason} at byte {err.start})") from None


def notebook_source(path: str, data: str) -> SourceFile:
    """A notebook's code cells as one Python source, each line traced to its cell and its line of the .ipynb."""
    code = read_notebook(data)
    return SourceFile(path, code.text, True, code.cell_lines, code.magics, code.file_lines)


def read_file(rel: str, path: Path) -> SourceFile:
    """Read one file, raising ValueError with a reason a person understands."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        raise ValueError("symbolic link (not followed)")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("not a regular file")
    limit = MAX_NOTEBOOK_BYTES if rel.endswith(".ipynb") else MAX_FILE_BYTES
    if st.st_size > limit:
        raise ValueError(f"file too large ({st.st_size} bytes, limit {limit})")
    # O_NOFOLLOW: a file swapped for a link after the lstat above is refused, not followed out of the tree.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ValueError("symbolic link (not followed)") from err
        raise
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = handle.read(limit + 1)
    text = _decode(data)
    if rel.endswith(".ipynb"):
        return notebook_source(rel, text)
    return SourceFile(rel, text, rel.endswith((".py", ".pyi")))


def take_snapshot(root: Path, exclude: Iterable[str] = ()) -> RepoSnapshot:
    """Walk ``root`` and read every file that counts; unreadable ones become problems."""
    root = root.resolve()
    snapshot = RepoSnapshot(root)
    for rel, path in iter_paths(root, exclude, snapshot.problems):
        try:
            if rel.endswith(".json") and path.lstat().st_size > MAX_JSON_CONFIG_BYTES:
                continue
            snapshot.files[rel] = read_file(rel, path)
        except (OSError, ValueError, RecursionError) as err:
            snapshot.problems.append(file_problem(rel, err))
    return snapshot


class YAMLTooExpanded(yaml.YAMLError):
    """A document whose aliases would make it far larger than its text (an "alias bomb")."""


# A repository's own YAML is data, never trusted: "billion laughs" aliases made a 1 KB environment.yml into
# 1.4 GB. Real files use a few dozen aliases (compose `<<: *defaults`), and their expansion adds little.
MAX_YAML_ALIASES = 1_000
MAX_YAML_EXPANDED_NODES = 1_000_000


def _expanded_size(text: str, loader: Any) -> int:
    """The node count of the document with every alias expanded, from one pass over its parse events (each
    anchor's size is remembered, so no alias is ever expanded). Raises YAMLTooExpanded past the caps."""
    sizes: dict[str, int] = {}
    open_: list[tuple[str | None, int]] = [(None, 0)]
    aliases = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            weight = sizes.get(event.anchor or "", 1)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            open_.append((event.anchor, 1))
            continue
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, weight = open_.pop()
            if anchor is not None:
                sizes[anchor] = weight
        elif isinstance(event, yaml.ScalarEvent):
            weight = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        else:
            continue
        anchor, total = open_[-1]
        open_[-1] = (anchor, total + weight)
        if aliases > MAX_YAML_ALIASES:
            raise YAMLTooExpanded(f"more than {MAX_YAML_ALIASES} aliases (not expanded)")
        if open_[-1][1] > MAX_YAML_EXPANDED_NODES:
            raise YAMLTooExpanded(f"aliases expand it past {MAX_YAML_EXPANDED_NODES} nodes (not expanded)")
    return open_[0][1]


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with libyaml's C loader when present (same safe subset, about 10x faster), refusing a
    document whose aliases expand past MAX_YAML_ALIASES or MAX_YAML_EXPANDED_NODES (YAMLTooExpanded)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if "*" in text:  # no alias without a `*`: the common case pays nothing
        _expanded_size(text, loader)
    return yaml.load(text, Loader=loader)


def compose_yaml(text: str) -> Any:
    """The node tree of a YAML document (with line marks), under the same alias caps as load_yaml."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if "*" in text:
        _expanded_size(text, loader)
    return yaml.compose(text, Loader=loader)


def parse_yaml(path: str, text: str) -> tuple[Any, Problem | None]:
    """A YAML file's data, or None and the problem that names the file (broken, or nested too deeply)."""
    try:
        return load_yaml(text), None
    except YAMLTooExpanded as err:
        return None, Problem(path, "too-large", f"YAML not read: {err}")
    except yaml.YAMLError as err:
        return None, Problem(path, "invalid-yaml", f"invalid YAML: {err}")
    except RecursionError:
        return None, Problem(path, "invalid-yaml", "invalid YAML: nested too deeply")
