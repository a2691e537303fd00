"""The data-dependency inventory: every source the code reads, where, and whether it is declared or internal."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from ..config import Config
from ..finding import Problem, cite
from ..notebook import salvage_notebooks
from ..snapshot import RepoSnapshot, take_snapshot
from ..workers import FactCache, default_cache_dir, extract_facts
from ._classify import not_data, unstable
from ._declared import Declaration, covers, load_declarations, normalize
from ._extract import Access, FileFacts, extract_accesses
from ._images import shipped_files
from ._resolve import ModuleIndex
from ._sql import HOLE_PREFIX, sql_tables, table_name
from ._values import Value, literal_text, render

VERSION = "2"
ANALYZER_NAME = "data_inputs"
_TEST_DIRS = frozenset({"tests", "test", "testing", "__tests__", "fixtures", "__fixtures__", "testdata"})
_SKIPPED_DIRS = frozenset({"docs", "doc", ".github", "benchmarks"})
_SKIPPED_NAMES = frozenset({"setup.py", "noxfile.py", "conftest.py", "conf.py", "fabfile.py"})
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?")


@dataclass(frozen=True, slots=True)
class Site:
    """Where a source is read."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    family: str
    unstable: str = ""
    cell: int | None = None  # a notebook's cell as Jupyter numbers it; ``line`` is then the line inside it

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "line": self.line, "column": self.column, "family": self.family}
        if self.cell is not None:
            data["cell"] = self.cell
        return {**data, "unstable": self.unstable} if self.unstable else data


@dataclass(slots=True)
class Source:
    uri: str
    pattern: str  # the uri with template fields as `*`, what declarations are matched against
    kind: str
    sites: list[Site] = field(default_factory=list)
    status: str = "undeclared"  # undeclared | placeholder | declared | internal | checked-in | fixture | library
    declaration: Declaration | None = None

    @property
    def unstable(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(site.unstable for site in self.sites if site.unstable))

    @property
    def documented(self) -> bool:
        return self.status not in ("undeclared", "placeholder")

    def to_dict(self) -> dict[str, Any]:
        declared = self.declaration
        return {
            "uri": self.uri, "kind": self.kind, "status": self.status,
            "declared_by": declared.by if declared else "",
            "declared_in": declared.where if declared else "",
            "owner": declared.owner if declared else "", "contract": declared.contract if declared else "",
            "unstable": list(self.unstable), "reads": [site.to_dict() for site in self.sites],
        }


@dataclass(slots=True)
class Inventory:
    sources: list[Source] = field(default_factory=list)
    unresolved: list[Site] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    test_reads: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": [s.to_dict() for s in self.sources],
            "unresolved_reads": [site.to_dict() for site in self.unresolved],
            "problems": [p.to_dict() for p in self.problems],
        }

    def stats(self) -> dict[str, Any]:
        return {
            "sources": len(self.sources),
            "undocumented": sum(1 for s in self.sources if not s.documented),
            "declared": sum(1 for s in self.sources if s.status == "declared"),
            "internal": sum(1 for s in self.sources if s.status in ("internal", "checked-in", "fixture")),
            "library": sum(1 for s in self.sources if s.status == "library"),
            "unresolved_reads": len(self.unresolved),
            "unresolved": [cite(s.path, s.line, s.cell) for s in self.unresolved[:50]],
            "test_reads": self.test_reads,
        }


def _parts(path: str) -> list[str]:
    return path.split("/")


def is_test_path(path: str) -> bool:
    parts = _parts(path)
    name = parts[-1]
    return bool(_TEST_DIRS & set(parts[:-1])) or name.startswith("test_") or name.endswith(("_test.py", "_tests.py"))


def _skipped_file(path: str) -> bool:
    """Tooling, not the ML system: docs, CI (hidden folders such as `.github`, `.actions`), packaging."""
    parts = _parts(path)
    folders = parts[:-1]
    return bool(_SKIPPED_DIRS & set(folders)) or parts[-1] in _SKIPPED_NAMES or any(
        p.startswith(".") for p in folders)


def _hole_pattern(text: str) -> str:
    return "*"


def _resolved_enough(value: Value) -> bool:
    """A value read as a source: it starts with literal text that names something (not a bare `./`)."""
    if not value or not isinstance(value[0], str):
        return False
    return any(c.isalnum() for part in value if isinstance(part, str) for c in part)


