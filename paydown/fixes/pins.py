"""Pin a dependency (PD201, PD202): to the version a lock or constraints file gives, else to the newest release
the current specifier allows on the package index; a line-exact edit that keeps comments, markers and order."""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from paydown.analyzers.finding import Finding

from ._index import IndexUnavailable, PackageIndex, lowest_python, newest_allowed
from ._locks import LockedVersions
from ._model import Leave, Workspace

_QUOTED = re.compile(r"""(["'])([^"'\n]+)\1""")
_TOKEN = re.compile(r"[^\s;&|]+")
_NAME = re.compile(r"\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*")


@dataclass(slots=True)
class PinContext:
    """What pinning needs across findings: the repository's locks, the index, and each folder's requires-python."""

    root: Path
    index: PackageIndex
    locks: LockedVersions | None = None
    _pythons: dict[str, Version | None] = field(default_factory=dict)

    def locked(self, manifest: str, name: str) -> tuple[str, str] | None:
        if self.locks is None:
            self.locks = LockedVersions(self.root)
        return self.locks.version(manifest, name)

    def python_floor(self, manifest: str) -> Version | None:
        """The oldest Python the nearest pyproject.toml (the manifest's folder, then up) admits."""
        folder = posixpath.dirname(manifest)
        if folder not in self._pythons:
            self._pythons[folder] = self._read_floor(folder)
        return self._pythons[folder]

    def _read_floor(self, folder: str) -> Version | None:
        while True:
            pyproject = self.root / folder / "pyproject.toml"
            wanted = _requires_python(pyproject) if pyproject.is_file() else None
            if wanted is not None:
                return lowest_python(wanted)
            if not folder:
                return None
            folder = posixpath.dirname(folder)


def _requires_python(pyproject: Path) -> str | None:
    """The project's `requires-python`, or Poetry's `python` dependency as a PEP 440 specifier."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    wanted = data.get("project", {}).get("requires-python")
    if isinstance(wanted, str):
        return wanted
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python")
    if isinstance(poetry, str):
        try:
            return str(_poetry_spec(poetry))
        except Leave:
            return None
    return None


def _is_requirements(path: str) -> bool:
    base = posixpath.basename(path)
    return (base.endswith((".txt", ".in")) and "requirements" in base) or base.startswith("constraints")


def _candidates(path: str, line: str) -> list[tuple[int, str]]:
    """(offset, text) of the spans of a line that may hold the requirement, most likely first."""
    if _is_requirements(path):
        body = re.split(r"\s#|^#", line, maxsplit=1)[0]
        return [(0, body.rstrip().rstrip("\\").rstrip())]
    spans = [(m.start(2), m.group(2)) for m in _QUOTED.finditer(line)]
    # a bare word is the whole requirement only when no specifier or table value follows it (`pandas >= 1.5` in
    # setup.cfg, `pandas = "^1.5"` in a Poetry table): those are left rather than half rewritten
    return spans + [(m.start(), m.group()) for m in _TOKEN.finditer(line) if not m.group().startswith("-")
                    and not line[m.end():].lstrip().startswith(tuple("<>=!~[(,:"))]


def _rewrite(text: str, name: str, version: str) -> tuple[str, SpecifierSet] | None:
    """``text`` with its version specifier replaced by ``==version``, and the old specifier; None if it is
    not a requirement on ``name`` or names a URL."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    if canonicalize_name(requirement.name) != name or requirement.url:
        return None
    head = _NAME.match(text)
    if head is None:
        return None
    marker = text.find(";", head.end())
    end = len(text) if marker < 0 else marker
    spec_end = head.end() + len(text[head.end():end].rstrip())
    space = "" if marker < 0 else text[spec_end:marker]
    return f"{text[:head.end()].rstrip()}=={version}{space}{text[end:]}", requirement.specifier


_TABLE_ENTRY = re.compile(r'^\s*["\']?([A-Za-z0-9][A-Za-z0-9._-]*)["\']?\s*=\s*(\{[^}]*?\bversion\s*=\s*)?"([^"]*)"')


def _poetry_spec(text: str) -> SpecifierSet:
    """A Poetry or Pipfile version constraint as a PEP 440 specifier (`^1.5` is `>=1.5,<2`, `~1.5` `>=1.5,<1.6`)."""
    text = text.strip()
    if text in ("", "*"):
        return SpecifierSet()
    if text[0] in "^~" and text[1:2] != "=":
        try:
            low = Version(text[1:])
        except InvalidVersion:
            raise Leave(f"cannot read the version constraint {text!r}") from None
        parts = [*low.release, 0, 0][:max(len(low.release), 2)]
        if text[0] == "^":
            first = next((n for n, part in enumerate(parts) if part), len(parts) - 1)
            high = [*parts[:first], parts[first] + 1]
        else:
            high = [parts[0], parts[1] + 1] if len(low.release) > 1 else [parts[0] + 1]
        return SpecifierSet(f">={low},<{'.'.join(map(str, high))}")
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise Leave(f"cannot read the version constraint {text!r}") from None


def _table_entry(path: str, line: str, name: str) -> tuple[int, str, SpecifierSet, str] | None:
    """A `name = "constraint"` (or `{version = ...}`) entry of a Poetry table or Pipfile: (offset, the string's
    text, its specifier, the form an exact pin takes there); None when the line is not one for ``name``."""
    if not path.endswith(("pyproject.toml", "Pipfile")):
        return None
    found = _TABLE_ENTRY.match(line)
    if found is None or canonicalize_name(found.group(1)) != name:
        return None
    exact = "=={}" if path.endswith("Pipfile") else "{}"
    return found.start(3), found.group(3), _poetry_spec(found.group(3)), exact