def _sources_of(access: Access, value: Value) -> Iterator[tuple[str, str, str, bool]] | None:
    """(uri, pattern, kind, select_star) for each source one read names; None when it cannot be resolved."""
    if not _resolved_enough(value):
        return None
    if access.kind in ("sql", "table"):
        counter = iter(range(1_000_000))
        text = render(value, lambda _: f"{HOLE_PREFIX}{next(counter)}__")
        tables = sql_tables(text) if access.kind == "sql" else None
        if tables is not None:
            return ((t, t.lower(), "table", tables.select_star) for t in tables.reads)
        name = table_name(text) if access.family != "sql" else None
        return iter(((name, name.lower(), "table", False),)) if name else iter(())
    if access.kind in ("path", "url", "model") and not _authority_known(value):
        return None
    if access.kind == "hubmodel":
        name = literal_text(value)
        if name is None or not _HUB_ID.fullmatch(name):
            return None  # a local folder, a run-time choice, or a path: not a hub model by name
        return iter(((f"hf://models/{name}", f"hf://models/{name}", "hubmodel", False),))
    if access.kind == "library":
        return iter(((render(value), render(value), "library", False),))
    if access.kind == "dataset":
        return iter(((f"hf://datasets/{render(value)}", f"hf://datasets/{render(value, _hole_pattern)}",
                      "dataset", False),))
    uri, pattern = normalize(render(value)), normalize(render(value, _hole_pattern))
    last = pattern.rsplit("/", 1)[-1]
    if access.kind == "path" and "*" in last and not last.strip("*"):
        return None  # `<folder>/{name}`: which file is read is decided at run time, so nothing is named
    return iter(((uri, pattern, access.kind, False),))


def _authority_known(value: Value) -> bool:
    """For a URI, the host, bucket or model name (up to the first `/` after the scheme) is literal."""
    first = value[0]
    assert isinstance(first, str)
    scheme, sep, rest = first.partition(":/")
    if not sep or not scheme.isalpha():
        return True
    rest = rest.lstrip("/")
    return "/" in rest or (len(value) == 1 and bool(rest))


class _Judge:
    def __init__(self, snapshot: RepoSnapshot, config: Config) -> None:
        self.root = snapshot.root
        self.facts: Mapping[str, FileFacts] = {
            p: f for p, f in snapshot.facts_of(ANALYZER_NAME).items() if isinstance(f, FileFacts)}
        self.index = ModuleIndex(self.facts, caller=lambda p: not is_test_path(p) and not _skipped_file(p))
        self.declarations = load_declarations(snapshot, config)
        self.inventory = Inventory(problems=list(self.declarations.problems))
        self.sources: dict[str, Source] = {}
        self.writes: list[str] = []
        self.written_names: set[str] = set()  # file names the repository writes, wherever its paths point
        self.unpacked_here: set[str] = set()  # modules that download an archive and unpack it in the working dir
        self._ignored = self._gitignore()
        self.shipped = shipped_files((path, file.text) for path, file in snapshot.files.items())
        self._tails: set[str] | None = None

    def _gitignore(self) -> pathspec.PathSpec | None:
        try:
            text = (self.root / ".gitignore").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return pathspec.GitIgnoreSpec.from_lines(text.splitlines())

    def collect_writes(self) -> None:
        for path, facts in sorted(self.facts.items()):
            if is_test_path(path):
                continue
            for access in facts.writes:
                if access.family == "archive" and access.value == (".",) and _downloads(facts, self.index):
                    self.unpacked_here.add(path)
                for value in self.index.expand(access.value):
                    self.written_names.update(_file_name(value, access.kind))
                    for uri, pattern, _kind, _star in _sources_of(access, value) or ():
                        if pattern.lstrip("*/.") and uri:
                            self.writes.append(pattern)
            for access in facts.reads:  # INSERT INTO / CREATE TABLE AS in SQL reads write their target
                if access.kind != "sql":
                    continue
                for value in self.index.expand(access.value):
                    if _resolved_enough(value):
                        tables = sql_tables(render(value, lambda _: f"{HOLE_PREFIX}0__"))
                        self.writes.extend(t.lower() for t in (tables.writes if tables else ()))

    def collect_reads(self) -> None:
        for path, facts in sorted(self.facts.items()):
            if _skipped_file(path):
                continue
            if is_test_path(path):
                self.inventory.test_reads += len(facts.reads)
                continue
            for access in facts.reads:
                self._read(path, access)

    def _read(self, path: str, access: Access) -> None:
        site = Site(path, access.line, access.column, access.end_line, access.end_column, access.family)
        sources = [_sources_of(access, value) for value in self.index.expand(access.value)]
        if all(found is None for found in sources):
            self.inventory.unresolved.append(site)
            return
        for found in sources:
            self._add(path, access, site, found or iter(()))

    def _add(self, path: str, access: Access, site: Site, found: Iterator[tuple[str, str, str, bool]]) -> None:
        for uri, pattern, kind, star in found:
            if not_data(uri, kind, access.family):
                continue
            facts = self.facts.get(path)
            reason = unstable(access, facts is not None and facts.serving, uri, kind, star)
            source = self.sources.get(uri)
            if source is None:
                source = self.sources[uri] = Source(uri, pattern, kind)
            elif any(s.path == site.path and s.line == site.line and s.column == site.column for s in source.sites):
                continue  # two bindings of one parameter naming the same source
            source.sites.append(Site(site.path, site.line, site.column, site.end_line, site.end_column,
                                     site.family, reason))

    def judge(self, source: Source) -> None:
        source.sites.sort(key=lambda s: (s.path, s.line, s.column))
        declared = self.declarations.match(source.pattern)
        if declared is not None:
            source.declaration = declared
            source.status = "declared" if declared.has_owner else "placeholder"
        elif source.kind == "hubmodel" and self._local_model(source):
            source.status = "internal"
        elif source.kind == "library":
            # fetched and checked by the library at a version the dependency pins: listed, not reported
            source.status = "library"
        elif self._internal(source):
            source.status = "internal"
        elif source.kind == "path" and _is_fixture(source.pattern):
            source.status = "fixture"
        elif source.kind == "path" and self._checked_in(source, source.sites[0].path):
            source.status = "checked-in"

    def _internal(self, source: Source) -> bool:
        """Written by the repository, unpacked from its own download, or put beside the module by the container
        build that ships it."""
        if any(self._written(source.pattern, write) for write in self.writes) or self._same_file_written(source):
            return True
        if source.kind != "path":
            return False
        return self._unpacked_by_its_reader(source) or all(
            self.shipped.provides(site.path, source.uri) for site in source.sites)

    def _unpacked_by_its_reader(self, source: Source) -> bool:
        """A relative file read only by modules that download an archive and unpack it into the working directory
        (`extractall()`): it came out of that archive, whose download is reported where it is fetched."""
        if "://" in source.uri or source.uri.startswith(("/", "~", "../")):
            return False
        return all(site.path in self.unpacked_here for site in source.sites)

    def _local_model(self, source: Source) -> bool:
        """A name `from_pretrained` may read as a folder: one the repository holds or writes (`save_pretrained`,
        an output folder), beside the reader or at the root; or a hub id naming a model the repository saves."""
        name = source.uri.removeprefix("hf://models/")
        head = name.split("/", 1)[0]
        folders = {""} | {site.path.rsplit("/", 1)[0] for site in source.sites if "/" in site.path}
        for folder in folders:
            for candidate in {name, head}:
                if (self.root / folder / candidate).exists():
                    return True
        if any(write.lstrip("./").startswith((name, head + "/")) or write.lstrip("./") == head
               for write in self.writes):
            return True
        # `org/run-name` where the repository saves a model into `run-name` (and pushes it): its own model
        tail = name.rsplit("/", 1)[-1]
        return "/" in name and any(write.rstrip("/").rsplit("/", 1)[-1] == tail for write in self.writes)

    def _same_file_written(self, source: Source) -> bool:
        """A local file whose name the repository writes somewhere: the folder differs only by a configurable
        part (`data/<dataset>/meta.pkl` read, `data/shakespeare/meta.pkl` written), so it is the repository's
        own artifact, not upstream data."""
        if source.kind != "path" or "://" in source.uri:
            return False
        name = source.pattern.rsplit("/", 1)[-1]
        if "*" in name:
            return False
        return name in self.written_names or any(
            "*" in written and fnmatch.fnmatchcase(name, written) for written in self.written_names)

    @staticmethod
    def _written(read: str, write: str) -> bool:
        if read == write or read.startswith((write.rstrip("/") + "/", write + "@")):
            return True
        return covers(write, read)

    def _checked_in(self, source: Source, reader: str) -> bool:
        if "*" in source.pattern or "://" in source.uri or source.uri.startswith(("/", "~")):
            return False
        folder = reader.rsplit("/", 1)[0] if "/" in reader else ""
        for candidate in {source.uri, normalize(f"{folder}/{source.uri}") if folder else source.uri}:
            if candidate.startswith("../"):
                continue
            if self._ignored is not None and self._ignored.match_file(candidate):
                continue
            if (self.root / candidate).exists():
                return True
        return self._committed_elsewhere(source.uri)

    def _committed_elsewhere(self, uri: str) -> bool:
        """A relative path that names a committed file by its tail (`probs.csv` for `submissions/probs.csv`): the
        script is run from that file's folder, so it reads a file versioned with the code."""
        if uri.startswith("../") or not uri.strip("./"):
            return False
        if self._tails is None:
            self._tails = _file_tails(self.root, self._ignored)
        return uri.lower() in self._tails

    def run(self) -> Inventory:
        self.collect_writes()
        self.collect_reads()
        for source in self.sources.values():
            self.judge(source)
        self.inventory.sources = sorted(self.sources.values(), key=lambda s: (s.sites[0].path, s.sites[0].line,
                                                                              s.uri))
        return self.inventory