def _find(path: str, line: str, name: str) -> tuple[int, str, SpecifierSet]:
    for offset, text in _candidates(path, line):
        found = _rewrite(text, name, "0")
        if found is not None:
            return offset, text, found[1]
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) == name and requirement.url:
            raise Leave("it is installed from a URL or VCS reference, not an index; pin it to a full commit hash "
                        "by hand")
    raise Leave(f"cannot find the requirement on {name} on this line to rewrite")


def _version(ctx: PinContext, path: str, name: str, spec: SpecifierSet) -> tuple[str, str]:
    """(version, where it came from)."""
    locked = ctx.locked(path, name)
    if locked is not None:
        try:
            if spec.contains(Version(locked[0]), prereleases=True):
                return locked[0], f"the version {locked[1]} pins"
        except InvalidVersion:
            pass
    try:
        files = ctx.index.files(name)
    except IndexUnavailable as err:
        raise Leave(f"no version to pin to: {err}; no lock or constraints file pins it, and paydown does not "
                    "guess") from None
    python = ctx.python_floor(path)
    newest = newest_allowed(files, spec, python)
    if newest is None:
        allowed = f" for Python {python}" if python else ""
        raise Leave(f"{ctx.index.url} has no release satisfying {str(spec) or 'any version'}{allowed} that is "
                    "not yanked")
    return str(newest), f"the newest release satisfying {str(spec) or 'any version'} on {ctx.index.url}"


_JSON_LINE = re.compile(r'^(\s*)("(?:[^"\\]|\\.)*")(\s*,?\s*)$')


def _pin_in_notebook(line: str, name: str, version: str) -> str:
    """A notebook's source line (a JSON string on a line of the .ipynb file) with the requirement pinned."""
    found = _JSON_LINE.match(line)
    if found is None:
        raise Leave("the install line is not one JSON string on its own line of the notebook; pin it by hand")
    source = json.loads(found.group(2))
    offset, text, _ = _find("script", source, name)
    rewritten = _rewrite(text, name, version)
    assert rewritten is not None
    source = source[:offset] + rewritten[0] + source[offset + len(text):]
    return f"{found.group(1)}{json.dumps(source, ensure_ascii=False)}{found.group(3)}"


def _requirement_in_notebook(line: str, name: str) -> SpecifierSet:
    found = _JSON_LINE.match(line)
    if found is None:
        raise Leave("the install line is not one JSON string on its own line of the notebook; pin it by hand")
    return _find("script", json.loads(found.group(2)), name)[2]


def _in_conda_pip_list(lines: list[str], number: int) -> bool:
    """Whether line ``number`` of a conda environment file is in its `- pip:` list (PyPI), not a conda package."""
    indent = len(lines[number - 1]) - len(lines[number - 1].lstrip())
    for line in reversed(lines[:number - 1]):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and len(line) - len(line.lstrip()) < indent:
            return stripped.replace(" ", "") == "-pip:"
    return False


def pin_dependency(ws: Workspace, ctx: PinContext, finding: Finding) -> str:
    path, number = finding.location.path, finding.location.line
    notebook = path.endswith(".ipynb")
    if notebook:
        if not finding.location.file_line:
            raise Leave("paydown cannot tell which line of the notebook file holds it; pin it by hand")
        number = finding.location.file_line
    number = ws.line_now(path, number)
    lines = ws.read(path).splitlines(keepends=True)
    if not 0 < number <= len(lines):
        raise Leave(f"line {number} is no longer in {path}")
    line = lines[number - 1]
    conda = path.endswith((".yml", ".yaml")) and not path.startswith(".github/")
    if conda and not _in_conda_pip_list(lines, number):
        raise Leave("a conda package is pinned from its conda channel, which paydown does not read; pin it by hand "
                    "or add a conda-lock file")
    if "--hash" in line or (line.rstrip().endswith("\\") and _is_requirements(path)):
        raise Leave("the requirement carries hashes; pinning it needs the new version's hashes (use pip-compile)")
    name = canonicalize_name(finding.symbol)
    if notebook:
        version, source = _version(ctx, path, name, _requirement_in_notebook(line, name))
        lines[number - 1] = _pin_in_notebook(line, name, version)
        ws.update(path, "".join(lines))
        return f"pinned {finding.symbol} to =={version} ({source})"
    table = _table_entry(path, line, name)
    if table is not None:
        offset, text, spec, exact = table
        version, source = _version(ctx, path, name, spec)
        lines[number - 1] = line[:offset] + exact.format(version) + line[offset + len(text):]
        ws.update(path, "".join(lines))
        return f"pinned {finding.symbol} to {exact.format(version)} ({source})"
    offset, text, spec = _find(path, line, name)
    version, source = _version(ctx, path, name, spec)
    rewritten = _rewrite(text, name, version)
    assert rewritten is not None  # _find read it as a requirement on name
    lines[number - 1] = line[:offset] + rewritten[0] + line[offset + len(text):]
    ws.update(path, "".join(lines))
    return f"pinned {finding.symbol} to =={version} ({source})"