def _downloads(facts: FileFacts, index: ModuleIndex) -> bool:
    """The module fetches something from a literal http(s) URL, so that download is reported where it happens."""
    return any(access.family == "http" and any(
        isinstance(value[0], str) and value[0].startswith(("http://", "https://"))
        for value in index.expand(access.value) if value) for access in facts.reads)


def _file_name(value: Value, kind: str) -> set[str]:
    """The file name a written path ends with (`meta.pkl`, or `oob_*.p` when part of it is a field), even when
    its folder is a parameter; a name with no literal stem (`*.p`) says nothing and is left out."""
    last = value[-1] if value else None
    if kind != "path" or not isinstance(last, str) or "://" in last:
        return set()
    name = render(value, _hole_pattern).rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    literal = stem.replace("*", "").strip("_-. ")
    return {name} if dot and len(literal) >= 3 and suffix.isalnum() else set()


_MAX_TAILS = 200_000


def _file_tails(root: Path, ignored: pathspec.PathSpec | None) -> set[str]:
    """Every trailing part of every committed-looking file path (`a/b/c.csv` gives `c.csv` and `b/c.csv`),
    lower-cased; hidden folders and ignored files are left out, and the walk is capped."""
    tails: set[str] = set()
    count = 0
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d != "node_modules"]
        relative = os.path.relpath(folder, root)
        parts = [] if relative == "." else relative.replace(os.sep, "/").split("/")
        for name in names:
            path = "/".join([*parts, name])
            if ignored is not None and ignored.match_file(path):
                continue
            pieces = [*parts, name]
            tails.update("/".join(pieces[start:]).lower() for start in range(len(pieces)))
            count += 1
            if count > _MAX_TAILS:
                return tails
    return tails


def _is_fixture(pattern: str) -> bool:
    return bool(_TEST_DIRS & set(pattern.split("/")))


def build_inventory(snapshot: RepoSnapshot, config: Config) -> Inventory:
    """Judge every file's extracted reads and writes against the repository's declarations."""
    return _Judge(snapshot, config).run()


def inventory_of(root: Path, config: Config, *, jobs: int = 1, use_cache: bool = True) -> Inventory:
    """Snapshot ``root``, extract only this analyzer's facts (cached apart from full scans), and judge them."""
    snapshot = take_snapshot(root, config.exclude)
    version = hashlib.sha256(f"{ANALYZER_NAME}-only={VERSION}".encode()).hexdigest()[:16]
    cache = FactCache(default_cache_dir() if use_cache else None, version)
    sources = [(f.path, f.text) for f in snapshot.python_files()]
    extractors = [(ANALYZER_NAME, extract_accesses)]
    facts, problems, _ = extract_facts(sources, extractors, cache, max(1, jobs))
    problems = salvage_notebooks(snapshot, facts, problems, extractors, cache, max(1, jobs))
    snapshot.facts = facts
    inventory = build_inventory(snapshot, config)
    inventory.problems[:0] = [*snapshot.problems, *problems]
    # Findings are mapped to notebook cells by the runner; the inventory is shown directly, so map it here.
    inventory.unresolved = [_in_cell(site, snapshot) for site in inventory.unresolved]
    for source in inventory.sources:
        source.sites = [_in_cell(site, snapshot) for site in source.sites]
    return inventory


def _in_cell(site: Site, snapshot: RepoSnapshot) -> Site:
    file = snapshot.files.get(site.path)
    where = file.cell_position(site.line) if file is not None else None
    if where is None:
        return site
    cell, line = where
    return dataclasses.replace(site, cell=cell, line=line, end_line=line)


def _entry_name(source: Source, taken: set[str]) -> str:
    tail = source.pattern.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    stem = tail.split(".", 1)[0] if source.kind != "table" else source.uri.lower()
    base = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem).strip("-*.") or "input"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    taken.add(name)
    return name


def init_entries(inventory: Inventory, config: Config) -> list[dict[str, str]]:
    """`[[inputs]]` entries for the sources nothing declares; sources already in the configuration are skipped."""
    taken = {entry.name for entry in config.inputs}
    known = {entry.uri for entry in config.inputs}
    entries = []
    for source in inventory.sources:
        if source.status == "undeclared" and source.pattern not in known:
            known.add(source.pattern)
            entries.append({"name": _entry_name(source, taken), "uri": source.pattern})
    return entries
